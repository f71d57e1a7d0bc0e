"""Site ownership on real PostgreSQL advisory locks (SPEC §11): three instances, no broker.

Each `AutoSites` here is one instance's ownership (its own dedicated connection); take/drop
record what a real instance would start and stop. Checks are driven by hand (`check()`), so
no test waits for the background recheck.
"""

from __future__ import annotations

import time

import pytest

from api.settings import Settings
from api.settings_check import SettingsError, check_serve_settings
from api.site_owner import AutoSites, FixedSites
from rules.db.site_locks import SiteLocks, lock_key
from tests.databases import MigratedDatabases

SITES = [f"s{i}" for i in range(7)]


class Instance:
    """One instance's ownership and the sites it serves (as its take/drop saw them)."""

    def __init__(self, url: str, group: str = "grp") -> None:
        self.serving: set[str] = set()
        self.events: list[tuple[str, str]] = []
        self.owner = AutoSites(SiteLocks(url, group), lambda: SITES, self._take, self._drop)

    def _take(self, site: str) -> None:
        assert site not in self.serving
        self.serving.add(site)
        self.events.append(("take", site))

    def _drop(self, site: str) -> None:
        self.serving.discard(site)
        self.events.append(("drop", site))

    def check(self) -> None:
        self.owner.check()
        assert self.serving == set(self.owner.owned())


def _settle(instances: list[Instance], rounds: int = 3) -> None:
    for _ in range(rounds):
        for i in instances:
            i.check()


def _disjoint_cover(instances: list[Instance]) -> None:
    owned = [i.serving for i in instances]
    assert set().union(*owned) == set(SITES)
    assert sum(len(o) for o in owned) == len(SITES), owned  # no site served twice


@pytest.mark.slow
def test_three_instances_divide_take_over_and_rebalance(pg_databases: MigratedDatabases) -> None:
    url = pg_databases.new_url()
    a, b, c = Instance(url), Instance(url), Instance(url)
    try:
        a.check()
        assert a.serving == set(SITES)  # alone: everything
        b.check()  # b sees 2 live instances, but every lock is a's
        assert b.serving == set()
        _settle([a, b, c])
        _disjoint_cover([a, b, c])
        assert sorted(len(i.serving) for i in (a, b, c)) == [2, 2, 3]  # ceil(7 / 3) at most

        # kill -9 of c: its connection closes, the server frees its locks.
        lost = set(c.serving)
        c.owner._locks.close()
        _settle([a, b])
        _disjoint_cover([a, b])
        assert lost <= a.serving | b.serving
        assert max(len(a.serving), len(b.serving)) == 4  # ceil(7 / 2)

        # c comes back (a new connection): the others hand their surplus over.
        c2 = Instance(url)
        _settle([c2, a, b, c2])
        _disjoint_cover([a, b, c2])
        assert sorted(len(i.serving) for i in (a, b, c2)) == [2, 2, 3]
        # A handover stops serving before the lock goes: every drop precedes the next take.
        assert ("drop", next(iter(c2.serving))) in a.events + b.events

        # graceful stop: everything handed over at the next check of the others.
        c2.owner.stop()
        assert c2.serving == set()
        _settle([a, b])
        _disjoint_cover([a, b])
    finally:
        for i in (a, b):
            i.owner.stop()


@pytest.mark.slow
def test_a_lost_ownership_connection_drops_every_site(pg_databases: MigratedDatabases) -> None:
    url = pg_databases.new_url()
    a = Instance(url)
    try:
        a.check()
        assert a.serving == set(SITES)
        # The connection dies under it (PostgreSQL restarted, network cut): its locks are gone,
        # so it must stop serving at once, then take a share again on a new connection.
        assert a.owner._locks._conn is not None
        a.owner._locks._conn.invalidate()
        a.owner.check()
        assert a.serving == set() and ("drop", "s0") in a.events
        a.check()
        assert a.serving == set(SITES)
    finally:
        a.owner.stop()


@pytest.mark.slow
def test_a_release_wakes_the_peers_at_once(pg_databases: MigratedDatabases) -> None:
    url = pg_databases.new_url()
    a, b = Instance(url), Instance(url)
    try:
        a.check()
        b.check()  # every lock is a's: nothing to take, nothing heard yet
        assert b.serving == set()
        assert not b.owner._locks.wait_release(0.2)
        a.check()  # a sees two instances: hands its surplus over, with a notice
        assert len(a.serving) == 4
        t0 = time.monotonic()
        assert b.owner._locks.wait_release(5)
        assert time.monotonic() - t0 < 1
        b.check()
        _disjoint_cover([a, b])
    finally:
        a.owner.stop()
        b.owner.stop()


@pytest.mark.slow
def test_an_instance_below_its_share_wakes_the_peers(pg_databases: MigratedDatabases) -> None:
    url = pg_databases.new_url()
    a, b = Instance(url), Instance(url)
    try:
        a.check()  # alone: everything
        b.check()  # nothing free: it asks the others to hand their surplus over now
        assert a.owner._locks.wait_release(5)
        assert not b.owner._locks.wait_release(0.3)  # its own notice is not news to it
        a.check()
        b.check()
        _disjoint_cover([a, b])
        assert sorted(len(i.serving) for i in (a, b)) == [3, 4]
    finally:
        a.owner.stop()
        b.owner.stop()


def test_groups_and_sites_get_distinct_keys() -> None:
    keys = {lock_key(g, s) for g in ("a", "b") for s in SITES}
    assert len(keys) == 2 * len(SITES)
    assert all(-(2**63) <= k < 2**63 for k in keys)


def test_fixed_sites_serve_the_list() -> None:
    seen: list[str] = []
    fixed = FixedSites(["b", "a"], seen.append, lambda s: seen.remove(s))
    fixed.start()
    assert seen == ["a", "b"] and fixed.owned() == {"a", "b"}
    fixed.stop()
    assert seen == []


def test_sites_setting_is_a_list_or_auto(tmp_path: object) -> None:
    assert Settings(sites=" a , b,a ").site_list() == ["a", "b"]
    assert Settings(sites="auto").sites == "auto" and Settings(sites="auto").site_list() is None
    assert Settings().sites is None and Settings().site_list() is None
    with pytest.raises(ValueError, match="site ids"):
        Settings(sites="a,b c")
    with pytest.raises(SettingsError, match="SITEWATCH_SITES.*PostgreSQL"):
        check_serve_settings(Settings(sites="auto", database_url="sqlite:///x.db"))
    check_serve_settings(Settings(sites="auto", database_url="postgresql+psycopg://u@h/d"))

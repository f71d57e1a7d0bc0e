"""The rules worker commits rule state with its signals (outbox) and applies each exactly once.

Faults are injected at the edge: the real PostgreSQL refuses connections
(`ALLOW_CONNECTIONS false` and its sessions terminated), as a server outage looks to a client.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from devices.liveness import DeviceLiveness
from devices.reading import Reading
from devices.registry import load_registry
from rules.db import database
from rules.db.database import open_database
from rules.db.outbox import KeyedSignal, SqlSignalOutbox
from rules.db.schema import signal_outbox
from rules.engine.evaluator import Evaluator
from rules.engine.loader import load_rules
from rules.engine.state import RuleState, StateUnavailable
from rules.engine.worker import RulesWorker, reading_key
from rules.incidents.service import IncidentService

T0 = 1_800_000_000.0
PACK = load_rules(None)
REGISTRY = load_registry(None)


class Outage:
    """Makes one PostgreSQL database refuse connections and drops the open ones."""

    def __init__(self, url: str) -> None:
        u = sa.make_url(url)
        self.db = u.database
        self.admin = f"host={u.host} port={u.port} user={u.username} dbname=postgres"

    def _run(self, sql: str) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(sql)

    def begin(self) -> None:
        """From now on the database refuses connections; the open ones are cut."""
        self._run(f'ALTER DATABASE "{self.db}" ALLOW_CONNECTIONS false')
        self._run(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                  f"'{self.db}'")

    def end(self) -> None:
        """Connections are accepted again."""
        self._run(f'ALTER DATABASE "{self.db}" ALLOW_CONNECTIONS true')


class Stack:
    """A worker over a real database, rebuilt by `restart()` as `sitewatch serve` builds it."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.now = T0
        self.restart()

    def restart(self) -> None:
        """New evaluator, worker and incident service from what the database holds."""
        self.outbox = SqlSignalOutbox(self.engine, clock=lambda: self.now)
        self.evaluator = Evaluator(PACK, self.outbox.states, batched=True)
        self.incidents = IncidentService(self.engine, PACK, clock=lambda: self.now)
        self.worker = RulesWorker(
            self.evaluator, self.incidents, DeviceLiveness(REGISTRY, T0), self.outbox,
            clock=lambda: self.now,
        )

    def open_incidents(self) -> dict[tuple[str | None, str | None], int]:
        """(rule, device) -> occurrences of every incident."""
        items, _ = self.incidents.list(limit=500)
        return {(i.rule_id, i.device_id): i.occurrences for i in items}


@pytest.fixture
def stack(pg_migrated_url: str) -> Iterator[Stack]:
    engine = open_database(pg_migrated_url)
    try:
        yield Stack(engine)
    finally:
        engine.dispose()


def event(device: str, kind: str, name: str, at: float, zone: str = "reception") -> Reading:
    return Reading("hq", device, "event", at, at, seq=int(at - T0), kind=kind, zone=zone,
                   event=name)


def smoke(device: str, at: float, pct: float) -> Reading:
    return Reading("hq", device, "telemetry", at, at, seq=int(at - T0), kind="smoke_detector",
                   zone="reception", metrics={"smoke_obscuration_pct_per_m": pct})


ALARMS = [
    smoke("sd-01", T0 + 1, 6.0), smoke("sd-02", T0 + 1, 6.0), smoke("sd-03", T0 + 1, 6.0),
    event("fp-01", "fire_panel", "fire_alarm", T0 + 2, zone="plant"),
    event("door-01", "door", "door_forced_open", T0 + 3),
]
EXPECTED = {("smoke_obscuration", f"sd-0{i}") for i in (1, 2, 3)} | {
    ("fire_alarm", "fp-01"), ("door_forced", "door-01")}


def test_a_batch_the_database_refused_is_evaluated_again_and_opens_every_incident_once(
    stack: Stack, pg_migrated_url: str
) -> None:
    outage = Outage(pg_migrated_url)
    outage.begin()
    try:
        with pytest.raises(StateUnavailable):
            stack.worker.handle(ALARMS)
        health = stack.worker.health()
        assert health["ok"] is False and health["incidents_delayed"] is True
        with pytest.raises(StateUnavailable):  # the retry while still down: reload refused
            stack.worker.handle(ALARMS)
    finally:
        outage.end()
    stack.now += 5
    stack.worker.handle(ALARMS)  # the log consumer retries the same batch
    assert stack.open_incidents() == dict.fromkeys(EXPECTED, 1)
    assert stack.worker.health()["ok"] is True and stack.worker.deferred >= 2

    # A crash after the commit but before the log cursor moved: the batch comes back once more.
    stack.restart()
    stack.worker.handle(ALARMS)
    assert stack.open_incidents() == dict.fromkeys(EXPECTED, 1)
    with stack.engine.connect() as conn:
        rows = conn.execute(sa.select(signal_outbox.c.applied_at)).all()
    assert len(rows) == 5 and all(r.applied_at is not None for r in rows)


def test_signals_committed_before_an_outage_are_applied_once_it_is_back(
    stack: Stack, pg_migrated_url: str
) -> None:
    door = [event("door-02", "door", "door_forced_open", T0 + 1)]
    stack.outbox.commit({}, [])  # nothing to write: no transaction, no error
    keyed = []
    for sig in stack.evaluator.evaluate(door[0], T0 + 1):
        keyed.append(KeyedSignal(reading_key(sig, door[0]), "life_safety", sig))
    stack.outbox.commit(stack.evaluator.take_changes(), keyed)  # committed, then the crash
    stack.restart()
    outage = Outage(pg_migrated_url)
    outage.begin()
    try:
        stack.worker.tick()  # cannot reach the database: nothing applied, nothing lost
        assert stack.worker.health()["incidents_delayed"] is True
    finally:
        outage.end()
    stack.worker.tick()
    assert stack.open_incidents() == {("door_forced", "door-02"): 1}
    assert stack.worker.health()["pending_signals"] == 0


def test_an_access_denied_window_spans_a_restart(stack: Stack) -> None:
    stack.worker.handle([event("door-01", "door", "access_denied", T0 + i) for i in range(4)])
    assert stack.open_incidents() == {}
    stack.restart()
    stack.worker.handle([event("door-01", "door", "access_denied", T0 + 10)])
    assert stack.open_incidents() == {("access_denied_burst", "door-01"): 1}


def test_one_unregistered_id_at_two_sites_is_two_devices_with_an_incident_each(
    stack: Stack,
) -> None:
    def alarm(site: str, at: float) -> Reading:
        return Reading(site, "up-1", "event", at, at, seq=int(at - T0), event="fire_alarm")

    stack.worker.handle([alarm("north", T0 + 1), alarm("south", T0 + 2)])
    stack.worker.handle([alarm("north", T0 + 3)])
    items, _ = stack.incidents.list(limit=10)
    by_site = {i.site: (i.device_id, i.occurrences) for i in items}
    assert by_site == {"north": ("up-1", 2), "south": ("up-1", 1)}


def test_a_rate_window_spans_a_clean_restart(stack: Stack) -> None:
    def heat(at: float, celsius: float) -> Reading:
        return Reading("hq", "hd-01", "telemetry", at, at, seq=int(at - T0),
                       kind="heat_detector", zone="kitchen", metrics={"temperature_c": celsius})

    stack.worker.handle([heat(T0, 20.0), heat(T0 + 30, 22.0)])
    stack.worker.flush()  # what `sitewatch serve` does at stop
    stack.restart()
    stack.worker.handle([heat(T0 + 70, 31.0)])  # +11 degC over 70 s from the first sample
    assert stack.open_incidents() == {("heat_rise", "hd-01"): 1}


def test_applied_signals_are_deleted_from_the_outbox_after_a_day(stack: Stack) -> None:
    def forced_rows() -> int:
        with stack.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(
                signal_outbox.c.rule_id == "door_forced")).scalar_one())

    stack.worker.handle([event("door-02", "door", "door_forced_open", T0 + 1)])
    stack.worker.tick()
    assert forced_rows() == 1  # applied a moment ago: kept
    stack.now += 86_400 + 700
    stack.worker.tick()
    assert forced_rows() == 0
    assert stack.open_incidents() == {("door_forced", "door-02"): 1}


def test_the_longest_unregistered_id_at_the_longest_site_fits_every_key(stack: Stack) -> None:
    site, device = "s" * 64, "d" * 64  # SPEC §2's longest names
    stack.worker.handle([Reading(site, device, "event", T0, T0, seq=1, event="fire_alarm")])
    assert stack.open_incidents() == {("unregistered_fire_alarm", device): 1}
    key = ("unregistered_fire_alarm", f"{device}@{site}")  # a state key of such a device
    stack.outbox.commit({key: RuleState(phase="firing", since=T0, site=site)}, [])
    assert stack.outbox.states.load_all()[key].phase == "firing"


def test_a_turn_held_up_past_the_delay_bound_makes_health_say_incidents_are_delayed(
    stack: Stack,
) -> None:
    """A locked table makes a commit wait, not fail (PostgreSQL has no lock timeout by
    default): health must tell from the turn's age alone (found by
    tests/e2e/test_faults_locked_e2e.py)."""
    inside, release = threading.Event(), threading.Event()

    def held(_: Reading) -> None:  # runs inside the turn, as a commit blocked on a lock would
        inside.set()
        release.wait(10)

    worker = RulesWorker(stack.evaluator, stack.incidents, DeviceLiveness(REGISTRY, T0),
                         stack.outbox, observers=[held], clock=lambda: stack.now)
    thread = threading.Thread(target=worker.handle, args=(ALARMS[:1],))
    thread.start()
    try:
        assert inside.wait(10)
        assert worker.health()["ok"] is True  # just started: nothing to report yet
        stack.now += 6  # past DELAY_WARN_S (5 s), still inside the turn
        health = worker.health()
        assert health["ok"] is False and health["incidents_delayed"] is True
        assert health["turn_running_s"] == 6
    finally:
        release.set()
        thread.join(10)
    assert worker.health()["turn_running_s"] == 0


def test_under_a_write_lock_a_tick_with_nothing_to_write_does_not_say_the_database_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite locked by another writer: reads work, so a tick (nothing to write) succeeds
    between two retries of the refused batch; health kept flapping back to ok (found by
    tests/e2e/test_faults_locked_e2e.py)."""
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 100)  # fail fast under the lock
    engine = open_database(f"sqlite:///{tmp_path / 'rules.db'}")
    try:
        stack = Stack(engine)
        stack.worker.tick()  # the first tick prunes the outbox (a write); the next not for 10 min
        lock = sqlite3.connect(tmp_path / "rules.db", isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StateUnavailable):
            stack.worker.handle(ALARMS)
        stack.now += 1
        stack.worker.tick()  # reads and writes nothing: works under the lock
        health = stack.worker.health()
        assert health["ok"] is False and health["incidents_delayed"] is True, health
        lock.execute("ROLLBACK")
        lock.close()
        stack.worker.handle(ALARMS)  # the consumer's retry
        assert stack.worker.health()["ok"] is True
        assert stack.open_incidents() == dict.fromkeys(EXPECTED, 1)
    finally:
        engine.dispose()

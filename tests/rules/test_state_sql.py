"""SqlStateStore keeps rule evaluation state across restarts on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.db.database import open_database
from rules.db.rule_state import SqlStateStore
from rules.engine.state import RuleState
from tests.databases import DATABASES, migrated_sqlite


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQLite file or a fresh real PostgreSQL database, both at the newest revision."""
    if request.param == "sqlite":
        migrated_sqlite(tmp_path / "var" / "sitewatch.db").dispose()  # a copy of the template
        return f"sqlite:///{tmp_path / 'var' / 'sitewatch.db'}"
    return str(request.getfixturevalue("pg_migrated_url"))


def test_saved_states_come_back_after_a_restart(db_url: str) -> None:
    pending = RuleState(
        phase="pending",
        since=1_795_773_600.25,
        memo={"samples": [[1.0, 22.5], [2.0, 23.0]], "last": True, "name": "ahu"},
        site="hq",
        zone="z1",
        device_kind="zone_sensor",
    )
    firing = RuleState(phase="firing", since=1_795_773_000.0, site="hq")
    engine = open_database(db_url)
    store = SqlStateStore(engine)
    store.save(("zone-hot", "zs-1"), pending)
    store.save(("door-held", "door-1"), firing)
    engine.dispose()

    engine = open_database(db_url)
    try:
        assert SqlStateStore(engine).load_all() == {
            ("zone-hot", "zs-1"): pending,
            ("door-held", "door-1"): firing,
        }
    finally:
        engine.dispose()


def test_saving_again_replaces_the_state_and_delete_forgets_it(db_url: str) -> None:
    engine = open_database(db_url)
    store = SqlStateStore(engine)
    try:
        store.save(("zone-hot", "zs-1"), RuleState(phase="pending", since=10.0, memo={"n": 1}))
        clearing = RuleState(phase="clearing", since=20.0, memo={"n": 2}, site="hq")
        store.save(("zone-hot", "zs-1"), clearing)
        store.save(("zone-hot", "zs-2"), RuleState(phase="firing", since=5.0))
        assert store.load_all()[("zone-hot", "zs-1")] == clearing
        store.delete(("zone-hot", "zs-1"))
        store.delete(("zone-hot", "never-saved"))  # forgetting nothing is fine
        assert list(store.load_all()) == [("zone-hot", "zs-2")]
    finally:
        engine.dispose()

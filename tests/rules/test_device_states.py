"""DeviceStateStore keeps device liveness across restarts on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from api.jobs import Jobs, device_states_job
from devices.liveness import DeviceLiveness
from devices.reading import Reading
from devices.registry import parse_registry
from devices.snapshot import DeviceSnapshot
from rules.db.database import open_database
from rules.db.device_states import DeviceStateSaver, DeviceStateStore
from tests.databases import DATABASES, migrated_sqlite

T0 = 1_795_773_600.125  # Unix seconds, with a fraction that must survive the round trip
REGISTRY = parse_registry(
    "devices:\n  - {id: sd-1, kind: smoke_detector, site: hq, zone: hall, interval_s: 10}\n"
)


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQLite file or a fresh real PostgreSQL database, both at the newest revision."""
    if request.param == "sqlite":
        migrated_sqlite(tmp_path / "var" / "sitewatch.db").dispose()  # a copy of the template
        return f"sqlite:///{tmp_path / 'var' / 'sitewatch.db'}"
    return str(request.getfixturevalue("pg_migrated_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """The database at the newest revision."""
    eng = open_database(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


def reading(device_id: str, at: float, **metrics: float | bool | str) -> Reading:
    return Reading("hq", device_id, "telemetry", at, at, kind="smoke_detector", zone="hall",
                   metrics=metrics)


SMOKE = DeviceSnapshot(
    "sd-1", "hq", "hall", "smoke_detector", True, T0 + 9.5, T0, None,
    {"battery_pct": (T0 + 9.5, 88.0), "smoke_alarm": (T0 + 9.0, False), "mode": (T0, "test")},
)
GHOST = DeviceSnapshot("ghost-7", "annex", None, None, False, T0 + 3, T0 + 3, T0 + 4)


def test_saved_device_states_come_back_after_a_restart(db_url: str, engine: sa.Engine) -> None:
    assert DeviceStateStore(engine, clock=lambda: T0 + 10).save([SMOKE, GHOST]) == 2
    engine.dispose()

    again = open_database(db_url)
    try:
        assert DeviceStateStore(again).load() == [GHOST, SMOKE]  # ordered by device id
        with again.connect() as conn:
            updated = conn.execute(sa.text("SELECT updated_at FROM device_states")).scalars()
            assert set(updated) == {T0 + 10}
    finally:
        again.dispose()


def test_saving_a_device_again_replaces_its_row(engine: sa.Engine) -> None:
    store = DeviceStateStore(engine)
    store.save([SMOKE, GHOST])
    later = DeviceSnapshot("sd-1", "hq", "lobby", "smoke_detector", True, T0 + 20, T0, T0 + 21,
                           {"battery_pct": (T0 + 20, 87.5)})
    assert store.save([later]) == 1
    assert store.load() == [GHOST, later]
    assert store.save([]) == 0


def test_the_saver_writes_only_what_changed_since_its_last_save(engine: sa.Engine) -> None:
    live = DeviceLiveness(REGISTRY, started_at=T0)
    saver = DeviceStateSaver(live, DeviceStateStore(engine))
    live.observe(reading("sd-1", T0 + 1, battery_pct=90.0))
    live.observe(reading("ghost-7", T0 + 2, temperature_c=30.0))
    assert saver.save_changed() == 2
    assert saver.save_changed() == 0
    live.observe(reading("sd-1", T0 + 3, battery_pct=89.0))
    assert saver.save_changed() == 1
    restored = DeviceLiveness(REGISTRY, started_at=T0 + 60)
    restored.restore(DeviceStateStore(engine).load())
    state = restored.state("sd-1", T0 + 60)
    assert state is not None
    assert (state.last_seen, state.latest) == (T0 + 3, {"battery_pct": (T0 + 3, 89.0)})


def test_a_failed_save_is_retried_by_the_next_scheduled_one(engine: sa.Engine) -> None:
    live = DeviceLiveness(REGISTRY, started_at=T0)
    saver = DeviceStateSaver(live, DeviceStateStore(engine))
    job = device_states_job(saver)
    jobs = Jobs([job], clock=lambda: T0)
    assert (job.name, job.every_s) == ("device-states", 5.0)
    live.observe(reading("sd-1", T0 + 1, battery_pct=90.0))
    with engine.begin() as conn:  # the table is gone for a moment: the save must fail
        conn.execute(sa.text("ALTER TABLE device_states RENAME TO device_states_away"))
    assert jobs.run_once(job) is False
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE device_states_away RENAME TO device_states"))
    assert jobs.run_once(job) is True
    assert [s.device_id for s in DeviceStateStore(engine).load()] == ["sd-1"]


def test_the_periodic_save_writes_last_seen_news_once_a_minute_and_state_changes_at_once(
    engine: sa.Engine,
) -> None:
    live = DeviceLiveness(REGISTRY, started_at=T0)
    store = DeviceStateStore(engine)
    saver = DeviceStateSaver(live, store)
    live.observe(reading("sd-1", T0 + 1, battery_pct=90.0))
    assert saver.save_changed(throttle_s=60) == 1  # first sight: saved
    live.observe(reading("sd-1", T0 + 30, battery_pct=89.0))
    assert saver.save_changed(throttle_s=60) == 0  # only a later last seen: not yet
    live.observe(reading("sd-1", T0 + 62, battery_pct=88.0))
    assert saver.save_changed(throttle_s=60) == 1  # a minute on: saved
    live.observe(Reading("hq", "sd-1", "status", T0 + 63, T0 + 63, kind="smoke_detector",
                         zone="lobby", status="offline"))
    assert saver.save_changed(throttle_s=60) == 1  # a change of state: saved at once
    live.observe(reading("sd-1", T0 + 70, battery_pct=87.0))
    assert saver.save_all(sites={"annex"}) == 0  # another instance's sites: not ours to save
    assert saver.save_all() >= 1  # at stop: everything, exactly
    saved = {s.device_id: s for s in store.load()}["sd-1"]
    assert (saved.last_seen, saved.latest["battery_pct"]) == (T0 + 70, (T0 + 70, 87.0))

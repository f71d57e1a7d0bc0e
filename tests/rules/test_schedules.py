"""Preventive maintenance: calendar and meter schedules, idempotent slots, one catch-up
ticket after downtime, recovery of a claimed slot, all on a controlled clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from devices.reading import Reading
from devices.registry import Device, Registry, load_registry
from rules.db.database import open_database
from rules.engine.loader import parse_rules
from rules.incidents.service import IncidentService
from rules.maintenance.config import ScheduleConfigError, load_schedules, parse_schedules
from rules.maintenance.schedules import PreventiveMaintenance, latest_slot, runs, targets
from tests.databases import DATABASES, migrated_sqlite

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC).timestamp()
DEC_1_0800 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC).timestamp()
SCHEDULES = """
schedules:
  - id: monthly-inspection
    title: Monthly fire extinguisher and call point inspection
    cron: "0 8 1 * *"
    per: site
  - id: ahu-service
    title: Air handler service
    meter: {metric: runtime_hours, every: 2000}
    device_kinds: [air_handler]
    priority: P2
"""


def registry() -> Registry:
    return Registry.from_devices([
        Device(id="ahu-1", kind="air_handler", site="hq", zone="plant", name="AHU 1"),
        Device(id="ahu-2", kind="air_handler", site="hq", zone="plant", name="AHU 2"),
        Device(id="mcp-1", kind="manual_call_point", site="annex", zone="lobby"),
    ])


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(params=DATABASES)
def engine(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """A migrated database: SQLite file or a fresh PostgreSQL database."""
    eng = (migrated_sqlite(tmp_path / "sw.db") if request.param == "sqlite"
           else open_database(request.getfixturevalue("pg_migrated_url")))
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def service(engine: sa.Engine, clock: Clock) -> IncidentService:
    return IncidentService(engine, parse_rules("[]"), clock=clock)


def maintenance(engine: sa.Engine, service: IncidentService, clock: Clock) -> PreventiveMaintenance:
    """A fresh runner, as after a (re)start."""
    return PreventiveMaintenance(engine, service, parse_schedules(SCHEDULES), registry(), clock)


def runtime(device: str, hours: float, ts: float = T0) -> Reading:
    return Reading("hq", device, "telemetry", ts, ts, kind="air_handler", zone="plant",
                   metrics={"runtime_hours": hours})


def test_a_calendar_schedule_opens_one_ticket_per_site_at_its_slot_and_never_twice(
    engine: sa.Engine, service: IncidentService, clock: Clock
) -> None:
    pm = maintenance(engine, service, clock)
    assert pm.run_due(T0) == []  # first sight: the baseline, nothing is known to be missed
    assert pm.run_due(DEC_1_0800 - 1) == []
    opened = pm.run_due(DEC_1_0800)
    assert sorted(t.site or "" for t in opened) == ["annex", "hq"]
    ticket = opened[0]
    assert ticket.kind == "ticket" and ticket.priority == "P3"
    assert ticket.department == "maintenance"
    assert ticket.title.startswith("Monthly fire extinguisher and call point inspection")
    timeline = service.timeline(ticket.id)
    assert timeline[0].actor == "schedule:monthly-inspection"
    assert pm.run_due(DEC_1_0800 + 3600) == []
    assert maintenance(engine, service, clock).run_due(DEC_1_0800 + 7200) == []


def test_downtime_over_several_slots_opens_one_ticket_per_target_on_return(
    engine: sa.Engine, service: IncidentService, clock: Clock
) -> None:
    maintenance(engine, service, clock).run_due(T0)
    back = datetime(2027, 3, 2, 9, 0, tzinfo=UTC).timestamp()  # missed Dec, Jan, Feb, Mar
    clock.t = back
    opened = maintenance(engine, service, clock).run_due()
    assert len(opened) == 2  # one per site, not four per site
    assert "2027-03-01T08:00:00+00:00" in opened[0].description
    assert maintenance(engine, service, clock).run_due(back + 60) == []
    next_slot = datetime(2027, 4, 1, 8, 0, tzinfo=UTC).timestamp()
    assert len(maintenance(engine, service, clock).run_due(next_slot)) == 2


def test_a_meter_schedule_opens_a_ticket_when_runtime_crosses_each_multiple(
    engine: sa.Engine, service: IncidentService, clock: Clock
) -> None:
    pm = maintenance(engine, service, clock)
    pm.observe(runtime("ahu-1", 1990.0))  # the hook: takes the baseline
    assert pm.meter_tickets(runtime("ahu-1", 1999.9)) == []
    (ticket,) = pm.meter_tickets(runtime("ahu-1", 2000.2))
    assert ticket.device_id == "ahu-1" and ticket.priority == "P2"
    assert "runtime_hours reached 2000" in ticket.description
    assert pm.meter_tickets(runtime("ahu-1", 2005.0)) == []
    assert pm.meter_tickets(runtime("ahu-2", 2005.0)) == []  # ahu-2's baseline is its own
    restarted = maintenance(engine, service, clock)
    assert restarted.meter_tickets(runtime("ahu-1", 2010.0)) == []
    (late,) = restarted.meter_tickets(runtime("ahu-1", 6100.0))  # 4000 and 6000 crossed while away
    assert "reached 6000" in late.description
    assert restarted.meter_tickets(runtime("ahu-1", 6101.0)) == []


def test_meter_schedules_ignore_other_metrics_and_unregistered_devices(
    engine: sa.Engine, service: IncidentService, clock: Clock
) -> None:
    pm = maintenance(engine, service, clock)
    other = Reading("hq", "ahu-1", "telemetry", T0, T0, metrics={"filter_dp_pa": 9000.0})
    assert pm.meter_tickets(other) == []
    assert pm.meter_tickets(runtime("ahu-9", 1.0)) == []
    assert pm.meter_tickets(runtime("ahu-9", 5000.0)) == []


def test_a_slot_claimed_before_a_crash_gets_its_ticket_once_after_the_restart(
    engine: sa.Engine, service: IncidentService, clock: Clock
) -> None:
    with engine.begin() as conn:  # what a run that died between claim and ticket leaves
        conn.execute(runs.insert().values(
            schedule_id="monthly-inspection", target="site:hq", slot="2026-12-01T08:00:00+00:00",
            slot_value=DEC_1_0800, incident_id=None, created_at=DEC_1_0800,
        ))
    clock.t = DEC_1_0800 + 60
    pm = maintenance(engine, service, clock)
    recovered = [t for t in pm.run_due() if t.site == "hq"]
    assert len(recovered) == 1
    assert pm.run_due() == [] and maintenance(engine, service, clock).run_due() == []


class CountingTrigger:
    """A trigger that counts how often it is asked for a next fire time."""

    def __init__(self, trigger: Any) -> None:
        self.trigger = trigger
        self.calls = 0

    def get_next_fire_time(self, previous: datetime | None, now: datetime) -> datetime | None:
        """The wrapped trigger's answer, counted."""
        self.calls += 1
        return self.trigger.get_next_fire_time(previous, now)  # type: ignore[no-any-return]


def test_the_newest_missed_slot_of_a_minutely_schedule_is_found_quickly() -> None:
    (s,) = parse_schedules('schedules: [{id: m, title: M, cron: "* * * * *", per: site}]')
    year_ago = T0 - 365 * 86400
    trigger = CountingTrigger(s.trigger())
    slot = latest_slot(trigger, year_ago, T0 + 30)  # type: ignore[arg-type]
    assert slot == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    # Counted, not timed: scanning every minute of the year would ask 525,600 times.
    assert trigger.calls < 5_000
    assert latest_slot(s.trigger(), T0, T0 + 30) is None  # (T0, T0+30] holds no minute


def test_schedule_files_are_validated_with_the_schedule_named() -> None:
    with pytest.raises(ScheduleConfigError, match=r"s.yaml: schedule .a.: .*one of cron or meter"):
        parse_schedules("schedules: [{id: a, title: A}]", "s.yaml")
    with pytest.raises(ScheduleConfigError, match="unknown device kinds"):
        parse_schedules('schedules: [{id: a, title: A, cron: "0 8 * * *", device_kinds: [x]}]')
    with pytest.raises(ScheduleConfigError, match="cron"):
        parse_schedules('schedules: [{id: a, title: A, cron: "61 8 * * *"}]')
    with pytest.raises(ScheduleConfigError, match="per device"):
        parse_schedules("schedules: [{id: a, title: A, per: site, meter: {metric: m, every: 1}}]")


def test_the_built_in_schedules_cover_the_sample_site() -> None:
    schedules = {s.id: s for s in load_schedules()}
    site = load_registry()
    assert len(targets(schedules["fire-extinguisher-call-point-inspection"], site)) == 1
    filters = targets(schedules["air-handler-filter-change"], site)
    assert {t.device_id for t in filters} == {"ahu-01", "ahu-02", "ahu-03"}
    meter = schedules["air-handler-runtime-service"].meter
    assert meter is not None and (meter.metric, meter.every) == ("runtime_hours", 2000)
    assert targets(schedules["fire-panel-annual-service"], site)[0].device_id == "fp-01"


def test_a_device_added_at_runtime_gets_its_kinds_meter_schedule(
    engine: sa.Engine, service: IncidentService, clock: Clock
) -> None:
    pm = maintenance(engine, service, clock)
    pm.observe(runtime("ahu-9", 1990.0))
    assert pm.meter_tickets(runtime("ahu-9", 2000.5)) == []  # not registered yet
    bigger = registry()
    bigger.replace({**bigger.devices, "ahu-9": Device(id="ahu-9", kind="air_handler", site="hq",
                                                      zone="plant")})
    pm.use_registry(bigger)
    pm.observe(runtime("ahu-9", 3990.0))  # its baseline
    (ticket,) = pm.meter_tickets(runtime("ahu-9", 4000.5))
    assert ticket.device_id == "ahu-9"

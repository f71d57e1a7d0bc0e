"""On-call rotas: who is on duty when, in the site's time zone and across daylight-saving
changes; gaps named, overlaps and unknown people refused with file and line."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from rules.people.oncall import Level, OnCall, parse
from rules.people.oncall_config import OnCallConfigError

NEW_YORK = ZoneInfo("America/New_York")
ROTA = """
timezone: America/New_York
people:
  alice: {name: Alice, email: alice@example.com}
  bob: {name: Bob, email: bob@example.com}
  carol: {name: Carol}
  dave: {name: Dave, phone: "+1 555 0100"}
departments:
  security:
    rota:
      - {days: [mon, tue, wed, thu, fri, sat, sun], start: "08:00", end: "20:00", person: alice}
      - {days: [mon, tue, wed, thu, fri, sat, sun], start: "20:00", end: "08:00", person: bob}
    escalation:
      - {after: 0m, to: on_duty}
      - {after: 5m, to: carol}
      - {after: 15m, to: dave}
  maintenance:
    rota:
      - {days: [mon, tue, wed, thu, fri], start: "07:00", end: "19:00", person: carol}
"""


def ny(y: int, mo: int, d: int, h: int, mi: int, fold: int = 0) -> datetime:
    """A New York wall-clock time as an aware instant."""
    return datetime(y, mo, d, h, mi, tzinfo=NEW_YORK, fold=fold)


def who(oncall: OnCall, department: str, at: datetime) -> str | None:
    """The id of the person on duty, or None."""
    duty = oncall.on_duty(department, at)
    return duty.person_id if duty else None


def _due(oncall: OnCall, department: str, opened: datetime, now: datetime) -> Level:
    level = oncall.level_due(department, opened, now)
    assert level is not None
    return level


def test_the_person_on_duty_follows_the_wall_clock_of_the_site() -> None:
    oncall = parse(ROTA)
    assert who(oncall, "security", ny(2026, 7, 1, 7, 59)) == "bob"
    duty = oncall.on_duty("security", ny(2026, 7, 1, 8, 0))
    assert duty is not None and duty.person_id == "alice"
    assert duty.until == ny(2026, 7, 1, 20, 0)
    night = oncall.on_duty("security", ny(2026, 7, 1, 23, 30))
    assert night is not None and night.person_id == "bob" and night.until == ny(2026, 7, 2, 8, 0)


def test_shifts_keep_their_local_times_across_both_daylight_saving_changes() -> None:
    oncall = parse(ROTA)
    # 2026-03-08: clocks jump from 02:00 to 03:00 EST->EDT; the night shift still ends at 08:00
    # local, which is 12:00 UTC instead of 13:00 the day before.
    assert who(oncall, "security", datetime(2026, 3, 8, 11, 59, tzinfo=UTC)) == "bob"
    assert who(oncall, "security", datetime(2026, 3, 8, 12, 0, tzinfo=UTC)) == "alice"
    assert who(oncall, "security", datetime(2026, 3, 7, 12, 59, tzinfo=UTC)) == "bob"
    # 2026-11-01: 01:00-02:00 happens twice; both are Bob's night, and 08:00 is 13:00 UTC.
    assert who(oncall, "security", ny(2026, 11, 1, 1, 30, fold=1)) == "bob"
    assert who(oncall, "security", datetime(2026, 11, 1, 12, 59, tzinfo=UTC)) == "bob"
    assert who(oncall, "security", datetime(2026, 11, 1, 13, 0, tzinfo=UTC)) == "alice"
    night = oncall.on_duty("security", ny(2026, 10, 31, 21, 0))
    assert night is not None and night.until.astimezone(UTC) == datetime(2026, 11, 1, 13, 0,
                                                                         tzinfo=UTC)


def test_gaps_are_named_and_nobody_is_on_duty_in_them() -> None:
    oncall = parse(ROTA)
    assert oncall.gaps["security"] == []
    assert oncall.gaps["maintenance"][0] == "mon 00:00 - mon 07:00"
    assert "fri 19:00 - mon 00:00" in oncall.gaps["maintenance"]
    assert oncall.on_duty("maintenance", ny(2026, 7, 4, 12, 0)) is None  # a Saturday


def test_the_escalation_chain_starts_with_the_person_on_duty_and_climbs_with_time() -> None:
    oncall = parse(ROTA)
    opened = ny(2026, 7, 1, 22, 0)
    chain = oncall.chain("security", opened)
    assert [(lv.level, lv.after_s, lv.person_id) for lv in chain] == [
        (1, 0.0, "bob"), (2, 300.0, "carol"), (3, 900.0, "dave")]
    assert _due(oncall, "security", opened, ny(2026, 7, 1, 22, 4)).person_id == "bob"
    assert _due(oncall, "security", opened, ny(2026, 7, 1, 22, 6)).person_id == "carol"
    assert _due(oncall, "security", opened, ny(2026, 7, 1, 23, 0)).level == 3
    assert oncall.chain("maintenance", opened)[0].person_id is None  # nobody on duty at 22:00


@pytest.mark.parametrize(("bad", "message"), [
    (ROTA.replace('start: "20:00", end: "08:00"', 'start: "19:00", end: "08:00"'),
     "<oncall>:12: security: this shift overlaps the one on line 11 at mon 19:00"),
    (ROTA.replace("person: carol", "person: zed"), "<oncall>:19: 'zed' is not one of the people"),
    (ROTA.replace('start: "07:00"', 'start: "7am"'),
     "<oncall>:19: departments.maintenance.rota.0.start"),
    (ROTA.replace("America/New_York", "Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
    (ROTA.replace("  maintenance:", "  janitors:"), "departments.janitors"),
])
def test_a_bad_rota_is_refused_with_its_file_and_line(bad: str, message: str) -> None:
    with pytest.raises(OnCallConfigError) as e:
        parse(bad)
    assert message in str(e.value)

"""A seeded alert history whose alarm-health figures are worked out by hand (see EXPECTED).

The period is one day from T0 (144 ten-minute intervals, 24 hours); the report is taken at
T0 + 48 h. At site `hq`, 27 alerts count:
- a flood: 12 minor `smoke` alerts (sd-1 .. sd-12) 40 s apart from T0 + 1 h, each acknowledged
  after 60 s; sd-1..3 resolved as false alarms, sd-4 as unwanted;
- `door-forced` (major) chattering: door-1 opens at +5 h, +20 s, +50 s (three within a
  minute) and at +10 h, +70 s, +130 s (not); three of door-1's are unwanted, so door-1 has 3
  false/unwanted alarms. door-2 opens at +6 h, +30 s, +60 s (exactly a minute: chattering);
  door-3 at +7 h, +30 s, +60.000001 s (a microsecond over: not);
- `fire-alarm` (critical): sd-99 opened +2 h, acknowledged after 300 s, resolved after 25 h
  (stale); sd-98 opened +20 h, acknowledged after 120 s, still open at report time (stale, and
  stale now); sd-97 opened +3 h, acknowledged after 30.5 s, resolved after 23 h (not stale).
Left out: a walk-test alert in the flood interval, a ticket, an alert at site `annex`, and an
alert opened three days before the period that is still active (only in `stale_open_now`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from rules.db.schema import incidents

T0 = datetime(2026, 11, 2, tzinfo=UTC)
START, END, NOW = T0, T0 + timedelta(days=1), T0 + timedelta(hours=48)
DEVICES = 50  # devices the report is told the scope has
S = timedelta(seconds=1)
H = timedelta(hours=1)


def _alert(rule: str, device: str, severity: str, opened: datetime, *,
           ack: timedelta | None = None, resolved: timedelta | None = timedelta(minutes=2),
           code: str | None = None, site: str = "hq", test: bool = False,
           kind: str = "alert") -> dict[str, Any]:
    return {
        "kind": kind, "rule_id": rule, "title": rule, "department": "security",
        "severity": severity if kind == "alert" else None,
        "priority": None if kind == "alert" else "P3",
        "state": ("resolved" if resolved is not None else "acknowledged" if ack else "active")
        if kind == "alert" else "open",
        "site": site, "device_id": device, "opened_at": opened, "last_seen_at": opened,
        "acknowledged_at": None if ack is None else opened + ack,
        "resolved_at": None if resolved is None else opened + resolved,
        "resolution_code": code, "test": test, "opened_by": "rules",
    }


def history() -> list[dict[str, Any]]:
    """The rows of the history described above."""
    rows = []
    for i in range(12):
        code = "false_alarm" if i < 3 else "unwanted" if i == 3 else None
        rows.append(_alert("smoke", f"sd-{i + 1}", "minor", T0 + H + 40 * i * S,
                           ack=60 * S, code=code))
    for n, offset in enumerate((0, 20, 50)):
        rows.append(_alert("door-forced", "door-1", "major", T0 + 5 * H + offset * S,
                           resolved=5 * S, code="unwanted" if n < 2 else None))
    for n, offset in enumerate((0, 70, 130)):
        rows.append(_alert("door-forced", "door-1", "major", T0 + 10 * H + offset * S,
                           resolved=5 * S, code="unwanted" if n == 0 else None))
    for offset in (0, 30, 60):
        rows.append(_alert("door-forced", "door-2", "major", T0 + 6 * H + offset * S,
                           resolved=5 * S))
    for late in (0.0, 30.0, 60.000001):
        rows.append(_alert("door-forced", "door-3", "major", T0 + 7 * H + late * S,
                           resolved=5 * S))
    rows.append(_alert("fire-alarm", "sd-99", "critical", T0 + 2 * H, ack=300 * S,
                       resolved=25 * H))
    rows.append(_alert("fire-alarm", "sd-98", "critical", T0 + 20 * H, ack=120 * S,
                       resolved=None))
    rows.append(_alert("fire-alarm", "sd-97", "critical", T0 + 3 * H, ack=30.5 * S,
                       resolved=23 * H))
    # Not counted in the period's figures:
    rows.append(_alert("smoke", "sd-1", "minor", T0 + H + 5 * S, test=True))
    rows.append(_alert("smoke", "sd-1", "minor", T0 + H + 6 * S, kind="ticket"))
    rows.append(_alert("smoke", "an-1", "critical", T0 + H + 7 * S, site="annex", ack=S))
    rows.append(_alert("fire-alarm", "sd-96", "critical", T0 - 72 * H, resolved=None))
    return rows


def seed(engine: sa.Engine) -> None:
    """Insert the history."""
    with engine.begin() as conn:
        conn.execute(sa.insert(incidents), history())


# The figures of site hq, worked out from the history by hand.
EXPECTED: dict[str, float | int | None] = {
    "alerts": 27,
    "alerts_per_hour_avg": 1.125,  # 27 / 24 h
    "alerts_per_hour_peak": 12,  # the flood's hour
    "alerts_per_10min_avg": 0.188,  # 27 / 144, rounded
    "alerts_per_10min_peak": 12,
    "flood_intervals_pct": 0.69,  # 1 of 144
    "top10_share_pct": 70.37,  # 6 + 3 + 3 + seven singles = 19 of 27
    "chattering_pairs": 2,  # door-1, door-2
    "stale_alerts": 2,  # sd-99 (resolved after 25 h), sd-98 (open 28 h at report time)
    "stale_open_now": 2,  # sd-98 and the one opened before the period
    "severity_high_pct": 11.11,  # 3 critical of 27
    "severity_medium_pct": 44.44,  # 12 major
    "severity_low_pct": 44.44,  # 12 minor
    "mtta_s": 78.033,  # (12 * 60 + 300 + 120 + 30.5) / 15
    "false_alarms": 3,
    "unwanted_alarms": 4,
    # 7 in one day over 50 devices: 7 / 50 * 100 * 365.25
    "false_unwanted_per_100_devices_per_year": 5113.5,
    "devices_with_3_false_unwanted": 1,  # door-1
}
VERDICTS = {
    "alerts_per_hour_avg": "ok", "alerts_per_10min_avg": "ok", "alerts_per_10min_peak": "over",
    "flood_intervals_pct": "ok", "top10_share_pct": "over", "chattering_pairs": "over",
    "stale_alerts": "over", "stale_open_now": "ok", "severity_high_pct": "over",
    "severity_medium_pct": "over", "severity_low_pct": "over", "mtta_s": None,
    "false_unwanted_per_100_devices_per_year": "over", "devices_with_3_false_unwanted": "over",
}

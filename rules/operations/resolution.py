"""Resolution codes (SPEC §6) and what reports make of them: false and unwanted alarms per
device and per 100 devices per year (BS 5839-1 practice)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from rules.db.schema import incidents

ResolutionCode = Literal["real", "false_alarm", "unwanted", "test", "fault"]
CODES: tuple[str, ...] = ("real", "false_alarm", "unwanted", "test", "fault")
YEAR_S = 365.25 * 86400  # seconds in a year, for the annual rate


def false_alarm_rates(conn: sa.Connection, start: datetime, end: datetime,
                      device_count: int, sites: frozenset[str] | None = None) -> dict[str, Any]:
    """False and unwanted alarms in [start, end) per device, in total, and per 100 devices per
    year (alerts are counted by when they opened, with the code they were resolved with);
    only alerts at `sites` when given."""
    c = incidents.c
    scope = [] if sites is None else [c.site.in_(sorted(sites))]
    found = conn.execute(
        sa.select(c.device_id, c.resolution_code, sa.func.count())
        .where(c.kind == "alert", c.resolution_code.in_(("false_alarm", "unwanted")),
               c.opened_at >= start, c.opened_at < end, *scope)
        .group_by(c.device_id, c.resolution_code)
    ).all()
    per_device: dict[str, dict[str, int]] = {}
    totals = {"false_alarm": 0, "unwanted": 0}
    for device_id, code, count in found:
        row = per_device.setdefault(device_id or "", {"false_alarm": 0, "unwanted": 0})
        row[code] = int(count)
        totals[code] += int(count)
    years = max((end - start).total_seconds(), 1.0) / YEAR_S
    devices = max(device_count, 1)

    def rate(n: int) -> float:
        return round(n / devices * 100 / years, 3)

    return {
        "from": start, "to": end, "devices": device_count,
        "false_alarms": totals["false_alarm"], "unwanted_alarms": totals["unwanted"],
        "per_100_devices_per_year": {
            "false_alarms": rate(totals["false_alarm"]),
            "unwanted_alarms": rate(totals["unwanted"]),
            "both": rate(totals["false_alarm"] + totals["unwanted"]),
        },
        "by_device": [
            {"device_id": d or None, **counts,
             "per_year": round((counts["false_alarm"] + counts["unwanted"]) / years, 3)}
            for d, counts in sorted(per_device.items(),
                                    key=lambda kv: -(kv[1]["false_alarm"] + kv[1]["unwanted"]))
        ],
    }

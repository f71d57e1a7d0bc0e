"""What /api/v1/status shows of operations: disabled points as a standing condition, tests in
progress, shelved alerts (still counted), silences in force, and alert groups."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from rules.db import schema
from rules.operations import disablements, grouping, records, silences, walktests


def status_summary(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    """The operations part of the status page at `now`."""
    c = schema.incidents.c
    shelved = conn.execute(sa.select(sa.func.count()).where(
        c.shelved_until.is_not(None), c.state.in_(("active", "acknowledged")))).scalar_one()
    return {
        "disabled_points": disablements.disabled_points(conn, now),
        "tests_in_progress": len(walktests.listed(conn, active_at=now)),
        "shelved_alerts": int(shelved),
        "silences_active": len(silences.listed(conn, active_at=now)),
        "alert_groups": grouping.counts(conn),
    }


def status_due(conn: sa.Connection, now: datetime, sites: Collection[str] | None = None) -> bool:
    """Whether anything still open at `sites` (None: all) has reached its `until` (or a
    window its end)."""
    shelved_site = sa.select(schema.incidents.c.site).where(
        schema.incidents.c.id == schema.shelvings.c.incident_id).scalar_subquery()
    for table, site in ((schema.disablements, schema.disablements.c.site),
                        (schema.walk_tests, schema.walk_tests.c.site),
                        (schema.shelvings, shelved_site),
                        (schema.silences, schema.silences.c.site)):
        query = sa.select(table.c.id).where(table.c.ended_at.is_(None), table.c.until <= now,
                                            *records.at_sites(site, sites))
        if conn.execute(query.limit(1)).first() is not None:
            return True
    w = schema.maintenance_windows.c
    query = sa.select(w.id).where(w.ended_at.is_(None), w.end_at <= now.timestamp(),
                                  *records.at_sites(w.site, sites))
    return conn.execute(query.limit(1)).first() is not None

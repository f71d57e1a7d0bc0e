"""What /api/v1/status shows of operations: disabled points as a standing condition, tests in
progress, shelved alerts (still counted), silences in force, and alert groups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from rules.db.schema import incidents
from rules.operations import disablements, grouping, silences, walktests


def status_summary(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    """The operations part of the status page at `now`."""
    c = incidents.c
    shelved = conn.execute(sa.select(sa.func.count()).where(
        c.shelved_until.is_not(None), c.state.in_(("active", "acknowledged")))).scalar_one()
    return {
        "disabled_points": disablements.disabled_points(conn, now),
        "tests_in_progress": len(walktests.listed(conn, active_at=now)),
        "shelved_alerts": int(shelved),
        "silences_active": len(silences.listed(conn, active_at=now)),
        "alert_groups": grouping.counts(conn),
    }

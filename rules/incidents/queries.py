"""Read-side queries over incidents: filtered pages, timelines, change feed, status counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from rules.db.schema import incident_timeline, incidents
from rules.incidents import rows
from rules.incidents.record import (
    OPEN_STATES,
    OPEN_TICKET_STATES,
    PRIORITIES,
    SEVERITIES,
    Incident,
    TimelineEntry,
)

MAX_PAGE = 500  # incidents per page at most, whatever the caller asks


@dataclass(frozen=True)
class Filters:
    """Which incidents a list asks for; None matches anything."""

    kind: str | None = None
    state: str | None = None
    severity: str | None = None
    priority: str | None = None
    department: str | None = None
    site: str | None = None
    device_id: str | None = None
    open_only: bool = False
    shelved: bool | None = None  # True: only shelved alerts; False: none (SPEC §8.1)

    def clauses(self) -> list[sa.ColumnElement[bool]]:
        """The WHERE clauses these filters make."""
        c = incidents.c
        out: list[sa.ColumnElement[bool]] = []
        for name in ("kind", "state", "severity", "priority", "department", "site", "device_id"):
            value = getattr(self, name)
            if value is not None:
                out.append(c[name] == value)
        if self.open_only:
            out.append(c.state.in_(sorted(OPEN_STATES)))
        if self.shelved is not None:
            out.append(c.shelved_until.is_not(None) if self.shelved else c.shelved_until.is_(None))
        return out


def page(
    conn: sa.Connection, filters: Filters, order: str, *, limit: int, offset: int
) -> tuple[list[Incident], int]:
    """Incidents newest first (or by resolve-by deadline, soonest first) and the total count."""
    clauses = filters.clauses()
    total = conn.execute(sa.select(sa.func.count()).select_from(incidents).where(*clauses))
    c = incidents.c
    if order == "deadline":
        # Tickets without a deadline (and alerts) come after every dated one.
        ordering: list[Any] = [c.resolve_by.is_(None), c.resolve_by.asc(), c.id.asc()]
    elif order == "newest":
        ordering = [c.opened_at.desc(), c.id.desc()]
    else:
        raise ValueError(f"unknown order {order!r}: newest or deadline")
    limit = max(0, min(limit, MAX_PAGE))
    query = rows.select_incidents().where(*clauses).order_by(*ordering)
    found = conn.execute(query.limit(limit).offset(max(0, offset))).all()
    return [rows.to_incident(row) for row in found], int(total.scalar_one())


def timeline(conn: sa.Connection, incident_id: int) -> list[TimelineEntry]:
    """Every entry of one incident, oldest first; IncidentNotFound if the incident is unknown."""
    found = conn.execute(
        sa.select(incident_timeline)
        .where(incident_timeline.c.incident_id == incident_id)
        .order_by(incident_timeline.c.id)
    ).all()
    if not found:
        rows.fetch(conn, incident_id)  # raises IncidentNotFound; an incident always has one entry
    return [rows.to_entry(row) for row in found]


def changes_since(conn: sa.Connection, after_id: int, limit: int) -> list[TimelineEntry]:
    """Entries with id above `after_id`, in id order, at most `limit`."""
    found = conn.execute(
        sa.select(incident_timeline)
        .where(incident_timeline.c.id > after_id)
        .order_by(incident_timeline.c.id)
        .limit(max(0, limit))
    ).all()
    return [rows.to_entry(row) for row in found]


def summary(conn: sa.Connection, at: datetime) -> dict[str, Any]:
    """Open alerts by severity, unacknowledged alerts, open tickets by priority, SLA breaches."""
    c = incidents.c
    alerts = dict.fromkeys(SEVERITIES, 0)
    for severity, count in conn.execute(
        sa.select(c.severity, sa.func.count())
        .where(c.kind == "alert", c.state.in_(("active", "acknowledged")))
        .group_by(c.severity)
    ):
        alerts[severity] = int(count)
    unacknowledged = conn.execute(
        sa.select(sa.func.count()).where(c.kind == "alert", c.state == "active")
    ).scalar_one()
    tickets = dict.fromkeys(PRIORITIES, 0)
    for priority, count in conn.execute(
        sa.select(c.priority, sa.func.count())
        .where(c.kind == "ticket", c.state.in_(OPEN_TICKET_STATES))
        .group_by(c.priority)
    ):
        tickets[priority] = int(count)
    breached = sa.or_(
        c.respond_breached.is_(sa.true()),
        c.resolve_breached.is_(sa.true()),
        c.resolve_by <= at,
        sa.and_(c.acknowledged_at.is_(None), c.respond_by <= at),
    )
    breaches = conn.execute(
        sa.select(sa.func.count()).where(
            c.kind == "ticket", c.state.in_(OPEN_TICKET_STATES), breached
        )
    ).scalar_one()
    return {
        "active_alerts": alerts,
        "unacknowledged_alerts": int(unacknowledged),
        "open_tickets": tickets,
        "sla_breaches": int(breaches),
    }

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
    sites: frozenset[str] | None = None  # a site-scoped caller: only these sites
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
        out.extend(site_clauses(self.sites))
        if self.shelved is not None:
            out.append(c.shelved_until.is_not(None) if self.shelved else c.shelved_until.is_(None))
        return out


def site_clauses(sites: frozenset[str] | None) -> list[sa.ColumnElement[bool]]:
    """Nothing for an unscoped caller; else the incident's site must be one of `sites`."""
    return [] if sites is None else [incidents.c.site.in_(sorted(sites))]


def page(
    conn: sa.Connection, filters: Filters, order: str, *, limit: int, offset: int
) -> tuple[list[Incident], int]:
    """Incidents in `order` (newest, deadline, severity, priority) and the total count."""
    clauses = filters.clauses()
    total = conn.execute(sa.select(sa.func.count()).select_from(incidents).where(*clauses))
    c = incidents.c
    if order == "deadline":
        # Tickets without a deadline (and alerts) come after every dated one.
        ordering: list[Any] = [c.resolve_by.is_(None), c.resolve_by.asc(), c.id.asc()]
    elif order == "newest":
        ordering = [c.opened_at.desc(), c.id.desc()]
    elif order in ("severity", "priority"):
        # Worst grade first (critical, P1), ungraded last; newest first within a grade.
        grades = SEVERITIES if order == "severity" else PRIORITIES
        rank = sa.case({g: i for i, g in enumerate(grades)}, value=c[order], else_=len(grades))
        ordering = [rank, c.opened_at.desc(), c.id.desc()]
    else:
        raise ValueError(f"unknown order {order!r}: newest, deadline, severity or priority")
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


def summary(
    conn: sa.Connection, at: datetime, sites: frozenset[str] | None = None
) -> dict[str, Any]:
    """Open alerts by severity, unacknowledged alerts, open tickets by priority, SLA breaches."""
    c = incidents.c
    scope = site_clauses(sites)
    alerts = dict.fromkeys(SEVERITIES, 0)
    for severity, count in conn.execute(
        sa.select(c.severity, sa.func.count())
        .where(c.kind == "alert", c.state.in_(("active", "acknowledged")), *scope)
        .group_by(c.severity)
    ):
        alerts[severity] = int(count)
    unacknowledged = conn.execute(
        sa.select(sa.func.count()).where(c.kind == "alert", c.state == "active", *scope)
    ).scalar_one()
    tickets = dict.fromkeys(PRIORITIES, 0)
    for priority, count in conn.execute(
        sa.select(c.priority, sa.func.count())
        .where(c.kind == "ticket", c.state.in_(OPEN_TICKET_STATES), *scope)
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
            c.kind == "ticket", c.state.in_(OPEN_TICKET_STATES), breached, *scope
        )
    ).scalar_one()
    return {
        "active_alerts": alerts,
        "unacknowledged_alerts": int(unacknowledged),
        "open_tickets": tickets,
        "sla_breaches": int(breaches),
    }


def works_linked_ticket(conn: sa.Connection, alert_id: int, person: str) -> bool:
    """True when `person` holds an open ticket linked to this alert (either direction)."""
    c = incidents.c
    alert_link = sa.select(c.linked_incident_id).where(c.id == alert_id).scalar_subquery()
    query = sa.select(c.id).where(
        c.kind == "ticket",
        c.state.in_(OPEN_TICKET_STATES),
        c.assignee == person,
        sa.or_(c.linked_incident_id == alert_id, c.id == alert_link),
    )
    return conn.execute(query.limit(1)).first() is not None


def open_alerts(conn: sa.Connection, site: str, rule_ids: tuple[str, ...]) -> list[Incident]:
    """Open alerts of these rules at one site, oldest first."""
    c = incidents.c
    query = rows.select_incidents().where(
        c.kind == "alert", c.site == site, c.rule_id.in_(rule_ids),
        c.state.in_(sorted(OPEN_STATES)),
    ).order_by(c.id)
    return [rows.to_incident(r) for r in conn.execute(query).all()]

"""The clocks of open incidents: alert escalation and ticket SLA breaches, each recorded once."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa

from rules.db.schema import incidents
from rules.incidents import rows
from rules.incidents.record import OPEN_TICKET_STATES, Incident, TimelineEntry
from rules.incidents.sla import SlaPolicy


def of_sites(sites: Collection[str] | None) -> list[sa.ColumnElement[bool]]:
    """Incidents at these sites and unsited ones (SITEWATCH_SITES, SPEC §11); None: all.

    Unsited incidents are swept by every instance: the row locks below make that safe."""
    if sites is None:
        return []
    return [sa.or_(incidents.c.site.in_(sorted(sites)), incidents.c.site.is_(None))]


def escalate_due(
    conn: sa.Connection, sla: SlaPolicy, at: datetime, sites: Collection[str] | None = None,
) -> list[TimelineEntry]:
    """Escalate each active (unacknowledged) alert whose next escalation time has passed."""
    due = conn.execute(
        rows.select_incidents()
        .where(
            incidents.c.kind == "alert",
            incidents.c.state == "active",
            incidents.c.next_escalation_at <= at,
            *of_sites(sites),
        )
        .order_by(incidents.c.id)
        .with_for_update()
    ).all()
    entries: list[TimelineEntry] = []
    for alert in map(rows.to_incident, due):
        assert alert.next_escalation_at is not None and alert.severity is not None
        interval = sla.escalate_after(alert.severity)
        following = None
        if interval is not None:
            # The cadence stays on opened + n * interval; after a long outage one escalation
            # is recorded, not one per missed interval.
            following = alert.next_escalation_at + interval
            while following <= at:
                following += interval
        level = alert.escalation_level + 1
        rows.update_incident(conn, alert.id, escalation_level=level, next_escalation_at=following)
        minutes = int((at - alert.opened_at).total_seconds() // 60)
        entries.append(
            rows.add_entry(
                conn,
                alert.id,
                at=at,
                actor="system",
                action="escalated",
                from_state=alert.state,
                to_state=alert.state,
                note=f"escalation level {level}: unacknowledged for {minutes} min",
            )
        )
    return entries


def flag_breaches(
    conn: sa.Connection, at: datetime, sites: Collection[str] | None = None,
) -> list[TimelineEntry]:
    """Flag open tickets past their respond-by (no response yet) or resolve-by, once per clock."""
    c = incidents.c
    respond_due = sa.and_(
        c.respond_breached.is_(sa.false()), c.acknowledged_at.is_(None), c.respond_by <= at
    )
    resolve_due = sa.and_(c.resolve_breached.is_(sa.false()), c.resolve_by <= at)
    late = conn.execute(
        rows.select_incidents()
        .where(
            c.kind == "ticket", c.state.in_(OPEN_TICKET_STATES), sa.or_(respond_due, resolve_due),
            *of_sites(sites),
        )
        .order_by(c.id)
        .with_for_update()
    ).all()
    entries: list[TimelineEntry] = []
    for ticket in map(rows.to_incident, late):
        respond = (
            not ticket.respond_breached
            and ticket.acknowledged_at is None
            and ticket.respond_by is not None
            and ticket.respond_by <= at
        )
        resolve = (
            not ticket.resolve_breached
            and ticket.resolve_by is not None
            and ticket.resolve_by <= at
        )
        breached = _breach(conn, ticket, at, respond=respond, resolve=resolve)
        entries += breached
        for n, entry in enumerate(breached, start=1):
            entries.append(_escalate_ticket(conn, ticket, at, ticket.escalation_level + n, entry))
    return entries


def _escalate_ticket(
    conn: sa.Connection, ticket: Incident, at: datetime, level: int, breach: TimelineEntry
) -> TimelineEntry:
    """A breach while the ticket is still open goes to the next level (SPEC §1).

    The next level is the on-call chain once one exists; until then the notification routes,
    which receive every `escalated` entry (rules/notify/routes.py NOTABLE_ACTIONS)."""
    rows.update_incident(conn, ticket.id, escalation_level=level)
    clock = breach.note.split(" ", 1)[0]  # "respond" or "resolve"
    return rows.add_entry(
        conn,
        ticket.id,
        at=at,
        actor="system",
        action="escalated",
        from_state=ticket.state,
        to_state=ticket.state,
        note=f"escalation level {level}: {clock} deadline missed ({ticket.priority}); "
        "next level notified",
    )


def late_breaches(
    conn: sa.Connection, ticket: Incident, at: datetime, responded: bool, closed: bool
) -> list[TimelineEntry]:
    """Breaches a transition reveals: the first response or the closing came after its deadline.

    The scheduler may not have run between the deadline and the action; the breach is still
    recorded, once.
    """
    respond = (
        responded
        and not ticket.respond_breached
        and ticket.respond_by is not None
        and at > ticket.respond_by
    )
    resolve = (
        closed
        and not ticket.resolve_breached
        and ticket.resolve_by is not None
        and at > ticket.resolve_by
    )
    return _breach(conn, ticket, at, respond=respond, resolve=resolve)


def _breach(
    conn: sa.Connection, ticket: Incident, at: datetime, *, respond: bool, resolve: bool
) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for clock, due, flagged, deadline in (
        ("respond", respond, "respond_breached", ticket.respond_by),
        ("resolve", resolve, "resolve_breached", ticket.resolve_by),
    ):
        if not due:
            continue
        # The guard on the flag makes a second scheduler's flagging a no-op.
        done = conn.execute(
            sa.update(incidents)
            .where(incidents.c.id == ticket.id, incidents.c[flagged].is_(sa.false()))
            .values({flagged: True})
        )
        if done.rowcount != 1:
            continue
        assert deadline is not None
        entries.append(
            rows.add_entry(
                conn,
                ticket.id,
                at=at,
                actor="system",
                action="sla_breached",
                from_state=ticket.state,
                to_state=ticket.state,
                note=f"{clock} deadline {deadline.isoformat()} passed ({ticket.priority})",
            )
        )
    return entries

"""What a rule signal does to the database: open, bump, link or auto-resolve an incident."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from rules.db.schema import incidents
from rules.engine.models import Rule
from rules.engine.parts import AlertSpec, LinkedTicket
from rules.engine.signals import Signal
from rules.incidents import checklists, rows
from rules.incidents.record import TimelineEntry
from rules.incidents.sla import SlaPolicy


@dataclass(frozen=True)
class TicketDraft:
    """What a new ticket says, whoever opens it."""

    title: str
    description: str
    department: str
    priority: str
    site: str | None = None
    zone: str | None = None
    device_id: str | None = None
    location: str | None = None
    rule_id: str | None = None
    auto_resolve: bool = False
    open_key: str | None = None  # None: opened by hand, no (rule, device) to be unique for
    linked_incident_id: int | None = None
    checklist: tuple[str, ...] = ()  # its checklist's items, in order (SPEC §8.4)


# Built once, values as parameters (on every alarm's path): one more occurrence of the open
# incident holding a key.
_BUMP = (
    sa.update(incidents)
    .where(incidents.c.open_key == sa.bindparam("b_key"))
    .values(occurrences=incidents.c.occurrences + 1, last_seen_at=sa.bindparam("b_at"))
    .returning(incidents.c.id, incidents.c.state, incidents.c.occurrences)
)


def fire(
    conn: sa.Connection, signal: Signal, rule: Rule, sla: SlaPolicy, at: datetime,
    location: str | None = None,
) -> list[TimelineEntry]:
    """Bump the open incident of (rule, device), or open one (and its linked ticket).

    `rule` is the incident's rule: the signal's own, or the one it joins (a backup signal)."""
    actor = f"rule:{signal.rule_id}"
    key = rows.open_key(rule.id, signal.unit)
    bumped = conn.execute(_BUMP, {"b_key": key, "b_at": at}).first()
    if bumped is not None:
        note = f"occurrence {bumped.occurrences}" + (
            f": {signal.message}" if signal.message else ""
        )
        entry = rows.add_entry(
            conn,
            bumped.id,
            at=at,
            actor=actor,
            action="repeated",
            from_state=bumped.state,
            to_state=bumped.state,
            note=note,
        )
        return [entry]
    raises = rule.raises
    if isinstance(raises, AlertSpec):
        return _open_alert(conn, signal, rule, raises, sla, at, key, location)
    ticket = TicketDraft(
        title=rule.title,
        description=rule.description,
        department=raises.department,
        priority=raises.priority,
        site=signal.site,
        zone=signal.zone,
        device_id=signal.device_id,
        location=location,
        rule_id=rule.id,
        auto_resolve=raises.auto_resolve,
        open_key=key,
        checklist=rule.checklist,
    )
    _, entries = open_ticket(conn, ticket, sla, at, actor=actor, note=signal.message)
    return entries


def clear(
    conn: sa.Connection, signal: Signal, at: datetime, rule_id: str | None = None
) -> list[TimelineEntry]:
    """Resolve the open incident of (rule, device) if it resolves itself; else do nothing.

    `rule_id`: the incident's rule when the signal's rule joins another (default: its own)."""
    current = rows.find_open(conn, rows.open_key(rule_id or signal.rule_id, signal.unit))
    if current is None or not current.auto_resolve:
        return []  # nothing open, or it latches until a person resolves it
    rows.update_incident(
        conn,
        current.id,
        state="resolved",
        resolved_at=at,
        open_key=None,
        next_escalation_at=None,
    )
    entry = rows.add_entry(
        conn,
        current.id,
        at=at,
        actor=f"rule:{signal.rule_id}",
        action="auto_resolved",
        from_state=current.state,
        to_state="resolved",
        note=signal.message or "condition cleared",
    )
    return [entry]


def open_ticket(
    conn: sa.Connection,
    ticket: TicketDraft,
    sla: SlaPolicy,
    at: datetime,
    *,
    actor: str,
    note: str,
    actor_token_id: int | None = None,
) -> tuple[int, list[TimelineEntry]]:
    """Insert a ticket with its SLA deadlines and its `opened` entry (`actor_token_id`: the
    API token that opened it by hand)."""
    incident_id = rows.insert_incident(
        conn,
        {
            "kind": "ticket",
            "rule_id": ticket.rule_id,
            "title": ticket.title,
            "description": ticket.description,
            "department": ticket.department,
            "priority": ticket.priority,
            "state": "open",
            "site": ticket.site,
            "zone": ticket.zone,
            "device_id": ticket.device_id,
            "location": ticket.location,
            "latching": False,
            "auto_resolve": ticket.auto_resolve,
            "occurrences": 1,
            "opened_at": at,
            "last_seen_at": at,
            "respond_by": at + sla.respond_within(ticket.priority),
            "resolve_by": at + sla.resolve_within(ticket.priority),
            "linked_incident_id": ticket.linked_incident_id,
            "opened_by": actor,
            "open_key": ticket.open_key,
        },
    )
    checklists.add_items(conn, incident_id, ticket.checklist)
    entry = rows.add_entry(
        conn,
        incident_id,
        at=at,
        actor=actor,
        action="opened",
        from_state=None,
        to_state="open",
        note=note,
        actor_token_id=actor_token_id,
    )
    return incident_id, [entry]


def _open_alert(
    conn: sa.Connection,
    signal: Signal,
    rule: Rule,
    raises: AlertSpec,
    sla: SlaPolicy,
    at: datetime,
    key: str,
    location: str | None = None,
) -> list[TimelineEntry]:
    actor = f"rule:{signal.rule_id}"
    latching = raises.latching
    after = sla.escalate_after(raises.severity)
    alert_id = rows.insert_incident(
        conn,
        {
            "kind": "alert",
            "rule_id": rule.id,
            "title": rule.title,
            "description": rule.description,
            "department": raises.department,
            "severity": raises.severity,
            "state": "active",
            "site": signal.site,
            "zone": signal.zone,
            "device_id": signal.device_id,
            "location": location,
            "runbook": raises.runbook or None,
            "latching": latching,
            "auto_resolve": not latching,  # a non-latching alert resolves when it clears
            "occurrences": 1,
            "opened_at": at,
            "last_seen_at": at,
            "next_escalation_at": None if after is None else at + after,
            "opened_by": actor,
            "open_key": key,
        },
    )
    entries = [
        rows.add_entry(
            conn,
            alert_id,
            at=at,
            actor=actor,
            action="opened",
            from_state=None,
            to_state="active",
            note=signal.message,
        )
    ]
    if raises.linked_ticket is not None:
        entries += _link_ticket(
            conn, signal, rule, raises.linked_ticket, sla, at, alert_id, location
        )
    return entries


def _link_ticket(
    conn: sa.Connection,
    signal: Signal,
    rule: Rule,
    linked: LinkedTicket,
    sla: SlaPolicy,
    at: datetime,
    alert_id: int,
    location: str | None = None,
) -> list[TimelineEntry]:
    """Open the alert's ticket, or link to the one still open from an earlier alert."""
    actor = f"rule:{signal.rule_id}"
    key = rows.linked_ticket_key(rule.id, signal.unit)
    entries: list[TimelineEntry] = []
    ticket = rows.find_open(conn, key)
    if ticket is not None:
        ticket_id, ticket_state = ticket.id, ticket.state
        rows.update_incident(conn, ticket_id, linked_incident_id=alert_id)
    else:
        draft = TicketDraft(
            title=linked.title or rule.title,
            description=f"Opened with alert #{alert_id}: {rule.title}. {rule.description}".strip(),
            department=linked.department,
            priority=linked.priority,
            site=signal.site,
            zone=signal.zone,
            device_id=signal.device_id,
            location=location,
            rule_id=rule.id,
            open_key=key,
            linked_incident_id=alert_id,
            checklist=rule.checklist,
        )
        ticket_id, entries = open_ticket(conn, draft, sla, at, actor=actor, note=signal.message)
        ticket_state = "open"
    rows.update_incident(conn, alert_id, linked_incident_id=ticket_id)
    entries.append(
        rows.add_entry(
            conn,
            alert_id,
            at=at,
            actor=actor,
            action="linked",
            from_state="active",
            to_state="active",
            note=f"linked ticket #{ticket_id}",
        )
    )
    entries.append(
        rows.add_entry(
            conn,
            ticket_id,
            at=at,
            actor=actor,
            action="linked",
            from_state=ticket_state,
            to_state=ticket_state,
            note=f"linked alert #{alert_id}",
        )
    )
    return entries

"""Disablement (isolation, SPEC §8.1): readings of the target are stored and evaluated, but
what it would raise opens nothing and sends nothing; it is recorded on the disablement
instead. A life-safety disablement over 8 h opens a P2 "fire protection impaired" ticket.
When it ends, a condition still present raises at once."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta

import sqlalchemy as sa

from rules.audit import log as audit
from rules.db.schema import disablements as table
from rules.incidents import opening, rows
from rules.incidents.record import OPEN_STATES, TimelineEntry
from rules.incidents.sla import SlaPolicy
from rules.operations import records, seen
from rules.operations.errors import AlreadyEnded
from rules.operations.records import Disablement
from rules.operations.targets import Target

DISABLE_MAX = timedelta(days=7)  # SPEC §8.1
IMPAIRED_AFTER = timedelta(hours=8)  # a life-safety disablement longer than this opens a ticket
IMPAIRED_PRIORITY = "P2"
Entries = list[TimelineEntry]
Replay = Callable[[sa.Connection, seen.SeenSignal, datetime, str], Entries]


def create(conn: sa.Connection, target: Target, *, reason: str, until: datetime, actor: str,
           now: datetime, life_safety: bool, sla: SlaPolicy) -> tuple[Disablement, Entries]:
    """Record a disablement (and its impairment ticket when it must have one)."""
    disablement_id = records.insert(conn, table, {
        **target.as_dict(), "reason": reason, "life_safety": life_safety, "created_by": actor,
        "created_at": now, "until": until,
    })
    entries: Entries = []
    if life_safety and until - now > IMPAIRED_AFTER:
        where = target.device_id or target.zone or "the whole site"
        draft = opening.TicketDraft(
            title=f"Fire protection impaired: {where} disabled",
            description=(f"Disablement #{disablement_id} by {actor} until {until.isoformat()}: "
                         f"{reason}. Fire detection there raises nothing meanwhile: run a fire "
                         "watch and keep the impairment as short as possible."),
            department="maintenance", priority=IMPAIRED_PRIORITY, site=target.site,
            zone=target.zone, device_id=target.device_id,
            open_key=f"disablement:{disablement_id}|impaired",
        )
        ticket_id, entries = opening.open_ticket(conn, draft, sla, now, actor=actor,
                                                 note=f"disablement #{disablement_id}")
        conn.execute(table.update().where(table.c.id == disablement_id)
                     .values(impairment_ticket_id=ticket_id))
    made = get(conn, disablement_id)
    audit.record(conn, actor=actor, action="disablement.create", at=now, site=target.site,
                 target=f"disablement:{disablement_id}",
                 detail={**target.as_dict(), "reason": reason, "until": until,
                         "life_safety": life_safety,
                         "impairment_ticket_id": made.impairment_ticket_id})
    return made, entries


def get(conn: sa.Connection, disablement_id: int) -> Disablement:
    """One disablement (UnknownTarget if none)."""
    return records.fetch(conn, table, Disablement, disablement_id, "disablement")


def listed(conn: sa.Connection, *, active_at: datetime | None = None, limit: int = 500,
           offset: int = 0) -> list[Disablement]:
    """Disablements newest first (only those in force at `active_at` if given)."""
    return records.listed(conn, table, Disablement, active_at=active_at, limit=limit,
                          offset=offset)


def suppressed(conn: sa.Connection, disablement_id: int) -> list[seen.SeenSignal]:
    """What the disablement hid, first seen first."""
    return seen.listed(conn, "disablement", disablement_id)


def end(conn: sa.Connection, disablement_id: int, *, actor: str, at: datetime,
        present: Callable[[sa.Connection, seen.SeenSignal], bool],
        replay: Replay) -> tuple[Disablement, Entries]:
    """End it: resolve its impairment ticket, raise what is still present (AlreadyEnded)."""
    current = records.fetch(conn, table, Disablement, disablement_id, "disablement",
                            for_update=True)
    if not records.close(conn, table, disablement_id, actor=actor, at=at):
        raise AlreadyEnded(f"disablement {disablement_id} ended at {current.ended_at} "
                           f"by {current.ended_by}")
    audit.record(conn, actor=actor, action="disablement.end", at=at, site=current.site,
                 target=f"disablement:{disablement_id}", detail={"until": current.until})
    entries: Entries = []
    if current.impairment_ticket_id is not None:
        entries += _close_ticket(conn, current.impairment_ticket_id, disablement_id, actor, at)
    why = f"still present when disablement #{disablement_id} ended"
    for hidden in suppressed(conn, disablement_id):
        if present(conn, hidden):
            entries += replay(conn, hidden, at, why)
    return get(conn, disablement_id), entries


def expire(conn: sa.Connection, now: datetime,
           present: Callable[[sa.Connection, seen.SeenSignal], bool],
           replay: Replay, sites: Collection[str] | None = None) -> Entries:
    """End every disablement whose `until` has come ("system"), at `sites` (None: all)."""
    entries: Entries = []
    for disablement_id in records.due(conn, table, now, records.at_sites(table.c.site, sites)):
        entries += end(conn, disablement_id, actor="system", at=now, present=present,
                       replay=replay)[1]
    return entries


def disabled_points(conn: sa.Connection, now: datetime) -> list[dict[str, object]]:
    """The standing condition for status: each disablement in force, with its target."""
    return [
        {"id": d.id, "site": d.site, "zone": d.zone, "device_id": d.device_id,
         "until": d.until, "life_safety": d.life_safety}
        for d in listed(conn, active_at=now)
    ]


def _close_ticket(conn: sa.Connection, ticket_id: int, disablement_id: int, actor: str,
                  at: datetime) -> Entries:
    ticket = rows.fetch(conn, ticket_id, for_update=True)
    if ticket.state not in OPEN_STATES:
        return []
    rows.update_incident(conn, ticket_id, state="resolved", resolved_at=at, open_key=None)
    return [rows.add_entry(conn, ticket_id, at=at, actor=actor, action="auto_resolved",
                           from_state=ticket.state, to_state="resolved",
                           note=f"disablement #{disablement_id} ended")]

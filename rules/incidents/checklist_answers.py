"""Answering a ticket's checklist item, in one write with its timeline entry; a failed item
may open one follow-up ticket, linked to the original, however often the answer is posted."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from rules.audit import log as audit
from rules.incidents import checklists, rows
from rules.incidents.checklists import ChecklistClosed, ChecklistItem, UnknownItem
from rules.incidents.opening import TicketDraft, open_ticket
from rules.incidents.record import Incident, TimelineEntry
from rules.incidents.sla import SlaPolicy

if TYPE_CHECKING:
    from rules.incidents.service import IncidentService

TITLE_MAX = 200  # a follow-up's title, as a ticket opened by hand may have


class Checklists:
    """Reads and answers ticket checklists through the incident service's transactions."""

    def __init__(
        self, engine: sa.Engine, incidents: IncidentService, clock: Callable[[], float] = time.time
    ) -> None:
        self._engine = engine
        self._incidents = incidents
        self._clock = clock

    def items(self, incident_id: int) -> list[ChecklistItem]:
        """The ticket's checklist in order (empty when it has none)."""
        with self._engine.connect() as conn:
            return checklists.items(conn, incident_id)

    def answer(
        self, incident_id: int, position: int, *, result: str, note: str, actor: str,
        follow_up: bool = False, now: float | None = None, actor_token_id: int | None = None,
    ) -> Incident:
        """Record `result` (done, failed, n/a) for item `position` (IncidentNotFound,
        UnknownItem, ChecklistClosed); `follow_up` on a failed item opens its follow-up
        ticket unless one was opened already. The same answer again changes nothing."""
        at = datetime.fromtimestamp(self._clock() if now is None else now, UTC)
        sla = self._incidents.sla

        def work(conn: sa.Connection) -> tuple[Incident, list[TimelineEntry]]:
            ticket = rows.fetch(conn, incident_id, for_update=True)  # answers queue up here
            entries = _answer(conn, sla, ticket, position, result, note, actor, follow_up, at,
                              actor_token_id)
            return ticket, entries + self._incidents.opened_in(conn, entries, at)

        self._incidents.write(work)
        return self._incidents.get(incident_id)


def _answer(
    conn: sa.Connection, sla: SlaPolicy, ticket: Incident, position: int, result: str, note: str,
    actor: str, follow_up: bool, at: datetime, actor_token_id: int | None,
) -> list[TimelineEntry]:
    found = checklists.items(conn, ticket.id)
    item = next((i for i in found if i.position == position), None)
    if item is None:
        raise UnknownItem(ticket.id, position, len(found))
    if not ticket.is_open:
        raise ChecklistClosed(ticket.id, position, ticket.state)
    opens = follow_up and result == "failed" and item.follow_up_incident_id is None
    if (item.result, item.note) == (result, note) and not opens:
        return []  # posted twice: already recorded
    entries: list[TimelineEntry] = []
    follow_up_id = None
    if opens:
        follow_up_id, entries = _open_follow_up(conn, sla, ticket, item, note, actor, at,
                                                actor_token_id)
    checklists.record_answer(conn, ticket.id, position, result=result, note=note, actor=actor,
                             at=at, follow_up_incident_id=follow_up_id)
    audit.record(conn, actor=actor, action="incident.check", target=f"incident:{ticket.id}",
                 at=at, site=ticket.site, actor_token_id=actor_token_id,
                 detail={"item": position, "result": result, "note": note,
                         "follow_up_incident_id": follow_up_id})
    text = f"item {position} {result}: {item.text}" + (f" — {note}" if note else "")
    if follow_up_id is not None:
        text += f" (follow-up ticket #{follow_up_id})"
    entries.insert(0, rows.add_entry(
        conn, ticket.id, at=at, actor=actor, action="checked", from_state=ticket.state,
        to_state=ticket.state, note=text, actor_token_id=actor_token_id,
    ))
    return entries


def _open_follow_up(
    conn: sa.Connection, sla: SlaPolicy, ticket: Incident, item: ChecklistItem, note: str,
    actor: str, at: datetime, actor_token_id: int | None,
) -> tuple[int, list[TimelineEntry]]:
    """A new ticket for a failed item: same place and department, linked to the original."""
    title = f"Follow-up of #{ticket.id}: {item.text}"
    if len(title) > TITLE_MAX:
        title = title[: TITLE_MAX - 1] + "…"
    said = f": {note}" if note else ""
    draft = TicketDraft(
        title=title,
        description=f"Checklist item {item.position} of ticket #{ticket.id} ({ticket.title}) "
        f"failed{said}",
        department=ticket.department,
        priority=ticket.priority or "P3",
        site=ticket.site,
        zone=ticket.zone,
        device_id=ticket.device_id,
        location=ticket.location,
        linked_incident_id=ticket.id,
    )
    new_id, entries = open_ticket(
        conn, draft, sla, at, actor=actor,
        note=f"follow-up of ticket #{ticket.id}, checklist item {item.position} failed{said}",
        actor_token_id=actor_token_id,
    )
    return new_id, entries

"""A ticket's checklist (SPEC §8.4): its rule's steps, its schedule's inspection items or items
given by hand, stored with the ticket; a ticket resolves only once every item has a result."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from rules.db.schema import incident_checklist_items as items_table
from rules.incidents.record import IllegalTransition

RESULTS = ("done", "failed", "n/a")
ITEMS_MAX = 50  # items on one checklist
TEXT_MAX = 500  # characters of one item


@dataclass(frozen=True)
class ChecklistItem:
    """One item of a ticket's checklist and its answer (result None: not answered yet)."""

    position: int  # 1, 2, ...: the item's number in the API
    text: str
    result: str | None  # done | failed | n/a
    note: str
    answered_by: str | None
    answered_at: datetime | None
    follow_up_incident_id: int | None  # the ticket a failed item opened


class UnknownItem(LookupError):
    """The ticket has no item with this number (the API answers 404)."""

    def __init__(self, incident_id: int, position: int, count: int) -> None:
        has = f"it has items 1 to {count}" if count else "it has no checklist"
        super().__init__(f"incident {incident_id} has no checklist item {position}; {has}")


class ChecklistClosed(IllegalTransition):
    """An item of a resolved or cancelled ticket cannot be answered (the API answers 409)."""

    def __init__(self, incident_id: int, position: int, state: str) -> None:
        super().__init__(incident_id, "answer", state)
        self.args = (
            f"cannot answer checklist item {position} of incident {incident_id}: it is {state}",
        )


class ChecklistUnanswered(IllegalTransition):
    """Resolving a ticket whose checklist has unanswered items (the API answers 409)."""

    def __init__(self, incident_id: int, state: str, missing: list[ChecklistItem]) -> None:
        listed = "; ".join(f"{i.position}. {_short(i.text)}" for i in missing)
        super().__init__(
            incident_id, "resolve", state,
            f"{len(missing)} checklist item(s) unanswered: {listed}. Answer each done, failed "
            f"or n/a (POST /api/v1/incidents/{incident_id}/checklist/ITEM) first",
        )
        self.missing = [i.position for i in missing]


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def add_items(conn: sa.Connection, incident_id: int, texts: Iterable[str]) -> None:
    """Give a new ticket its checklist, numbered from 1 in the order given."""
    rows = [{"incident_id": incident_id, "position": n, "text": text, "note": ""}
            for n, text in enumerate(texts, start=1)]
    if rows:
        conn.execute(sa.insert(items_table), rows)


def items(conn: sa.Connection, incident_id: int) -> list[ChecklistItem]:
    """The ticket's checklist in order (empty when it has none)."""
    c = items_table.c
    found = conn.execute(
        sa.select(c.position, c.text, c.result, c.note, c.answered_by, c.answered_at,
                  c.follow_up_incident_id)
        .where(c.incident_id == incident_id).order_by(c.position)
    ).all()
    return [ChecklistItem(*row) for row in found]


def require_answered(conn: sa.Connection, incident_id: int, state: str) -> None:
    """ChecklistUnanswered unless every item of the ticket has a result."""
    missing = [i for i in items(conn, incident_id) if i.result is None]
    if missing:
        raise ChecklistUnanswered(incident_id, state, missing)


def record_answer(
    conn: sa.Connection, incident_id: int, position: int, *, result: str, note: str, actor: str,
    at: datetime, follow_up_incident_id: int | None = None,
) -> None:
    """Store an item's answer (and the follow-up ticket it opened, when it opened one)."""
    values: dict[str, object] = dict(result=result, note=note, answered_by=actor, answered_at=at)
    if follow_up_incident_id is not None:
        values["follow_up_incident_id"] = follow_up_incident_id
    c = items_table.c
    conn.execute(sa.update(items_table)
                 .where(c.incident_id == incident_id, c.position == position).values(**values))

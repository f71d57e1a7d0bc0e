"""One person's action on one incident, inside the caller's write transaction: the state
machine's move, its clocks and the timeline entry that says who did what."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from rules.audit import log as audit
from rules.engine.models import RulePack
from rules.incidents import checklists, rows
from rules.incidents import clocks as incident_clocks
from rules.incidents import rechecks as incident_rechecks
from rules.incidents.lifecycle import PAST_TENSE, next_state
from rules.incidents.record import (
    OPEN_STATES,
    Action,
    AssigneeRequired,
    ConditionStillPresent,
    NoteRequired,
    TimelineEntry,
)


def move(
    conn: sa.Connection, pack: RulePack, incident_id: int, action: Action, at: datetime, *,
    actor: str, note: str, assignee: str | None, force: bool, code: str | None, grace_s: float,
    actor_token_id: int | None = None,
) -> list[TimelineEntry]:
    """Apply `action` to the incident (IllegalTransition, ConditionStillPresent, ...);
    `actor_token_id` is the API token that acted, kept in the timeline entry."""
    current = rows.fetch(conn, incident_id, for_update=True)
    to_state = next_state(incident_id, current.kind, action, current.state)
    if action == "assign" and not assignee:
        raise AssigneeRequired(incident_id)
    values: dict[str, Any] = {"state": to_state}
    text = note
    if action == "resolve" and current.kind == "ticket":
        checklists.require_answered(conn, incident_id, current.state)  # SPEC §8.4
        present = incident_rechecks.condition(conn, pack, current)
        if present is not None and not force:
            raise ConditionStillPresent(incident_id, current.state, present)
        if present is not None:
            if not note.strip():
                raise NoteRequired(incident_id)
            incident_rechecks.plan(conn, current, at, grace_s)
            text = f"{note} (forced: condition still present, {present})"
    if to_state not in OPEN_STATES and current.state in OPEN_STATES:
        values.update(resolved_at=at, open_key=None, next_escalation_at=None)
    if action == "acknowledge":
        values.update(acknowledged_at=at, next_escalation_at=None)
    if action == "resolve" and code is not None:
        values["resolution_code"] = code
        text = f"{code}: {note}" if note else code
    if action in ("assign", "start") and current.acknowledged_at is None:
        values["acknowledged_at"] = at  # a ticket's first response stops its clock
    if action == "assign":
        values["assignee"] = assignee
        text = f"assigned to {assignee}" + (f": {note}" if note else "")
    elif action == "start" and current.assignee is None:
        values["assignee"] = actor  # starting an unassigned ticket takes it
        text = f"taken by {actor}" + (f": {note}" if note else "")
    rows.update_incident(conn, incident_id, **values)
    entries = [
        rows.add_entry(
            conn,
            incident_id,
            at=at,
            actor=actor,
            action=PAST_TENSE[action],
            from_state=current.state,
            to_state=to_state,
            note=text,
            actor_token_id=actor_token_id,
        )
    ]
    changed = {k: v for k, v in values.items() if k not in ("open_key", "next_escalation_at")}
    audit.record(conn, actor=actor, action=f"incident.{action}", target=f"incident:{incident_id}",
                 at=at, site=current.site, actor_token_id=actor_token_id,
                 detail={"kind": current.kind, "from_state": current.state, "note": text,
                         "changed": changed})
    if current.kind == "ticket":
        responded = "acknowledged_at" in values
        closed = "resolved_at" in values
        moved = dataclasses.replace(current, state=to_state)
        entries += incident_clocks.late_breaches(conn, moved, at, responded, closed)
    return entries

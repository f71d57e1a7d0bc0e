"""Declared emergencies (SPEC §8.3): a critical alert carrying the plan's checklist, which
reaches every notification route (every department) until it is resolved."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from rules.audit import log as audit
from rules.db.schema import incidents
from rules.incidents import rows
from rules.incidents.record import Incident, TimelineEntry
from rules.incidents.sla import SlaPolicy
from rules.operations.errors import UnknownTarget
from rules.operations.plans import Language, Plan
from rules.operations.targets import Target


def declare(conn: sa.Connection, plan_id: str, plan: Plan, target: Target, *, note: str,
            actor: str, now: datetime, sla: SlaPolicy,
            language: Language = "en") -> tuple[int, list[TimelineEntry]]:
    """Open the emergency's critical alert (its runbook is the plan); its id and entries."""
    after = sla.escalate_after("critical")
    title = f"Emergency: {plan.title.get(language)}"
    alert_id = rows.insert_incident(conn, {
        "kind": "alert", "rule_id": None, "title": title,
        "description": note or f"declared by {actor}", "department": "security",
        "severity": "critical", "state": "active", "site": target.site, "zone": target.zone,
        "device_id": target.device_id, "runbook": plan.render(language), "latching": True,
        "auto_resolve": False, "occurrences": 1, "opened_at": now, "last_seen_at": now,
        "next_escalation_at": None if after is None else now + after, "opened_by": actor,
        "open_key": None, "plan": plan_id, "group_id": None,
    })
    rows.update_incident(conn, alert_id, group_id=alert_id)  # heads its own group
    entry = rows.add_entry(conn, alert_id, at=now, actor=actor, action="opened",
                           from_state=None, to_state="active",
                           note=f"emergency declared: {plan_id}" + (f": {note}" if note else ""))
    audit.record(conn, actor=actor, action="emergency.declare", at=now, site=target.site,
                 target=f"incident:{alert_id}",
                 detail={"plan": plan_id, **target.as_dict(), "note": note})
    return alert_id, [entry]


def listed(conn: sa.Connection, *, open_only: bool = False, limit: int = 100,
           offset: int = 0) -> list[Incident]:
    """Declared emergencies newest first (only unresolved with `open_only`)."""
    c = incidents.c
    query = rows.select_incidents().where(c.plan.is_not(None))
    if open_only:
        query = query.where(c.state.in_(("active", "acknowledged")))
    found = conn.execute(query.order_by(c.id.desc()).limit(limit).offset(offset)).all()
    return [rows.to_incident(r) for r in found]


def get(conn: sa.Connection, emergency_id: int) -> Incident:
    """One declared emergency (UnknownTarget if the id is not one)."""
    found = conn.execute(rows.select_incidents().where(incidents.c.id == emergency_id,
                                                       incidents.c.plan.is_not(None))).first()
    if found is None:
        raise UnknownTarget(f"emergency {emergency_id} not found")
    return rows.to_incident(found)

"""Shelving (SPEC §8.1): a non-critical, non-life-safety alert leaves the active list (still
counted in status) and returns at `until` if it is still active. No escalation meanwhile."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta

import sqlalchemy as sa

from rules.audit import log as audit
from rules.db.schema import incidents
from rules.db.schema import shelvings as table
from rules.incidents import rows
from rules.incidents.record import IllegalTransition, Incident, TimelineEntry
from rules.operations import records
from rules.operations.errors import AlreadyEnded, InvalidField
from rules.operations.records import Shelving

SHELVE_MAX = timedelta(hours=24)  # SPEC §8.1
_OPEN_ALERT = ("active", "acknowledged")
Entries = list[TimelineEntry]
Escalation = Callable[[Incident, datetime], datetime | None]  # when it escalates next, if ever


def shelve(conn: sa.Connection, incident_id: int, *, until: datetime, note: str, actor: str,
           now: datetime, life_safety: bool) -> tuple[Shelving, Entries]:
    """Shelve an open alert (InvalidField for critical or life-safety; 409 if not shelvable)."""
    alert = rows.fetch(conn, incident_id, for_update=True)
    if alert.kind != "alert" or alert.state not in _OPEN_ALERT:
        raise IllegalTransition(incident_id, "shelve", alert.state)
    if alert.severity == "critical":
        raise InvalidField("incident_id", f"alert {incident_id} is critical: never shelved")
    if life_safety:
        raise InvalidField("incident_id",
                           f"alert {incident_id} is about a life-safety device: never shelved")
    if alert.shelved_until is not None:
        raise AlreadyEnded(f"alert {incident_id} is shelved already until "
                           f"{alert.shelved_until.isoformat()}")
    shelving_id = records.insert(conn, table, {"incident_id": incident_id, "note": note,
                                               "created_by": actor, "created_at": now,
                                               "until": until})
    rows.update_incident(conn, incident_id, shelved_until=until, next_escalation_at=None)
    audit.record(conn, actor=actor, action="incident.shelve", at=now, site=alert.site,
                 target=f"incident:{incident_id}",
                 detail={"shelving_id": shelving_id, "until": until, "note": note})
    text = f"shelved until {until.isoformat()}" + (f": {note}" if note else "")
    entry = rows.add_entry(conn, incident_id, at=now, actor=actor, action="shelved",
                           from_state=alert.state, to_state=alert.state, note=text)
    return get(conn, shelving_id), [entry]


def get(conn: sa.Connection, shelving_id: int) -> Shelving:
    """One shelving (UnknownTarget if none)."""
    return records.fetch(conn, table, Shelving, shelving_id, "shelving")


def listed(conn: sa.Connection, *, active_at: datetime | None = None, limit: int = 500,
           offset: int = 0) -> list[Shelving]:
    """Shelvings newest first (only those in force at `active_at` if given)."""
    return records.listed(conn, table, Shelving, active_at=active_at, limit=limit,
                          offset=offset)


def end(conn: sa.Connection, shelving_id: int, *, actor: str, at: datetime,
        escalation: Escalation) -> tuple[Shelving, Entries]:
    """Return the alert to the active list (AlreadyEnded if it has returned)."""
    current = records.fetch(conn, table, Shelving, shelving_id, "shelving", for_update=True)
    if not records.close(conn, table, shelving_id, actor=actor, at=at):
        raise AlreadyEnded(f"shelving {shelving_id} ended at {current.ended_at} "
                           f"by {current.ended_by}")
    alert = rows.fetch(conn, current.incident_id, for_update=True)
    audit.record(conn, actor=actor, action="incident.unshelve", at=at, site=alert.site,
                 target=f"incident:{alert.id}",
                 detail={"shelving_id": shelving_id, "until": current.until})
    if alert.shelved_until is None:
        return get(conn, shelving_id), []
    values: dict[str, object] = {"shelved_until": None}
    if alert.state == "active":
        values["next_escalation_at"] = escalation(alert, at)
    rows.update_incident(conn, alert.id, **values)
    if alert.state not in _OPEN_ALERT:
        return get(conn, shelving_id), []  # resolved while shelved: nothing returns
    entry = rows.add_entry(conn, alert.id, at=at, actor=actor, action="unshelved",
                           from_state=alert.state, to_state=alert.state,
                           note="back on the active list")
    return get(conn, shelving_id), [entry]


def expire(conn: sa.Connection, now: datetime, escalation: Escalation,
           sites: Collection[str] | None = None) -> Entries:
    """Return every alert whose shelving `until` has come ("system"), at `sites` (None: all)."""
    site = sa.select(incidents.c.site).where(incidents.c.id == table.c.incident_id)
    entries: Entries = []
    for shelving_id in records.due(conn, table, now,
                                   records.at_sites(site.scalar_subquery(), sites)):
        entries += end(conn, shelving_id, actor="system", at=now, escalation=escalation)[1]
    return entries

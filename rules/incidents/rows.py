"""Reading and writing incident rows and timeline entries inside a caller's transaction."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from rules.db.schema import incident_timeline, incidents
from rules.incidents.changefeed import hold_feed_lock
from rules.incidents.record import Incident, IncidentNotFound, TimelineEntry

INCIDENT_FIELDS = tuple(f.name for f in fields(Incident))
ENTRY_FIELDS = tuple(f.name for f in fields(TimelineEntry))
_INCIDENT_COLUMNS = [incidents.c[name] for name in INCIDENT_FIELDS]
# Statements built once, values passed as parameters: building `.values(**row)` or a where
# clause per call coerces every value into an expression, a large part of an alarm's cost.
_INSERT_INCIDENT = sa.insert(incidents)
_INSERT_ENTRY = sa.insert(incident_timeline)
_FETCH = sa.select(*_INCIDENT_COLUMNS).where(incidents.c.id == sa.bindparam("b_incident_id"))
_FETCH_FOR_UPDATE = _FETCH.with_for_update()


def open_key(rule_id: str, device_id: str | None) -> str:
    """The key that is unique among open incidents of one rule and device."""
    return f"{rule_id}|{device_id or ''}"


def linked_ticket_key(rule_id: str, device_id: str | None) -> str:
    """The open key of the ticket an alert of this rule and device opens beside itself."""
    return f"{open_key(rule_id, device_id)}|ticket"


def to_incident(row: sa.Row[Any]) -> Incident:
    """An Incident from a row holding the incident columns."""
    mapping = row._mapping
    return Incident(**{name: mapping[name] for name in INCIDENT_FIELDS})


def to_entry(row: sa.Row[Any]) -> TimelineEntry:
    """A TimelineEntry from a timeline row."""
    mapping = row._mapping
    return TimelineEntry(**{name: mapping[name] for name in ENTRY_FIELDS})


def select_incidents() -> sa.Select[Any]:
    """SELECT of every Incident column."""
    return sa.select(*_INCIDENT_COLUMNS)


def fetch(conn: sa.Connection, incident_id: int, *, for_update: bool = False) -> Incident:
    """The incident with this id (locked for update when asked), or IncidentNotFound."""
    row = conn.execute(_FETCH_FOR_UPDATE if for_update else _FETCH,
                       {"b_incident_id": incident_id}).first()
    if row is None:
        raise IncidentNotFound(incident_id)
    return to_incident(row)


def find_open(conn: sa.Connection, key: str) -> Incident | None:
    """The open incident holding `key`, locked for update, if any."""
    query = select_incidents().where(incidents.c.open_key == key).with_for_update()
    row = conn.execute(query).first()
    return None if row is None else to_incident(row)


def insert_incident(conn: sa.Connection, values: dict[str, Any]) -> int:
    """Insert an incident row and return its id (IntegrityError if its open_key is taken)."""
    result = conn.execute(_INSERT_INCIDENT, values)
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row always has one
    return int(key[0])


def update_incident(conn: sa.Connection, incident_id: int, **values: Any) -> None:
    """Set columns of one incident."""
    conn.execute(sa.update(incidents).where(incidents.c.id == incident_id).values(**values))


def add_entry(
    conn: sa.Connection,
    incident_id: int,
    *,
    at: datetime,
    actor: str,
    action: str,
    from_state: str | None,
    to_state: str | None,
    note: str = "",
    actor_token_id: int | None = None,
) -> TimelineEntry:
    """Append one timeline entry (`actor_token_id`: the API token that acted) with its id."""
    hold_feed_lock(conn)  # ids in commit order (rules/incidents/changefeed.py)
    values = {
        "incident_id": incident_id,
        "at": at,
        "actor": actor,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "note": note,
        "actor_token_id": actor_token_id,
    }
    result = conn.execute(_INSERT_ENTRY, values)
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row always has one
    return TimelineEntry(
        id=int(key[0]),
        incident_id=incident_id,
        at=at,
        actor=actor,
        action=action,
        from_state=from_state,
        to_state=to_state,
        note=note,
        actor_token_id=actor_token_id,
    )

"""Silences (SPEC §8.1): incidents matching every given matcher open and show as usual but
send no notification; never a critical alert's."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

import sqlalchemy as sa

from rules.audit import log as audit
from rules.db.schema import silences as table
from rules.incidents.record import Incident
from rules.operations import records
from rules.operations.errors import AlreadyEnded, InvalidField
from rules.operations.records import Silence

SILENCE_MAX = timedelta(days=7)  # a silence is for a known nuisance, not for ever
MATCHERS = ("site", "zone", "device_id", "rule", "department", "kind")
_COLUMNS = {"rule": "rule_id"}  # matcher name -> column, where they differ


def create(conn: sa.Connection, matchers: dict[str, str], *, until: datetime, comment: str,
           actor: str, now: datetime) -> Silence:
    """Record a silence (InvalidField: no matcher, or one this does not know)."""
    given = {k: v for k, v in matchers.items() if v is not None}
    if not given:
        raise InvalidField("matchers", f"give at least one of {', '.join(MATCHERS)}")
    unknown = sorted(set(given) - set(MATCHERS))
    if unknown:
        raise InvalidField(f"matchers.{unknown[0]}", f"not a matcher; use {', '.join(MATCHERS)}")
    values = {_COLUMNS.get(k, k): v for k, v in given.items()}
    silence_id = records.insert(conn, table, {**values, "comment": comment, "created_by": actor,
                                              "created_at": now, "until": until})
    audit.record(conn, actor=actor, action="silence.create", at=now, site=given.get("site"),
                 target=f"silence:{silence_id}",
                 detail={"matchers": given, "until": until, "comment": comment})
    return get(conn, silence_id)


def get(conn: sa.Connection, silence_id: int) -> Silence:
    """One silence (UnknownTarget if none)."""
    return records.fetch(conn, table, Silence, silence_id, "silence")


def listed(conn: sa.Connection, *, active_at: datetime | None = None, limit: int = 500,
           offset: int = 0) -> list[Silence]:
    """Silences newest first (only those in force at `active_at` if given)."""
    return records.listed(conn, table, Silence, active_at=active_at, limit=limit, offset=offset)


def end(conn: sa.Connection, silence_id: int, *, actor: str, at: datetime) -> Silence:
    """End a silence now (AlreadyEnded if it has)."""
    current = get(conn, silence_id)
    if not records.close(conn, table, silence_id, actor=actor, at=at):
        raise AlreadyEnded(f"silence {silence_id} ended at {current.ended_at} "
                           f"by {current.ended_by}")
    audit.record(conn, actor=actor, action="silence.end", at=at, site=current.site,
                 target=f"silence:{silence_id}", detail={"until": current.until})
    return get(conn, silence_id)


def expire(conn: sa.Connection, now: datetime, sites: Collection[str] | None = None) -> int:
    """Record the end of silences whose `until` has come ("system"), at `sites` (None: all);
    how many."""
    ended = 0
    for silence_id in records.due(conn, table, now, records.at_sites(table.c.site, sites)):
        ended += records.close(conn, table, silence_id, actor="system", at=now)
    return ended


def matches(silence: Silence, incident: Incident) -> bool:
    """Whether every matcher the silence gives holds for the incident."""
    pairs = ((silence.site, incident.site), (silence.zone, incident.zone),
             (silence.device_id, incident.device_id), (silence.rule_id, incident.rule_id),
             (silence.department, incident.department), (silence.kind, incident.kind))
    return all(want is None or want == have for want, have in pairs)


def silenced(conn: sa.Connection, incident: Incident, at: datetime) -> Silence | None:
    """The silence in force at `at` that mutes this incident, if any (never a critical alert)."""
    if incident.kind == "alert" and incident.severity == "critical":
        return None
    for silence in listed(conn, active_at=at):
        if matches(silence, incident):
            return silence
    return None

"""Walk tests (SPEC §8.1): alarms from the target open alerts marked `test` that never
escalate or notify (except routes that ask for tests) and resolve when the test ends; the
report lists each device of the target with the time it first alarmed."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from devices.registry import Registry
from rules.audit import log as audit
from rules.db.schema import incidents
from rules.db.schema import walk_tests as table
from rules.incidents import rows
from rules.incidents.record import TimelineEntry
from rules.operations import records, seen
from rules.operations.disablements import Replay
from rules.operations.errors import AlreadyEnded
from rules.operations.records import WalkTest
from rules.operations.targets import Target

TEST_MAX = timedelta(hours=24)  # a walk test is a shift's work, not a standing condition
Entries = list[TimelineEntry]


def create(conn: sa.Connection, target: Target, *, note: str, until: datetime, actor: str,
           now: datetime) -> WalkTest:
    """Record a walk test."""
    test_id = records.insert(conn, table, {**target.as_dict(), "note": note, "created_by": actor,
                                           "created_at": now, "until": until})
    audit.record(conn, actor=actor, action="walktest.start", at=now, site=target.site,
                 target=f"walktest:{test_id}",
                 detail={**target.as_dict(), "note": note, "until": until})
    return get(conn, test_id)


def get(conn: sa.Connection, test_id: int) -> WalkTest:
    """One walk test (UnknownTarget if none)."""
    return records.fetch(conn, table, WalkTest, test_id, "test")


def listed(conn: sa.Connection, *, active_at: datetime | None = None, limit: int = 500,
           offset: int = 0) -> list[WalkTest]:
    """Walk tests newest first (only those in force at `active_at` if given)."""
    return records.listed(conn, table, WalkTest, active_at=active_at, limit=limit,
                          offset=offset)


def report(conn: sa.Connection, test: WalkTest, registry: Registry) -> list[dict[str, Any]]:
    """Each device of the target with the time it first alarmed (None: untested)."""
    first: dict[str, datetime] = {}
    for hit in seen.listed(conn, "test", test.id):
        if hit.device_id not in first or hit.first_at < first[hit.device_id]:
            first[hit.device_id] = hit.first_at
    target = Target(test.site, test.zone, test.device_id)
    out = [{"device_id": d.id, "name": d.name, "kind": d.kind, "zone": d.zone,
            "first_alarm_at": first.pop(d.id, None)} for d in target.devices(registry)]
    out += [{"device_id": device_id, "name": "", "kind": None, "zone": None,
             "first_alarm_at": at} for device_id, at in sorted(first.items())]
    return out


def end(conn: sa.Connection, test_id: int, *, actor: str, at: datetime,
        present: Callable[[sa.Connection, seen.SeenSignal], bool],
        replay: Replay) -> tuple[WalkTest, Entries]:
    """End it: resolve its test alerts (code `test`), raise what still holds (AlreadyEnded)."""
    current = records.fetch(conn, table, WalkTest, test_id, "test", for_update=True)
    if not records.close(conn, table, test_id, actor=actor, at=at):
        raise AlreadyEnded(f"test {test_id} ended at {current.ended_at} by {current.ended_by}")
    audit.record(conn, actor=actor, action="walktest.end", at=at, site=current.site,
                 target=f"walktest:{test_id}", detail={"until": current.until})
    entries: Entries = []
    c = incidents.c
    still_open = conn.execute(
        rows.select_incidents().where(c.test_id == test_id, c.state.in_(("active",
                                                                         "acknowledged")))
    ).all()
    for row in still_open:
        alert = rows.to_incident(row)
        rows.update_incident(conn, alert.id, state="resolved", resolved_at=at, open_key=None,
                             next_escalation_at=None, resolution_code="test")
        entries.append(rows.add_entry(conn, alert.id, at=at, actor=actor, action="resolved",
                                      from_state=alert.state, to_state="resolved",
                                      note=f"test: walk test #{test_id} ended"))
    why = f"still present when walk test #{test_id} ended"
    for hit in seen.listed(conn, "test", test_id):
        if present(conn, hit):
            entries += replay(conn, hit, at, why)
    return get(conn, test_id), entries


def expire(conn: sa.Connection, now: datetime,
           present: Callable[[sa.Connection, seen.SeenSignal], bool],
           replay: Replay, sites: Collection[str] | None = None) -> Entries:
    """End every walk test whose `until` has come ("system"), at `sites` (None: all)."""
    entries: Entries = []
    for test_id in records.due(conn, table, now, records.at_sites(table.c.site, sites)):
        entries += end(conn, test_id, actor="system", at=now, present=present,
                       replay=replay)[1]
    return entries

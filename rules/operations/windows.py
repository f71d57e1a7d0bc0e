"""Maintenance windows through the API (SPEC §8.1), over rules/notify/windows.py's table:
tickets opened inside one are marked and their SLA clocks start at its end; alerts never."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from rules.audit import log as audit
from rules.db.schema import maintenance_windows as table
from rules.incidents import rows
from rules.incidents.record import Incident, TimelineEntry
from rules.operations import records
from rules.operations.errors import AlreadyEnded, InvalidField, UnknownTarget

WINDOW_MAX = timedelta(days=30)  # the longest window one may plan


@dataclass(frozen=True)
class Window:
    """A maintenance window as the API shows it."""

    id: int
    site: str | None
    zone: str | None
    device_id: str | None
    start: datetime
    end: datetime
    note: str
    created_by: str
    created_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _window(r: Any) -> Window:
    return Window(id=r.id, site=r.site, zone=r.zone, device_id=r.device_id,
                  start=_dt(r.start_at) or datetime.min, end=_dt(r.end_at) or datetime.min,
                  note=r.reason, created_by=r.created_by, created_at=_dt(r.created_at),
                  ended_at=_dt(r.ended_at), ended_by=r.ended_by)


def create(conn: sa.Connection, *, site: str, zone: str | None, device_id: str | None,
           start: datetime, end: datetime, note: str, actor: str, now: datetime) -> Window:
    """Plan a window on a zone or a device of a site (InvalidField naming what is wrong)."""
    if (zone is None) == (device_id is None):
        raise InvalidField("matchers", "give exactly one of zone or device_id (and the site)")
    if end <= start:
        raise InvalidField("end", "must be after start")
    if end <= now:
        raise InvalidField("end", "is in the past")
    if end - start > WINDOW_MAX:
        raise InvalidField("end", f"a window lasts at most {WINDOW_MAX.days} days")
    values = {"site": site, "zone": zone, "device_id": device_id, "start_at": start.timestamp(),
              "end_at": end.timestamp(), "reason": note, "created_by": actor,
              "created_at": now.timestamp()}
    new_id = conn.execute(table.insert().values(**values)).inserted_primary_key
    assert new_id is not None
    audit.record(conn, actor=actor, action="window.create", at=now, site=site,
                 target=f"window:{new_id[0]}",
                 detail={"zone": zone, "device_id": device_id, "start": start, "end": end,
                         "note": note})
    return get(conn, int(new_id[0]))


def get(conn: sa.Connection, window_id: int) -> Window:
    """One window (UnknownTarget when there is none)."""
    row = conn.execute(sa.select(table).where(table.c.id == window_id)).first()
    if row is None:
        raise UnknownTarget(f"maintenance window {window_id} not found")
    return _window(row)


def listed(conn: sa.Connection, *, active_at: datetime | None = None) -> list[Window]:
    """Every window newest first, or those not yet over at `active_at`."""
    query = sa.select(table).order_by(table.c.id.desc())
    if active_at is not None:
        query = query.where(table.c.end_at > active_at.timestamp())
    return [_window(r) for r in conn.execute(query)]


def end(conn: sa.Connection, window_id: int, *, actor: str, now: datetime) -> Window:
    """End a window now (AlreadyEnded if it is over)."""
    window = get(conn, window_id)
    if window.end <= now or window.ended_at is not None:
        raise AlreadyEnded(f"maintenance window {window_id} has already ended")
    conn.execute(table.update().where(table.c.id == window_id).values(
        end_at=max(now.timestamp(), window.start.timestamp()), ended_at=now.timestamp(),
        ended_by=actor))
    audit.record(conn, actor=actor, action="window.end", at=now, site=window.site,
                 target=f"window:{window_id}", detail={"planned_end": window.end})
    return get(conn, window_id)


def expire(conn: sa.Connection, now: datetime, sites: Collection[str] | None = None) -> int:
    """Record the end of windows whose end has passed ("system"), at `sites` (None: all);
    how many."""
    return int(conn.execute(table.update().where(
        table.c.ended_at.is_(None), table.c.end_at <= now.timestamp(),
        *records.at_sites(table.c.site, sites),
    ).values(ended_at=table.c.end_at, ended_by="system")).rowcount)


def mark_ticket(conn: sa.Connection, ticket: Incident, at: datetime) -> list[TimelineEntry]:
    """A ticket opened inside a window: marked, its SLA clocks restarted at the window's end."""
    if ticket.site is None or (ticket.zone is None and ticket.device_id is None):
        return []
    ts = at.timestamp()
    c = table.c
    where_device = sa.or_(c.device_id == ticket.device_id,
                          sa.and_(c.device_id.is_(None), c.zone == ticket.zone))
    row = conn.execute(
        sa.select(table).where(c.site == ticket.site, c.start_at <= ts, c.end_at > ts,
                               where_device).order_by(c.end_at.desc()).limit(1)
    ).first()
    if row is None:
        return []
    ends = datetime.fromtimestamp(row.end_at, UTC)
    values: dict[str, Any] = {"window_id": row.id}
    if ticket.respond_by is not None:
        values["respond_by"] = ends + (ticket.respond_by - ticket.opened_at)
    if ticket.resolve_by is not None:
        values["resolve_by"] = ends + (ticket.resolve_by - ticket.opened_at)
    rows.update_incident(conn, ticket.id, **values)
    return [rows.add_entry(conn, ticket.id, at=at, actor="system", action="in_window",
                           from_state=ticket.state, to_state=ticket.state,
                           note=f"opened in maintenance window #{row.id}: SLA clocks start at "
                                f"{ends.isoformat()}")]

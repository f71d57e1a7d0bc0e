"""The operations' own records as the rest of the code reads them: who made each, why, until
when, and who ended it when (what the audit log will read)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from rules.operations.errors import UnknownTarget

R = TypeVar("R")


@dataclass(frozen=True)
class Timed:
    """What every operation carries."""

    id: int
    created_by: str
    created_at: datetime
    until: datetime  # ends by itself here
    ended_at: datetime | None  # ended early by a person, or at `until` by "system"
    ended_by: str | None

    def active(self, now: datetime) -> bool:
        """Not ended and not past `until`."""
        return self.ended_at is None and now < self.until


@dataclass(frozen=True)
class Disablement(Timed):
    """An isolation of a site, zone or device (SPEC §8.1)."""

    site: str
    zone: str | None
    device_id: str | None
    reason: str
    life_safety: bool
    impairment_ticket_id: int | None


@dataclass(frozen=True)
class WalkTest(Timed):
    """A walk test of a site, zone or device (SPEC §8.1)."""

    site: str
    zone: str | None
    device_id: str | None
    note: str


@dataclass(frozen=True)
class Silence(Timed):
    """Matchers whose incidents send no notification (never a critical alert's)."""

    site: str | None
    zone: str | None
    device_id: str | None
    rule_id: str | None
    department: str | None
    kind: str | None
    comment: str


@dataclass(frozen=True)
class Shelving(Timed):
    """A non-critical alert taken off the active list until `until`."""

    incident_id: int
    note: str


def to_record(cls: type[R], row: Any) -> R:
    """A record of `cls` from a row holding its columns."""
    mapping = row._mapping
    return cls(**{f.name: mapping[f.name] for f in fields(cls)})  # type: ignore[arg-type]


def fetch(conn: sa.Connection, table: sa.Table, cls: type[R], item_id: int, what: str,
          *, for_update: bool = False) -> R:
    """One record by id (UnknownTarget when there is none)."""
    query = sa.select(table).where(table.c.id == item_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise UnknownTarget(f"{what} {item_id} not found")
    return to_record(cls, row)


def listed(conn: sa.Connection, table: sa.Table, cls: type[R], *,
           active_at: datetime | None = None, limit: int = 500, offset: int = 0) -> list[R]:
    """Records newest first; with `active_at`, only those still in force then."""
    query = sa.select(table).order_by(table.c.id.desc()).limit(limit).offset(offset)
    if active_at is not None:
        query = query.where(table.c.ended_at.is_(None), table.c.until > active_at)
    return [to_record(cls, r) for r in conn.execute(query)]


def insert(conn: sa.Connection, table: sa.Table, values: dict[str, Any]) -> int:
    """Insert one row; its id."""
    key = conn.execute(table.insert().values(**values)).inserted_primary_key
    assert key is not None  # one row always has one
    return int(key[0])


def close(conn: sa.Connection, table: sa.Table, item_id: int, *, actor: str,
          at: datetime) -> bool:
    """Mark one record ended (False when it already was: the caller answers 409)."""
    done = conn.execute(table.update().where(table.c.id == item_id, table.c.ended_at.is_(None))
                        .values(ended_at=at, ended_by=actor)).rowcount
    return bool(done)


def at_sites(site: sa.ColumnElement[Any], sites: Collection[str] | None,
             ) -> list[sa.ColumnElement[bool]]:
    """`site` one of these sites, or none (SITEWATCH_SITES, SPEC §11); `sites` None: all.

    What has no site (a silence matching any site, an unsited ticket's shelving) is expired
    by every instance: `close` ends a record once, and the losers' runs skip it."""
    if sites is None:
        return []
    return [sa.or_(site.in_(sorted(sites)), site.is_(None))]


def due(conn: sa.Connection, table: sa.Table, now: datetime,
        where: Sequence[sa.ColumnElement[bool]] = ()) -> list[int]:
    """Ids of records still open whose `until` has come (and that meet `where`)."""
    query = sa.select(table.c.id).where(table.c.ended_at.is_(None), table.c.until <= now, *where)
    return [int(i) for i in conn.execute(query.order_by(table.c.id)).scalars()]

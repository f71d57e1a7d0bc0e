"""Writing and reading the append-only audit log.

`record` is called inside the transaction of the change it records, so the entry commits with
the change or not at all. System actions (a rule opening or auto-resolving an incident, an
escalation, an expiry) are in the incident timeline and are not audited.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from rules.db.schema import api_tokens, audit_log

SYSTEM = "system"  # the actor of the scheduler's own changes: never an audit entry
PAGE_MAX = 500  # entries per page at most


@dataclass(frozen=True)
class AuditEntry:
    """One change: who (`actor`, and the API token when one acted), when, what and where."""

    id: int
    at: datetime
    actor: str
    actor_token_id: int | None
    action: str  # "<kind>.<verb>", e.g. incident.acknowledge, token.create
    target: str  # "<kind>:<id>", e.g. incident:42, token:alice, device:site-a/smoke-01
    site: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class Filters:
    """What `page` selects; None: any. `action` without a dot is a family (`incident`), and
    `target` without a colon is a kind (`device`); otherwise both match exactly."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    through_id: int | None = None  # only entries up to this id: pages that new entries never shift


def cli_actor() -> str:
    """The actor of a CLI command: `cli:` and the operating-system user who ran it."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (a bare container)
        return "cli"


def plain(value: Any) -> Any:
    """`value` as JSON can hold it: datetimes in ISO 8601, tuples and sets as lists."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


def record(conn: sa.Connection, *, actor: str, action: str, target: str, at: datetime,
           site: str | None = None, detail: dict[str, Any] | None = None,
           actor_token_id: int | None = None) -> None:
    """Append one entry in the caller's transaction (nothing for the SYSTEM actor).

    Without `actor_token_id`, the live API token named `actor` is taken: live names are unique
    and only a live token acts, so it is the one that acted (none for `cli:...` or SIGHUP)."""
    if actor == SYSTEM:
        return
    if actor_token_id is None:
        actor_token_id = conn.execute(sa.select(api_tokens.c.id).where(
            api_tokens.c.name == actor, api_tokens.c.revoked_at.is_(None))).scalar()
    conn.execute(audit_log.insert().values(
        at=at, actor=actor, actor_token_id=actor_token_id, action=action, target=target,
        site=site, detail=plain(detail or {})))


def _where(filters: Filters) -> list[sa.ColumnElement[bool]]:
    c = audit_log.c
    where: list[sa.ColumnElement[bool]] = []
    if filters.actor is not None:
        where.append(c.actor == filters.actor)
    if filters.action is not None:
        where.append(c.action == filters.action if "." in filters.action
                     else c.action.startswith(f"{filters.action}.", autoescape=True))
    if filters.target is not None:
        where.append(c.target == filters.target if ":" in filters.target
                     else c.target.startswith(f"{filters.target}:", autoescape=True))
    if filters.start is not None:
        where.append(c.at >= filters.start)
    if filters.end is not None:
        where.append(c.at < filters.end)
    if filters.through_id is not None:
        where.append(c.id <= filters.through_id)
    return where


def page(conn: sa.Connection, filters: Filters, *, limit: int = 100,
         offset: int = 0) -> tuple[list[AuditEntry], int]:
    """Entries matching `filters`, newest first, and how many match in total."""
    where = _where(filters)
    total = conn.execute(sa.select(sa.func.count()).select_from(audit_log).where(*where)).scalar()
    found = conn.execute(sa.select(audit_log).where(*where)
                         .order_by(audit_log.c.id.desc()).limit(limit).offset(offset)).all()
    return [AuditEntry(**r._mapping) for r in found], int(total or 0)


def last_id(engine: sa.Engine) -> int:
    """The newest entry's id (0 when there is none)."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(audit_log.c.id))).scalar() or 0)


def entries(engine: sa.Engine, filters: Filters, *, limit: int = 100,
            offset: int = 0) -> tuple[list[AuditEntry], int]:
    """`page` on a connection of its own (the API and the CLI read with this)."""
    with engine.connect() as conn:
        return page(conn, filters, limit=limit, offset=offset)

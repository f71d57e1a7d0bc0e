"""Calendar tokens: a read-only link to the maintenance calendar for a calendar app, which
cannot send an Authorization header. One purpose, revocable, never an API credential."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from api.tokens import hash_token
from rules.audit import log as audit
from rules.db.database import WRITE
from rules.db.schema import calendar_tokens

CALENDAR_PREFIX = "swcal_"  # recognisable in logs and secret scanners, unlike an API token


@dataclass(frozen=True)
class CalendarToken:
    """A calendar link's record (never its secret)."""

    id: int
    name: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


def create_calendar_token(engine: sa.Engine, name: str, created_by: str) -> str:
    """A new calendar token named `name`; returns the plaintext, which is never stored."""
    if not name.strip() or len(name) > 128:
        raise ValueError("calendar token name: 1 to 128 characters")
    token = CALENDAR_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with engine.execution_options(**WRITE).begin() as conn:
        made = conn.execute(calendar_tokens.insert().values(
            name=name, token_hash=hash_token(token), created_by=created_by, created_at=now,
        )).inserted_primary_key
        assert made is not None
        audit.record(conn, actor=created_by, action="calendar_link.create", at=now,
                     target=f"calendar_link:{name}", detail={"calendar_token_id": made[0]})
    return token


def calendar_token_valid(engine: sa.Engine, token: str) -> bool:
    """True for an existing, unrevoked calendar token."""
    if not token.startswith(CALENDAR_PREFIX):
        return False
    with engine.connect() as conn:
        row = conn.execute(sa.select(calendar_tokens.c.revoked_at).where(
            calendar_tokens.c.token_hash == hash_token(token)
        )).first()
    return row is not None and row.revoked_at is None


def revoke_calendar_tokens(engine: sa.Engine, name: str, actor: str | None = None) -> int:
    """Revoke every live calendar token named `name`; returns how many. `actor` (default:
    the CLI's user) is audited."""
    now = datetime.now(UTC)
    with engine.execution_options(**WRITE).begin() as conn:
        n = int(conn.execute(calendar_tokens.update().where(
            calendar_tokens.c.name == name, calendar_tokens.c.revoked_at.is_(None)
        ).values(revoked_at=now)).rowcount)
        if n:
            audit.record(conn, actor=actor or audit.cli_actor(), action="calendar_link.revoke",
                         at=now, target=f"calendar_link:{name}", detail={"revoked": n})
        return n


def list_calendar_tokens(engine: sa.Engine) -> list[CalendarToken]:
    """Every calendar token, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(
            calendar_tokens.c.id, calendar_tokens.c.name, calendar_tokens.c.created_by,
            calendar_tokens.c.created_at, calendar_tokens.c.revoked_at,
        ).order_by(calendar_tokens.c.id)).all()
    return [CalendarToken(**r._asdict()) for r in rows]

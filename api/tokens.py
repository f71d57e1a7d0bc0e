"""API tokens: creation (plaintext shown once), the bootstrap admin token, revocation.

Only the SHA-256 of a token is stored. A fast hash is enough here because every token is a
256-bit random secret, not a password a person chose: there is no dictionary to try and
brute force over 2**256 is out of reach, so a slow KDF (bcrypt, argon2) would only add
latency to every request. The hash also lets the lookup be one indexed equality query.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa

from rules.audit import log as audit
from rules.db.database import WRITE
from rules.db.schema import api_tokens

ROLES = ("viewer", "security", "maintenance", "admin")
BOOTSTRAP_NAME = "bootstrap"  # the name of the admin token from SITEWATCH_BOOTSTRAP_TOKEN
TOKEN_PREFIX = "sw_"  # so a leaked token is recognisable in logs and secret scanners
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class TokenError(ValueError):
    """A token cannot be created: bad name, unknown role or a name already taken."""


def _writer(engine: sa.Engine) -> sa.Engine:
    # SQLite: BEGIN IMMEDIATE. These transactions read, then write; a deferred one fails at
    # once with "database is locked" when the rules worker wrote in between.
    return engine.execution_options(**WRITE)


def hash_token(token: str) -> str:
    """The stored form of a token: SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_SITE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # SPEC §2's site ids
_SECRET_RE = re.compile(r"^[A-Za-z0-9\-._~+/]{16,512}=*$")  # what a bearer header can carry


def _check(name: str, role: str, sites: list[str] | None) -> None:
    if not _NAME_RE.match(name):
        raise TokenError(f"token name {name!r} must match {_NAME_RE.pattern}")
    if role not in ROLES:
        raise TokenError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if sites is not None:
        if not sites:
            raise TokenError("--sites needs at least one site")
        for site in sites:
            if not _SITE_RE.match(site):
                raise TokenError(f"site {site!r} must match {_SITE_RE.pattern}")


def create_token(
    engine: sa.Engine, name: str, role: str, *, sites: list[str] | None = None,
    expires_at: datetime | None = None, actor: str | None = None,
) -> str:
    """Create a token named `name` with `role` (limited to `sites`, valid until `expires_at`
    when given); returns the plaintext, which is never stored.

    A revoked token's name may be taken again: the new token gets its own id, so history
    written by the old one stays apart. `actor` (default: the CLI's user) is audited.
    """
    _check(name, role, sites)
    if expires_at is not None and expires_at.tzinfo is None:
        raise TokenError("the expiry needs a time zone")
    token = new_token_secret()
    with _writer(engine).begin() as conn:
        taken = conn.execute(
            sa.select(api_tokens.c.id).where(
                api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None)
            )
        ).first()
        if taken is not None:
            raise TokenError(f"a token named {name!r} already exists")
        now = datetime.now(UTC)
        made = conn.execute(
            api_tokens.insert().values(
                name=name, role=role, token_hash=hash_token(token), created_at=now,
                sites=",".join(sorted(set(sites))) if sites else None, expires_at=expires_at,
            )
        ).inserted_primary_key
        assert made is not None
        audit.record(conn, actor=actor or audit.cli_actor(), action="token.create", at=now,
                     target=f"token:{name}",
                     detail={"token_id": made[0], "role": role, "sites": sorted(set(sites or [])),
                             "expires_at": expires_at})
    return token


def ensure_bootstrap_token(engine: sa.Engine, token: str) -> bool:
    """Make `token` a valid admin token named "bootstrap", unless that secret was revoked.

    A revoked bootstrap secret stays revoked however often the service restarts with it
    set (False is returned and the caller logs it); a new secret value replaces the live
    bootstrap token.
    """
    if not _SECRET_RE.match(token):
        raise TokenError(
            "the bootstrap token must be 16 to 512 characters of A-Z a-z 0-9 - . _ ~ + /"
        )
    digest = hash_token(token)
    c = api_tokens.c
    with _writer(engine).begin() as conn:
        same = conn.execute(
            sa.select(c.id, c.name, c.revoked_at).where(c.token_hash == digest)
        ).first()
        if same is not None:
            if same.name != BOOTSTRAP_NAME:
                raise TokenError("the bootstrap token is already in use by another token")
            return same.revoked_at is None
        conn.execute(  # a new secret: the old live bootstrap token (if any) stops working
            api_tokens.update()
            .where(c.name == BOOTSTRAP_NAME, c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        now = datetime.now(UTC)
        conn.execute(
            api_tokens.insert().values(
                name=BOOTSTRAP_NAME, role="admin", token_hash=digest, created_at=now,
            )
        )
        audit.record(conn, actor="SITEWATCH_BOOTSTRAP_TOKEN", action="token.create", at=now,
                     target=f"token:{BOOTSTRAP_NAME}", detail={"role": "admin"})
    return True


def revoke_token(engine: sa.Engine, name: str, *, actor: str | None = None) -> bool:
    """Revoke the token named `name`; False if there is no such live token. `actor`
    (default: the CLI's user) is audited."""
    with _writer(engine).begin() as conn:
        live = conn.execute(sa.select(api_tokens.c.id).where(
            api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))).scalar()
        if live is None:
            return False
        now = datetime.now(UTC)
        conn.execute(api_tokens.update().where(api_tokens.c.id == live).values(revoked_at=now))
        audit.record(conn, actor=actor or audit.cli_actor(), action="token.revoke", at=now,
                     target=f"token:{name}", detail={"token_id": live})
    return True


def list_tokens(engine: sa.Engine) -> list[dict[str, object]]:
    """Every token's id, name, role, sites and dates (never the secret), oldest first."""
    cols = api_tokens.c
    query = sa.select(
        cols.id, cols.name, cols.role, cols.sites, cols.created_at, cols.last_used_at,
        cols.revoked_at, cols.expires_at,
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query.order_by(cols.id))]


def new_token_secret() -> str:
    """A fresh token secret: the prefix and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)

"""Bearer-token authentication and role checks, as FastAPI dependencies."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.limits import ApiLimits
from api.schemas import ErrorOut
from api.tokens import hash_token
from rules.db.schema import api_tokens
from rules.incidents.record import IncidentStoreUnavailable

TOUCH_EVERY_S = 60.0  # write last_used_at at most once a minute per token, not per request
ACTS_ON: dict[str, frozenset[str]] = {  # incident kind -> roles that may change it
    "alert": frozenset({"security", "admin"}),
    "ticket": frozenset({"maintenance", "admin"}),
}
READERS = frozenset({"viewer", "security", "maintenance", "admin"})
ACTORS = frozenset({"security", "maintenance", "admin"})  # may act on some incident
TICKET_OPENERS = frozenset({"maintenance", "security", "admin"})  # a guard may report a fault

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No token, or not a valid one"},
    403: {"model": ErrorOut, "description": "The token's role may not do this"},
    413: {"model": ErrorOut, "description": "The request body is over 64 KiB"},
    429: {"model": ErrorOut, "description": "Over the token's request rate: see Retry-After"},
    503: {"model": ErrorOut, "description": "The database is unavailable: retry later"},
}
BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body cannot be read (not UTF-8 JSON)"},
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name (the actor in timelines), role, sites and id."""

    name: str
    role: str
    sites: frozenset[str] | None = None  # None: every site; else only these (SPEC §7)
    token_id: int = 0  # the token's row, which keeps one name's successive tokens apart

    def sees(self, site: str | None) -> bool:
        """True when this caller may see something at `site` (unsited things: every caller)."""
        return self.sites is None or site is None or site in self.sites


def _sites(text: str | None) -> frozenset[str] | None:
    return frozenset(text.split(",")) if text else None


class TokenAuth:
    """Looks a bearer token up by its hash; remembers when each token was last used."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._clock = clock
        self._touched: dict[int, float] = {}  # token id -> clock() of the last write
        self._lock = threading.Lock()

    def lookup(self, token: str) -> Principal | str:
        """The live token's principal, or why not: "unknown", "revoked" or "expired"."""
        c = api_tokens.c
        try:
            with self._engine.connect() as conn:
                row = conn.execute(
                    sa.select(c.id, c.name, c.role, c.sites, c.revoked_at, c.expires_at)
                    .where(c.token_hash == hash_token(token))
                ).first()
            failure = _failure(row)
            if failure is not None or row is None:
                return failure or "unknown"
            self._touch(row.id)
        except sa.exc.OperationalError as e:  # the app answers 503: retry later
            raise IncidentStoreUnavailable(str(e.orig)) from e
        return Principal(row.name, row.role, _sites(row.sites), row.id)

    def principal(self, token: str) -> Principal | None:
        """The live (not revoked, not expired) token's principal, or None."""
        found = self.lookup(token)
        return found if isinstance(found, Principal) else None

    def is_live(self, token_id: int) -> bool:
        """True while the token is neither revoked nor expired (open streams ask this)."""
        c = api_tokens.c
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(c.revoked_at, c.expires_at).where(c.id == token_id)
            ).first()
        return _failure(row) is None

    def _touch(self, token_id: int) -> None:
        now = self._clock()
        with self._lock:
            if now - self._touched.get(token_id, float("-inf")) < TOUCH_EVERY_S:
                return
            self._touched[token_id] = now
        with self._engine.begin() as conn:
            conn.execute(
                api_tokens.update()
                .where(api_tokens.c.id == token_id)
                .values(last_used_at=datetime.now(UTC))
            )


def _failure(row: Any) -> str | None:
    if row is None:
        return "unknown"
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
        return "expired"
    return None


_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer sw_...`")
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-._~+/]{1,512}=*")  # RFC 6750's b64token, bounded


def unauthorized(detail: str) -> HTTPException:
    """401 with the challenge header RFC 6750 asks for."""
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


_DETAIL = {
    "missing": "a bearer token is required (Authorization: Bearer <token>)",
    "malformed": "the Authorization header is not `Bearer <token>`",
    "unknown": "the token is not valid or has been revoked",
    "revoked": "the token is not valid or has been revoked",  # same words: no oracle
    "expired": "the token has expired",
}


def current_principal(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller, or 401 (counted and logged without the secret); 429 over the rate."""
    limits: ApiLimits = request.app.state.limits
    address = request.client.host if request.client else "unknown"
    limits.check_address(address)
    scheme, _sep, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if not scheme:
        reason: str = "missing"
    elif scheme.lower() != "bearer" or not _TOKEN_RE.fullmatch(token):
        reason = "malformed"
    else:
        auth: TokenAuth = request.app.state.auth
        found = auth.lookup(token)
        if isinstance(found, Principal):
            limits.hit_token(found.token_id)
            return found
        reason = found
    fingerprint = hash_token(token)[:8] if token else ""
    limits.failed(reason, address, request.url.path, fingerprint)
    raise unauthorized(_DETAIL[reason])


def require(roles: frozenset[str]) -> Callable[[Principal], Principal]:
    """A dependency that lets only `roles` through (403 otherwise)."""

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(
                403, f"role {principal.role!r} may not do this; needs one of {sorted(roles)}"
            )
        return principal

    return check


Reader = Annotated[Principal, Depends(require(READERS))]
Actor = Annotated[Principal, Depends(require(ACTORS))]  # acts on some incident; kind checked later


def check_may_act(principal: Principal, kind: str) -> None:
    """403 unless the principal's role may change an incident of this kind."""
    if principal.role not in ACTS_ON.get(kind, frozenset()):
        raise HTTPException(
            403, f"role {principal.role!r} may not act on {kind}s; needs one of "
            f"{sorted(ACTS_ON.get(kind, frozenset()))}"
        )

"""Bearer-token authentication and role checks, as FastAPI dependencies."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
    503: {"model": ErrorOut, "description": "The database is unavailable: retry later"},
}
BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body cannot be read (not UTF-8 JSON)"},
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name (the actor in timelines) and its role."""

    name: str
    role: str


class TokenAuth:
    """Looks a bearer token up by its hash; remembers when each token was last used."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._clock = clock
        self._touched: dict[int, float] = {}  # token id -> clock() of the last write
        self._lock = threading.Lock()

    def principal(self, token: str) -> Principal | None:
        """The live (not revoked) token's principal, or None."""
        try:
            with self._engine.connect() as conn:
                row = conn.execute(
                    sa.select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.role).where(
                        api_tokens.c.token_hash == hash_token(token),
                        api_tokens.c.revoked_at.is_(None),
                    )
                ).first()
            if row is None:
                return None
            self._touch(row.id)
        except sa.exc.OperationalError as e:  # the app answers 503: retry later
            raise IncidentStoreUnavailable(str(e.orig)) from e
        return Principal(row.name, row.role)

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


_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer sw_...`")


def unauthorized(detail: str) -> HTTPException:
    """401 with the challenge header RFC 6750 asks for."""
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def current_principal(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller, or 401."""
    if creds is None or not creds.credentials:
        raise unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    auth: TokenAuth = request.app.state.auth
    principal = auth.principal(creds.credentials)
    if principal is None:
        raise unauthorized("the token is not valid or has been revoked")
    return principal


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

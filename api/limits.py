"""SPEC §7's limits: body size (413), per-token request rates (429), per-token stream slots.

The body limit is an ASGI middleware, so a too-large body is refused from its
Content-Length before any route, dependency or parser runs, and a body sent without one
(chunked) is cut off once it passes the limit. A body sent to the API without any bearer
token is refused (401) before a byte of it is read.

Rates use the `limits` library's moving window in memory: one process serves the API, and a
restart forgetting the windows only forgives a minute of traffic.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import TYPE_CHECKING

from fastapi import HTTPException
from fastapi.dependencies.models import Dependant
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import Counter
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from api.settings import Settings

log = logging.getLogger(__name__)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUTH_FAILURE_REASONS = ("missing", "malformed", "unknown", "revoked", "expired")


class BodyTooLarge(HTTPException):
    """The request body passed the limit while it was being read (413)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body over {max_bytes} bytes")


async def _answer(send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]]) -> None:
    body = ('{"detail": "' + detail + '"}').encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})


def needs_token(router: Router, scope: Scope) -> bool:
    """True when the route `scope` goes to asks for a bearer token (unmatched: True too).

    So a route that takes a body without a bearer token (a signed link, say) still gets it.
    """
    from api.auth import current_principal  # api.auth imports this module

    for route in router.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            dependant = getattr(route, "dependant", None)
            return dependant is None or _calls(dependant, current_principal)
    return True


def _calls(dependant: Dependant, call: object) -> bool:
    return dependant.call is call or any(_calls(d, call) for d in dependant.dependencies)


class BodyLimit:
    """ASGI middleware: 413 for bodies over `max_bytes`, 401 for unauthenticated API bodies."""

    def __init__(self, app: ASGIApp, max_bytes: int, router: Router | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes  # bytes of request body, SPEC §7: 64 KiB
        self.router = router  # to tell routes that need a token from those that do not

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the headers, then count the body's bytes as the app reads them."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _answer(send, 400, "Content-Length is not a number", [])
                return
            if declared > self.max_bytes:
                await _answer(send, 413, f"request body over {self.max_bytes} bytes", [])
                return
        has_body = (length is not None and length != b"0") or b"transfer-encoding" in headers
        authorization = headers.get(b"authorization", b"")
        if (has_body and scope["method"] in BODY_METHODS
                and scope["path"].startswith("/api/")
                and authorization[:7].lower() != b"bearer "
                and (self.router is None or needs_token(self.router, scope))):
            await _answer(send, 401, "a bearer token is required (Authorization: Bearer <token>)",
                          [(b"www-authenticate", b"Bearer")])
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await _answer(send, 413, f"request body over {self.max_bytes} bytes", [])


class TooManyRequests(HTTPException):
    """429 with the seconds until the window lets the caller in again."""

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(429, detail, headers={"Retry-After": str(retry_after_s)})


class ApiLimits:
    """Per-token request rates, failed-authentication rates per address, stream slots."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_token = parse(settings.rate_limit)
        self._per_address = parse(settings.auth_fail_limit)
        self.streams_per_token = settings.streams_per_token
        self._streams: dict[int, int] = {}  # token id -> open streams
        self._lock = threading.Lock()
        self.auth_failures = Counter(
            "sitewatch_api_auth_failures",
            "Requests refused 401, by reason (missing, malformed, unknown, revoked, expired).",
            ["reason"], registry=registry,
        )
        for reason in AUTH_FAILURE_REASONS:
            self.auth_failures.labels(reason)
        self.refused = Counter(
            "sitewatch_api_rate_limited",
            "Requests refused 429, by what was over its limit (token, address, streams).",
            ["limit"], registry=registry,
        )

    def _retry_after(self, item: object, key: str) -> int:
        stats = self._limiter.get_window_stats(item, key)  # type: ignore[arg-type]
        return max(1, math.ceil(stats.reset_time - time.time()))

    def hit_token(self, token_id: int) -> None:
        """Count one request of a token; 429 when it is over its rate."""
        key = f"token:{token_id}"
        if not self._limiter.hit(self._per_token, key):
            self.refused.labels("token").inc()
            retry = self._retry_after(self._per_token, key)
            raise TooManyRequests(f"over this token's rate of {self._per_token}", retry)

    def check_address(self, address: str) -> None:
        """429 when this address has failed to authenticate too often of late."""
        key = f"addr:{address}"
        if not self._limiter.test(self._per_address, key):
            self.refused.labels("address").inc()
            raise TooManyRequests(
                "too many failed authentications from this address",
                self._retry_after(self._per_address, key),
            )

    def failed(self, reason: str, address: str, path: str, fingerprint: str) -> None:
        """Count and log a failed authentication (`fingerprint`: a hash prefix, not the token)."""
        self.auth_failures.labels(reason).inc()
        if reason != "missing":  # a guess at a token, not a page loaded before signing in
            self._limiter.hit(self._per_address, f"addr:{address}")
        log.warning("authentication failed (%s) from %s on %s, token sha256 %s",
                    reason, address, path, fingerprint or "-")

    def open_stream(self, token_id: int) -> None:
        """Take one of the token's stream slots; 429 when it holds them all."""
        with self._lock:
            held = self._streams.get(token_id, 0)
            if held >= self.streams_per_token:
                self.refused.labels("streams").inc()
                raise TooManyRequests(
                    f"this token already holds {held} open streams (at most "
                    f"{self.streams_per_token}); close one", 5,
                )
            self._streams[token_id] = held + 1

    def close_stream(self, token_id: int) -> None:
        """Give a stream slot back."""
        with self._lock:
            held = self._streams.get(token_id, 0) - 1
            if held > 0:
                self._streams[token_id] = held
            else:
                self._streams.pop(token_id, None)

"""GET /api/v1/stream: every incident change as a Server-Sent Event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import sqlalchemy as sa
from fastapi import APIRouter, Header, HTTPException, Query, Request
from sse_starlette import EventSourceResponse

from api.auth import AUTH_ERRORS, Principal, Reader, TokenAuth
from api.broadcast import IncidentBroadcaster, TooManyClients
from api.endpoints import API_PREFIX, ID_MAX
from api.limits import ApiLimits
from api.schemas import ErrorOut
from api.sites import frame_visible
from rules.db.schema import incident_timeline

router = APIRouter(prefix=API_PREFIX, tags=["stream"])
REPLAY_MAX = 5_000  # changes replayed at most; an older Last-Event-ID resumes this far back


def bounded_resume(engine: sa.Engine, after: int) -> int:
    """`after`, or the id REPLAY_MAX changes before the newest when `after` is older."""
    with engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(incident_timeline.c.id))).scalar() or 0
    return max(after, newest - REPLAY_MAX)


async def _still_live(auth: TokenAuth, principal: Principal) -> bool:
    try:
        return await asyncio.to_thread(auth.is_live, principal.token_id)
    except sa.exc.SQLAlchemyError:
        return True  # the database is down: keep the stream; the next check decides


class EventStreamResponse(EventSourceResponse):
    """sse-starlette's response (no-store, no proxy buffering, disconnect and shutdown
    handling); frames come pre-rendered from the broadcaster, and so do the heartbeats."""

    media_type = "text/event-stream"


@router.get(
    "/stream",
    response_class=EventStreamResponse,
    responses={
        200: {
            "description": (
                "Server-Sent Events. Each event has `id:` = the timeline entry id, `event:` = "
                "its action (opened, repeated, acknowledged, ...), and `data:` = a JSON "
                "StreamEvent {entry, incident}. Comment lines every ~15 s keep it alive."
            ),
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **AUTH_ERRORS,
        429: {"model": ErrorOut, "description": "Over the rate, or this token holds too many "
              "streams: see Retry-After"},
        503: {
            "model": ErrorOut,
            "description": "Too many stream clients, or the database is down: retry later",
        },
    },
)
async def stream(
    principal: Reader,
    request: Request,
    last_event_id_header: int | None = Header(
        None, alias="Last-Event-ID", ge=0, le=ID_MAX,
        description="Resume after this event id (sent by EventSource on reconnect)",
    ),
    last_event_id: int | None = Query(
        None, ge=0, le=ID_MAX, description="Resume after this event id (the header wins)"
    ),
) -> EventStreamResponse:
    """Replays the changes after Last-Event-ID (at most REPLAY_MAX), then streams live ones.

    A site-scoped token sees its sites' changes only; a token revoked or expired while its
    stream is open is cut off at the next heartbeat at the latest.
    """
    broadcaster: IncidentBroadcaster = request.app.state.broadcaster
    limits: ApiLimits = request.app.state.limits
    auth: TokenAuth = request.app.state.auth
    heartbeat_s: float = request.app.state.heartbeat_s
    after = last_event_id_header if last_event_id_header is not None else last_event_id
    if after is not None:
        after = await asyncio.to_thread(bounded_resume, request.app.state.runtime.engine, after)
    limits.open_stream(principal.token_id)
    try:
        events = broadcaster.events(after, heartbeat_s)
        first = await anext(events)  # attaches the client now, or refuses it now
    except TooManyClients as e:
        limits.close_stream(principal.token_id)
        raise HTTPException(503, str(e), headers={"Retry-After": "5"}) from e
    except BaseException:
        limits.close_stream(principal.token_id)
        raise

    async def body() -> AsyncIterator[bytes]:
        checked = time.monotonic()
        try:
            yield first.encode()
            async for text in events:
                # Half a heartbeat apart at least: an idle stream checks at every keep-alive.
                if time.monotonic() - checked >= heartbeat_s / 2:
                    checked = time.monotonic()
                    if not await _still_live(auth, principal):
                        return
                if frame_visible(principal, text):
                    yield text.encode()  # bytes: sse-starlette sends them as they are
        finally:
            await events.aclose()  # detaches the client however the response ended
            limits.close_stream(principal.token_id)

    # ping=0: the broadcaster's own heartbeat comments keep the stream alive
    return EventStreamResponse(body(), ping=0, headers={"Cache-Control": "no-cache"})

"""GET /api/v1/stream: every incident change as a Server-Sent Event."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, HTTPException, Query, Request
from sse_starlette import EventSourceResponse

from api.auth import AUTH_ERRORS, Reader
from api.broadcast import IncidentBroadcaster, TooManyClients
from api.endpoints import API_PREFIX, ID_MAX
from api.schemas import ErrorOut

router = APIRouter(prefix=API_PREFIX, tags=["stream"])


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
        503: {
            "model": ErrorOut,
            "description": "Too many stream clients, or the database is down: retry later",
        },
    },
)
async def stream(
    _: Reader,
    request: Request,
    last_event_id_header: int | None = Header(
        None, alias="Last-Event-ID", ge=0, le=ID_MAX,
        description="Resume after this event id (sent by EventSource on reconnect)",
    ),
    last_event_id: int | None = Query(
        None, ge=0, le=ID_MAX, description="Resume after this event id (the header wins)"
    ),
) -> EventStreamResponse:
    """Replays the changes after Last-Event-ID, then streams live ones."""
    broadcaster: IncidentBroadcaster = request.app.state.broadcaster
    after = last_event_id_header if last_event_id_header is not None else last_event_id
    try:
        events = broadcaster.events(after, request.app.state.heartbeat_s)
        first = await anext(events)  # attaches the client now, or refuses it now
    except TooManyClients as e:
        raise HTTPException(503, str(e), headers={"Retry-After": "5"}) from e

    async def body() -> AsyncIterator[bytes]:
        try:
            yield first.encode()
            async for text in events:
                yield text.encode()  # bytes: sse-starlette sends them as they are
        finally:
            await events.aclose()  # detaches the client however the response ended

    # ping=0: the broadcaster's own heartbeat comments keep the stream alive
    return EventStreamResponse(body(), ping=0, headers={"Cache-Control": "no-cache"})

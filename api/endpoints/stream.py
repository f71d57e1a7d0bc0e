"""GET /api/v1/stream: every incident change as a Server-Sent Event."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from api.auth import AUTH_ERRORS, Reader
from api.broadcast import IncidentBroadcaster, TooManyClients
from api.endpoints import API_PREFIX, ID_MAX
from api.schemas import ErrorOut

router = APIRouter(prefix=API_PREFIX, tags=["stream"])


class EventStreamResponse(StreamingResponse):
    """A text/event-stream response that no proxy should buffer or cache."""

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

    async def body() -> AsyncIterator[str]:
        try:
            yield first
            async for text in events:
                yield text
        finally:
            await events.aclose()  # detaches the client however the response ended

    return EventStreamResponse(
        body(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )

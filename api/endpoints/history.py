"""GET /api/v1/devices/{id}/events: a device's event history from the telemetry store, paged."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from api.auth import AUTH_ERRORS, Reader
from api.csv_export import CSV_ANSWER, csv_lines, csv_response
from api.endpoints import API_PREFIX, OFFSET_MAX, RuntimeDep, utc
from api.endpoints.devices import DeviceId
from api.endpoints.telemetry import INSTANT_PATTERN, _bad, parse_instant
from api.schemas import METRIC_PATTERN, ErrorOut
from api.sites import device_visible
from ingest.stores.base import EVENTS_PAGE_MAX, StoreUnavailable

router = APIRouter(prefix=API_PREFIX, tags=["devices"])
DEFAULT_RANGE_S = 24 * 3600.0  # no start given: the last day
RANGE_MAX_S = 31 * 24 * 3600.0  # longer ranges: 422


class EventOut(BaseModel):
    """One stored event."""

    ts: datetime
    event: str
    data: dict[str, Any]
    seq: int | None


class EventPage(BaseModel):
    """One page of a device's events, oldest first."""

    device_id: str
    start: datetime
    end: datetime
    items: list[EventOut]
    limit: int
    offset: int
    next_offset: int | None  # where the next page starts; None when this page is the last


@router.get(
    "/devices/{device_id}/events",
    response_model=EventPage,
    responses={
        **AUTH_ERRORS,
        **CSV_ANSWER,
        404: {"model": ErrorOut, "description": "No such device and no events"},
        503: {"model": ErrorOut, "description": "Telemetry store unavailable: retry later"},
    },
)
def device_events(
    rt: RuntimeDep,
    principal: Reader,
    device_id: DeviceId,
    event: str | None = Query(None, pattern=METRIC_PATTERN, description="Only this event"),
    start: str | None = Query(None, max_length=64, pattern=INSTANT_PATTERN,
                              description="ISO 8601 or Unix seconds; default a day before end"),
    end: str | None = Query(None, max_length=64, pattern=INSTANT_PATTERN,
                            description="ISO 8601 or Unix seconds; default now"),
    limit: int = Query(100, ge=1, le=EVENTS_PAGE_MAX),
    offset: int = Query(0, ge=0, le=OFFSET_MAX),
    format: Literal["json", "csv"] = Query("json", description="csv: this page as CSV"),
) -> Any:
    """Events in [start, end), oldest first (e.g. who badged at a door last night)."""
    if principal.sites is not None:  # an unheard device's site is unknown: 404 as well
        state = rt.liveness.state(device_id, rt.clock())
        device_visible(principal, device_id, state.site if state is not None else None)
    end_s = parse_instant("end", end) if end is not None else rt.clock()
    start_s = parse_instant("start", start) if start is not None else end_s - DEFAULT_RANGE_S
    if end_s <= start_s:
        raise _bad("end", "must be after start", end)
    if end_s - start_s > RANGE_MAX_S:
        raise _bad("start", f"range longer than {RANGE_MAX_S / 86400:.0f} days", start)
    try:
        found = rt.store.events(device_id, start_s, end_s, event, limit + 1, offset)
    except StoreUnavailable as e:
        raise HTTPException(503, f"telemetry store unavailable, retry later: {e}") from e
    if not found and rt.liveness.state(device_id, rt.clock()) is None:
        raise HTTPException(404, f"device {device_id!r} is neither registered nor heard")
    page = found[:limit]
    if format == "csv":
        rows = ((utc(e.ts), e.event, json.dumps(e.data, sort_keys=True), e.seq) for e in page)
        return csv_response(csv_lines(("ts", "event", "data", "seq"), rows),
                            f"{device_id}-events.csv")
    return EventPage(
        device_id=device_id, start=utc(start_s), end=utc(end_s),
        items=[EventOut(ts=utc(e.ts), event=e.event, data=e.data, seq=e.seq) for e in page],
        limit=limit, offset=offset,
        next_offset=offset + limit if len(found) > limit else None,
    )

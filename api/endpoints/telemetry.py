"""GET /api/v1/devices/{id}/telemetry: a metric's history, raw or averaged per `every`."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.exceptions import RequestValidationError

from api.auth import AUTH_ERRORS, Reader
from api.csv_export import CSV_ANSWER, csv_lines, csv_response
from api.endpoints import API_PREFIX, RuntimeDep, utc
from api.endpoints.devices import DeviceId
from api.schemas import METRIC_PATTERN, ErrorOut, SampleOut, TelemetryOut
from api.sites import device_visible
from ingest.stores.base import BadData, StoreUnavailable
from rules.engine.durations import parse_duration

router = APIRouter(prefix=API_PREFIX, tags=["devices"])
DEFAULT_RANGE_S = 3600.0  # no start given: the last hour
RAW_RANGE_MAX_S = 24 * 3600.0  # longer raw ranges need `every`
POINTS_MAX = 10_000  # expected points (raw or buckets) above which the range is refused
EVERY_RE = re.compile(r"^([1-9][0-9]{0,6})(s|m|h|d)$")
INSTANT_PATTERN = r"^(-?[0-9]+(\.[0-9]+)?|[0-9]{4}-[0-9]{2}-[0-9]{2}([T ].*)?)$"  # Unix s or ISO
TS_MIN, TS_MAX = 0.0, 253402300799.0  # 1970-01-01 .. 9999-12-31T23:59:59Z


def _bad(field: str, msg: str, value: str | None) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", field), "msg": msg, "input": value}]
    )


def parse_instant(field: str, text: str) -> float:
    """ISO 8601 (naive means UTC) or Unix seconds -> Unix seconds; 422 naming the field."""
    try:
        ts = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise _bad(field, "not ISO 8601 nor Unix seconds", text) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        ts = parsed.timestamp()
    if not math.isfinite(ts) or not TS_MIN <= ts <= TS_MAX:
        raise _bad(field, "out of range (1970 .. 9999)", text)
    return ts


def parse_every(text: str) -> float:
    """`30s`, `5m`, `1h`, `1d` -> seconds."""
    if EVERY_RE.match(text) is None:
        raise _bad("every", "must look like 30s, 5m, 1h or 1d", text)
    return parse_duration(text)


@router.get(
    "/devices/{device_id}/telemetry",
    response_model=TelemetryOut,
    responses={
        **AUTH_ERRORS,
        **CSV_ANSWER,
        400: {
            "model": ErrorOut,
            "description": "Range too large (pass a larger `every`), or a metric that cannot "
            "be averaged",
        },
        404: {"model": ErrorOut, "description": "No such device"},
        503: {"model": ErrorOut, "description": "Telemetry store unavailable: retry later"},
    },
)
def telemetry(
    rt: RuntimeDep,
    principal: Reader,
    device_id: DeviceId,
    metric: str = Query(pattern=METRIC_PATTERN),
    start: str | None = Query(
        None, max_length=64, pattern=INSTANT_PATTERN, description="ISO 8601 or Unix seconds"
    ),
    end: str | None = Query(
        None, max_length=64, pattern=INSTANT_PATTERN, description="ISO 8601 or Unix seconds"
    ),
    every: str | None = Query(None, pattern=EVERY_RE.pattern, description="e.g. 30s, 5m, 1h"),
    limit: int = Query(POINTS_MAX, ge=1, le=POINTS_MAX, description="Most rows returned"),
    format: Literal["json", "csv"] = Query("json", description="csv: ts,value rows, streamed"),
) -> Any:
    """Samples in [start, end), oldest first; default the last hour."""
    end_s = parse_instant("end", end) if end is not None else rt.clock()
    start_s = parse_instant("start", start) if start is not None else end_s - DEFAULT_RANGE_S
    if end_s <= start_s:
        raise _bad("end", "must be after start", end)
    every_s = parse_every(every) if every is not None else None
    span = end_s - start_s
    state = rt.liveness.state(device_id, rt.clock())
    if principal.sites is not None:  # a scoped caller sees only devices it can place
        device_visible(principal, device_id, state.site if state is not None else None)
    if every_s is not None:
        if span / every_s > POINTS_MAX:
            raise HTTPException(
                400, f"{span / every_s:.0f} buckets is more than {POINTS_MAX}: use a larger every"
            )
    else:
        interval = rt.liveness.stale_after(device_id, state.kind if state else None) / 3
        expected = span / interval
        if span > RAW_RANGE_MAX_S or expected > POINTS_MAX:
            raise HTTPException(
                400,
                f"range of {span:.0f}s is too large for raw samples (about {expected:.0f} "
                f"expected, at most {POINTS_MAX} and {RAW_RANGE_MAX_S:.0f}s): use every, "
                "e.g. every=5m",
            )
    try:
        samples = rt.store.query(device_id, metric, start_s, end_s, every_s, limit)
        if state is None and not samples:  # a retired device's history stays readable
            raise HTTPException(404, f"device {device_id!r} is neither registered nor heard")
    except StoreUnavailable as e:
        raise HTTPException(503, f"telemetry store unavailable, retry later: {e}") from e
    except BadData as e:  # e.g. averaging a boolean or text metric
        raise HTTPException(400, f"cannot answer this query: {e}") from e
    if format == "csv":
        rows = ((utc(s.ts), s.value) for s in samples)
        return csv_response(csv_lines(("ts", metric), rows), f"{device_id}-{metric}.csv")
    return TelemetryOut(
        device_id=device_id,
        metric=metric,
        start=utc(start_s),
        end=utc(end_s),
        every_s=every_s,
        truncated=len(samples) >= limit,
        samples=[SampleOut(ts=utc(s.ts), value=s.value) for s in samples],
    )

"""GET /api/v1/devices and /devices/{id}: registry, liveness and latest metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from api.auth import AUTH_ERRORS, Reader
from api.endpoints import API_PREFIX, OFFSET_MAX, RuntimeDep, utc
from api.schemas import NAME_PATTERN, DeviceOut, DevicePage, ErrorOut, LatestValue, LiveState
from devices.liveness import DeviceState
from devices.registry import Registry
from ingest.stores.base import StoreUnavailable

router = APIRouter(prefix=API_PREFIX, tags=["devices"])
DeviceId = Annotated[str, Path(pattern=NAME_PATTERN, description="The device id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such device"}
}


def device_out(d: DeviceState, registry: Registry) -> DeviceOut:
    """A DeviceState with its registry name, in API form."""
    reg = registry.devices.get(d.device_id)
    return DeviceOut(
        id=d.device_id,
        site=d.site,
        zone=d.zone,
        kind=d.kind,
        name=reg.name if reg is not None else "",
        registered=d.registered,
        state=d.state,
        since=utc(d.since),
        last_seen=utc(d.last_seen) if d.last_seen is not None else None,
        latest={m: LatestValue(ts=utc(ts), value=v) for m, (ts, v) in sorted(d.latest.items())},
        floor=reg.floor if reg is not None else None,
        x=reg.x if reg is not None else None,
        y=reg.y if reg is not None else None,
    )


@router.get("/devices", response_model=DevicePage, responses=AUTH_ERRORS)
def list_devices(
    rt: RuntimeDep,
    _: Reader,
    site: str | None = Query(None, max_length=64),
    zone: str | None = Query(None, max_length=128),
    kind: str | None = Query(None, max_length=64),
    state: LiveState | None = None,
    registered: bool | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=OFFSET_MAX),
) -> DevicePage:
    """Registered devices and unregistered ones heard on the broker, ordered by id."""
    matches = [
        d
        for d in rt.liveness.states(rt.clock())
        if (site is None or d.site == site)
        and (zone is None or d.zone == zone)
        and (kind is None or d.kind == kind)
        and (state is None or d.state == state)
        and (registered is None or d.registered == registered)
    ]
    matches.sort(key=lambda d: d.device_id)
    page = matches[offset : offset + limit]
    return DevicePage(
        items=[device_out(d, rt.registry) for d in page],
        total=len(matches),
        limit=limit,
        offset=offset,
    )


@router.get(
    "/devices/{device_id}", response_model=DeviceOut, responses={**AUTH_ERRORS, **NOT_FOUND}
)
def get_device(
    rt: RuntimeDep,
    _: Reader,
    device_id: DeviceId,
) -> DeviceOut:
    """One device; after a restart its latest metrics come from the telemetry store."""
    d = rt.liveness.state(device_id, rt.clock())
    if d is None:
        raise HTTPException(404, f"device {device_id!r} is neither registered nor heard")
    out = device_out(d, rt.registry)
    try:
        stored = rt.store.latest(device_id)
    except StoreUnavailable:
        stored = {}  # the in-memory latest values still answer
    for metric, sample in stored.items():
        mine = out.latest.get(metric)
        if mine is None or mine.ts < utc(sample.ts):
            out.latest[metric] = LatestValue(ts=utc(sample.ts), value=sample.value)
    out.latest = dict(sorted(out.latest.items()))
    return out

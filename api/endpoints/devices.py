"""GET /api/v1/devices and /devices/{id}: registry, liveness and latest metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.auth import AUTH_ERRORS, Reader
from api.endpoints import API_PREFIX, OFFSET_MAX, RuntimeDep, utc
from api.schemas import (
    DEVICE_REF_PATTERN,
    DeviceOut,
    DevicePage,
    ErrorOut,
    LatestValue,
    LiveState,
)
from api.sites import device_visible, narrow, sees
from devices.liveness import DeviceState
from devices.registry import Registry

router = APIRouter(prefix=API_PREFIX, tags=["devices"])
DeviceId = Annotated[str, Path(pattern=DEVICE_REF_PATTERN, description="The device id")]
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
    principal: Reader,
    site: str | None = Query(None, max_length=64),
    zone: str | None = Query(None, max_length=128),
    kind: str | None = Query(None, max_length=64),
    state: LiveState | None = None,
    registered: bool | None = None,
    limit: int = Query(100, ge=1, le=500),
    offset: int = Query(0, ge=0, le=OFFSET_MAX),
) -> DevicePage:
    """Registered devices and unregistered ones heard on the broker, ordered by id."""
    site, any_visible = narrow(principal, site)
    matches = [
        d
        for d in rt.liveness.states(rt.clock())
        if any_visible and sees(principal, d)
        and (site is None or d.site == site)
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
    principal: Reader,
    device_id: DeviceId,
) -> DeviceOut:
    """One device from memory: liveness holds each device's latest values (restored from the
    database after a restart), so a device page never scans the store's history."""
    d = rt.liveness.state(device_id, rt.clock())
    device_visible(principal, device_id, d.site if d is not None else None)
    assert d is not None
    return device_out(d, rt.registry)

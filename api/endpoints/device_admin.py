"""POST /api/v1/devices, PATCH and DELETE /api/v1/devices/{id}: the registry at runtime (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import AUTH_ERRORS, BAD_BODY, Principal, require
from api.device_admin import DeviceAdmin, DeviceInvalid
from api.endpoints import API_PREFIX, RuntimeDep, utc
from api.endpoints.devices import NOT_FOUND, DeviceId, device_out
from api.runtime import Runtime
from api.schemas import NAME_PATTERN, DeviceOut, ErrorOut
from api.sites import device_visible, may_target
from devices.kinds import KINDS
from rules.db.device_registry import DeviceExists, DeviceMissing

router = APIRouter(prefix=API_PREFIX, tags=["devices"])
Admin = Annotated[Principal, Depends(require(frozenset({"admin"})))]
ZONE_PATTERN = r"^[^\x00-\x1f\x7f]{1,128}$"
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]{0,200}$"
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "A device with this id is in service"}
}


def _known_kind(v: str | None) -> str | None:
    if v is not None and v not in KINDS:
        raise ValueError(f"unknown kind {v!r}; known: {', '.join(sorted(KINDS))}")
    return v


class DeviceIn(BaseModel):
    """A new device: as one entry of the registry file."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=NAME_PATTERN)
    kind: str
    site: str = Field(pattern=NAME_PATTERN)
    zone: str = Field(pattern=ZONE_PATTERN, description="A zone the registry knows")
    name: str = Field("", pattern=TEXT_PATTERN)
    interval_s: float | None = Field(None, gt=0, le=86_400, description="Overrides the kind's")
    floor: str | None = Field(None, min_length=1, max_length=64, pattern=TEXT_PATTERN)
    x: float | None = Field(None, ge=0, le=100, description="% of the floor plan's width")
    y: float | None = Field(None, ge=0, le=100, description="% of the floor plan's height")

    _kind = field_validator("kind")(_known_kind)


class DevicePatch(BaseModel):
    """Fields of a device to change; the id cannot change."""

    model_config = ConfigDict(extra="forbid")

    kind: str | None = None
    site: str | None = Field(None, pattern=NAME_PATTERN)
    zone: str | None = Field(None, pattern=ZONE_PATTERN)
    name: str | None = Field(None, pattern=TEXT_PATTERN)
    interval_s: float | None = Field(None, gt=0, le=86_400, description="null: the kind's")
    floor: str | None = Field(None, min_length=1, max_length=64, pattern=TEXT_PATTERN)
    x: float | None = Field(None, ge=0, le=100)
    y: float | None = Field(None, ge=0, le=100)

    _kind = field_validator("kind")(_known_kind)


class RetiredOut(BaseModel):
    """A device taken out of service; its history stays readable."""

    id: str
    retired_at: Any
    retired_by: str


def _admin(rt: Runtime) -> DeviceAdmin:
    if rt.devices is None:
        raise HTTPException(503, "device changes are not available in this process")
    return rt.devices


def _invalid(e: DeviceInvalid) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", e.field), "msg": e.msg, "input": None}]
    )


def _in_scope(rt: Runtime, who: Principal, device_id: str) -> None:
    """404 for a device of a site the caller does not see (as for one not in service)."""
    if who.sites is not None:
        device = rt.registry.devices.get(device_id)
        device_visible(who, device_id, device.site if device is not None else None)


def _out(rt: Runtime, device_id: str) -> DeviceOut:
    state = rt.liveness.state(device_id, rt.clock())
    assert state is not None  # expect() has just listed it
    return device_out(state, rt.registry)


@router.post("/devices", status_code=201, response_model=DeviceOut,
             responses={**AUTH_ERRORS, **BAD_BODY, **CONFLICT})
def create_device(rt: RuntimeDep, who: Admin, body: DeviceIn) -> DeviceOut:
    """Put a device in service: registered, expected and evaluated at once."""
    may_target(who, body.site, "site")
    try:
        _admin(rt).create(body.model_dump(), who.name)
    except DeviceInvalid as e:
        raise _invalid(e) from None
    except DeviceExists:
        raise HTTPException(409, f"device {body.id!r} exists; PATCH it instead") from None
    return _out(rt, body.id)


@router.patch("/devices/{device_id}", response_model=DeviceOut,
              responses={**AUTH_ERRORS, **BAD_BODY, **NOT_FOUND})
def update_device(rt: RuntimeDep, who: Admin, device_id: DeviceId, body: DevicePatch
                  ) -> DeviceOut:
    """Change a device's kind, site, zone, name or interval."""
    _in_scope(rt, who, device_id)
    if body.site is not None:
        may_target(who, body.site, "site")
    fields = body.model_dump(include=body.model_fields_set)
    for required in ("kind", "site", "zone", "name"):
        if required in fields and fields[required] is None:
            raise _invalid(DeviceInvalid(required, "may not be null"))
    try:
        _admin(rt).update(device_id, fields, who.name)
    except DeviceInvalid as e:
        raise _invalid(e) from None
    except DeviceMissing:
        raise HTTPException(404, f"no device {device_id!r} in service") from None
    return _out(rt, device_id)


@router.delete("/devices/{device_id}", response_model=RetiredOut,
               responses={**AUTH_ERRORS, **NOT_FOUND})
def retire_device(rt: RuntimeDep, who: Admin, device_id: DeviceId) -> RetiredOut:
    """Retire a device: no longer registered or expected; its telemetry, events and
    incidents are kept."""
    _in_scope(rt, who, device_id)
    try:
        _admin(rt).retire(device_id, who.name)
    except DeviceMissing:
        raise HTTPException(404, f"no device {device_id!r} in service") from None
    return RetiredOut(id=device_id, retired_at=utc(rt.clock()), retired_by=who.name)

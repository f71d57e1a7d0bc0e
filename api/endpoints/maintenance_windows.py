"""Maintenance windows (SPEC §8.1): plan, list, one, end early."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import AUTH_ERRORS, Principal, Reader, require
from api.endpoints import API_PREFIX
from api.endpoints.disablements import ERRORS, ItemId, Ops
from api.op_schemas import EndIn, WindowIn, WindowOut
from api.sites import item_visible, may_target, sees

router = APIRouter(prefix=API_PREFIX, tags=["operations"])
Planner = Annotated[Principal, Depends(require(frozenset({"maintenance", "admin"})))]


@router.post("/maintenance-windows", response_model=WindowOut, status_code=201,
             responses=ERRORS)
def create(ops: Ops, principal: Planner, body: WindowIn) -> WindowOut:
    """Plan a window on a zone or device: tickets opened inside start their SLA at its end."""
    may_target(principal, body.matchers.site, "matchers.site")
    window = ops.plan_window(body.matchers.model_dump(), start=body.start, end=body.end,
                             note=body.note, actor=principal.name)
    return WindowOut.model_validate(window)


@router.get("/maintenance-windows", response_model=list[WindowOut], responses=AUTH_ERRORS)
def listed(ops: Ops, principal: Reader,
           active: bool = Query(False, description="only those not over")) -> list[WindowOut]:
    """Maintenance windows, newest first."""
    return [WindowOut.model_validate(w) for w in ops.windows(active=active)
            if sees(principal, w)]


@router.get("/maintenance-windows/{window_id}", response_model=WindowOut, responses=ERRORS)
def one(ops: Ops, principal: Reader, window_id: ItemId) -> WindowOut:
    """One maintenance window."""
    window = ops.window(window_id)
    item_visible(principal, "window", window_id, window.site)
    return WindowOut.model_validate(window)


@router.post("/maintenance-windows/{window_id}/end", response_model=WindowOut,
             responses=ERRORS)
def end(ops: Ops, principal: Planner, window_id: ItemId,
        body: EndIn | None = None) -> WindowOut:
    """End the window now."""
    item_visible(principal, "window", window_id, ops.window(window_id).site)
    return WindowOut.model_validate(ops.end_window(window_id, actor=principal.name))

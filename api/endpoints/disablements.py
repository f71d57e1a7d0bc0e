"""Disablements (SPEC §8.1): create, list, one with what it hid, end early."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from api.auth import AUTH_ERRORS, BAD_BODY, Actor, Principal, Reader
from api.endpoints import API_PREFIX, ID_MAX, OFFSET_MAX
from api.op_schemas import (
    DisablementDetail,
    DisablementIn,
    DisablementOut,
    EndIn,
    SuppressedOut,
    operation_out,
)
from api.operations import operations_of
from api.schemas import ErrorOut
from api.sites import item_visible, may_target, sees
from rules.operations.service import Operations

router = APIRouter(prefix=API_PREFIX, tags=["operations"])
Ops = Annotated[Operations, Depends(operations_of)]
ItemId = Annotated[int, Path(ge=1, le=ID_MAX)]
ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERRORS,
    **BAD_BODY,
    404: {"model": ErrorOut, "description": "Unknown target or item"},
    409: {"model": ErrorOut, "description": "It has ended already"},
}


def _detail(ops: Ops, principal: Principal, disablement_id: int) -> DisablementDetail:
    record, hidden = ops.disablement(disablement_id)
    item_visible(principal, "disablement", disablement_id, record.site)
    out = operation_out(DisablementOut, record, ops.now())
    return DisablementDetail(**out.model_dump(),
                             suppressed=[SuppressedOut.model_validate(h) for h in hidden])


@router.post("/disablements", response_model=DisablementDetail, status_code=201,
             responses=ERRORS)
def create(ops: Ops, principal: Actor, body: DisablementIn) -> DisablementDetail:
    """Disable a target (≤ 7 days): security for fire and access, maintenance for hvac."""
    may_target(principal, body.target.site, "target.site")
    record = ops.disable(body.target.model_dump(), reason=body.reason, until=body.until,
                         actor=principal.name, role=principal.role)
    return _detail(ops, principal, record.id)


@router.get("/disablements", response_model=list[DisablementOut], responses=AUTH_ERRORS)
def listed(ops: Ops, principal: Reader, active: bool = Query(False, description="only in force"),
           limit: int = Query(100, ge=1, le=500),
           offset: int = Query(0, ge=0, le=OFFSET_MAX)) -> list[DisablementOut]:
    """Disablements, newest first."""
    now = ops.now()
    return [operation_out(DisablementOut, d, now)
            for d in ops.disablements(active=active, limit=limit, offset=offset)
            if sees(principal, d)]


@router.get("/disablements/{disablement_id}", response_model=DisablementDetail,
            responses=ERRORS)
def one(ops: Ops, principal: Reader, disablement_id: ItemId) -> DisablementDetail:
    """One disablement and every signal it hid."""
    return _detail(ops, principal, disablement_id)


@router.post("/disablements/{disablement_id}/end", response_model=DisablementDetail,
             responses=ERRORS)
def end(ops: Ops, principal: Actor, disablement_id: ItemId,
        body: EndIn | None = None) -> DisablementDetail:
    """End it now: a condition still present raises at once."""
    _detail(ops, principal, disablement_id)  # 404 for another site's
    ops.end_disablement(disablement_id, actor=principal.name, role=principal.role)
    return _detail(ops, principal, disablement_id)

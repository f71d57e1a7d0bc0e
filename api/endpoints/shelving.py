"""Shelving (SPEC §8.1): shelve an alert, list shelvings, one, return it early."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from api.auth import AUTH_ERRORS, Principal, Reader, require
from api.endpoints import API_PREFIX, OFFSET_MAX, RuntimeDep
from api.endpoints.disablements import ERRORS, ItemId, Ops
from api.op_schemas import EndIn, ShelveIn, ShelvingOut, operation_out
from api.runtime import Runtime
from api.sites import incident_visible
from rules.operations.records import Shelving

router = APIRouter(prefix=API_PREFIX, tags=["operations"])
Shelver = Annotated[Principal, Depends(require(frozenset({"security", "admin"})))]


def _seen(rt: Runtime, principal: Principal, record: Shelving) -> bool:
    """True when the caller may see the shelved alert's site (a shelving has none itself)."""
    if principal.sites is None:
        return True
    return rt.incidents.get(record.incident_id).site in principal.sites


def _visible(rt: Runtime, ops: Ops, principal: Principal, shelving_id: int) -> Shelving:
    record = ops.shelving(shelving_id)
    if not _seen(rt, principal, record):
        raise HTTPException(404, f"shelving {shelving_id} not found")
    return record


@router.post("/incidents/{incident_id}/shelve", response_model=ShelvingOut, status_code=201,
             responses=ERRORS)
def shelve(rt: RuntimeDep, ops: Ops, principal: Shelver, incident_id: ItemId,
           body: ShelveIn) -> ShelvingOut:
    """Take a non-critical alert off the active list until `until` (≤ 24 h)."""
    incident_visible(principal, incident_id, rt.incidents.get(incident_id).site)
    record = ops.shelve(incident_id, until=body.until, note=body.note, actor=principal.name)
    return operation_out(ShelvingOut, record, ops.now())


@router.get("/shelvings", response_model=list[ShelvingOut], responses=AUTH_ERRORS)
def listed(rt: RuntimeDep, ops: Ops, principal: Reader,
           active: bool = Query(False, description="only in force"),
           limit: int = Query(100, ge=1, le=500),
           offset: int = Query(0, ge=0, le=OFFSET_MAX)) -> list[ShelvingOut]:
    """Shelvings, newest first."""
    now = ops.now()
    return [operation_out(ShelvingOut, s, now)
            for s in ops.shelvings(active=active, limit=limit, offset=offset)
            if _seen(rt, principal, s)]


@router.get("/shelvings/{shelving_id}", response_model=ShelvingOut, responses=ERRORS)
def one(rt: RuntimeDep, ops: Ops, principal: Reader, shelving_id: ItemId) -> ShelvingOut:
    """One shelving."""
    return operation_out(ShelvingOut, _visible(rt, ops, principal, shelving_id), ops.now())


@router.post("/shelvings/{shelving_id}/end", response_model=ShelvingOut, responses=ERRORS)
def end(rt: RuntimeDep, ops: Ops, principal: Shelver, shelving_id: ItemId,
        body: EndIn | None = None) -> ShelvingOut:
    """Return the alert to the active list now."""
    _visible(rt, ops, principal, shelving_id)
    record = ops.unshelve(shelving_id, actor=principal.name)
    return operation_out(ShelvingOut, record, ops.now())

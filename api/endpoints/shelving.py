"""Shelving (SPEC §8.1): shelve an alert, list shelvings, one, return it early."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import AUTH_ERRORS, Principal, Reader, require
from api.endpoints import API_PREFIX, OFFSET_MAX
from api.endpoints.disablements import ERRORS, ItemId, Ops
from api.op_schemas import EndIn, ShelveIn, ShelvingOut, operation_out

router = APIRouter(prefix=API_PREFIX, tags=["operations"])
Shelver = Annotated[Principal, Depends(require(frozenset({"security", "admin"})))]


@router.post("/incidents/{incident_id}/shelve", response_model=ShelvingOut, status_code=201,
             responses=ERRORS)
def shelve(ops: Ops, principal: Shelver, incident_id: ItemId, body: ShelveIn) -> ShelvingOut:
    """Take a non-critical alert off the active list until `until` (≤ 24 h)."""
    record = ops.shelve(incident_id, until=body.until, note=body.note, actor=principal.name)
    return operation_out(ShelvingOut, record, ops.now())


@router.get("/shelvings", response_model=list[ShelvingOut], responses=AUTH_ERRORS)
def listed(ops: Ops, _: Reader, active: bool = Query(False, description="only in force"),
           limit: int = Query(100, ge=1, le=500),
           offset: int = Query(0, ge=0, le=OFFSET_MAX)) -> list[ShelvingOut]:
    """Shelvings, newest first."""
    now = ops.now()
    return [operation_out(ShelvingOut, s, now)
            for s in ops.shelvings(active=active, limit=limit, offset=offset)]


@router.get("/shelvings/{shelving_id}", response_model=ShelvingOut, responses=ERRORS)
def one(ops: Ops, _: Reader, shelving_id: ItemId) -> ShelvingOut:
    """One shelving."""
    return operation_out(ShelvingOut, ops.shelving(shelving_id), ops.now())


@router.post("/shelvings/{shelving_id}/end", response_model=ShelvingOut, responses=ERRORS)
def end(ops: Ops, principal: Shelver, shelving_id: ItemId,
        body: EndIn | None = None) -> ShelvingOut:
    """Return the alert to the active list now."""
    record = ops.unshelve(shelving_id, actor=principal.name)
    return operation_out(ShelvingOut, record, ops.now())

"""Silences (SPEC §8.1): create, list, one, end early."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.auth import AUTH_ERRORS, Actor, Reader
from api.endpoints import API_PREFIX, OFFSET_MAX
from api.endpoints.disablements import ERRORS, ItemId, Ops
from api.op_schemas import EndIn, SilenceIn, SilenceOut, operation_out
from api.sites import item_visible, may_target, sees

router = APIRouter(prefix=API_PREFIX, tags=["operations"])


@router.post("/silences", response_model=SilenceOut, status_code=201, responses=ERRORS)
def create(ops: Ops, principal: Actor, body: SilenceIn) -> SilenceOut:
    """Silence matching incidents' notifications (≤ 7 days; never a critical alert)."""
    may_target(principal, body.matchers.site, "matchers.site")
    record = ops.silence(body.matchers.model_dump(), until=body.until, comment=body.comment,
                         actor=principal.name)
    return operation_out(SilenceOut, record, ops.now())


@router.get("/silences", response_model=list[SilenceOut], responses=AUTH_ERRORS)
def listed(ops: Ops, principal: Reader, active: bool = Query(False, description="only in force"),
           limit: int = Query(100, ge=1, le=500),
           offset: int = Query(0, ge=0, le=OFFSET_MAX)) -> list[SilenceOut]:
    """Silences, newest first."""
    now = ops.now()
    return [operation_out(SilenceOut, s, now)
            for s in ops.silences(active=active, limit=limit, offset=offset)
            if sees(principal, s)]


@router.get("/silences/{silence_id}", response_model=SilenceOut, responses=ERRORS)
def one(ops: Ops, principal: Reader, silence_id: ItemId) -> SilenceOut:
    """One silence."""
    record = ops.silence_of(silence_id)
    item_visible(principal, "silence", silence_id, record.site)
    return operation_out(SilenceOut, record, ops.now())


@router.post("/silences/{silence_id}/end", response_model=SilenceOut, responses=ERRORS)
def end(ops: Ops, principal: Actor, silence_id: ItemId, body: EndIn | None = None) -> SilenceOut:
    """End the silence now."""
    item_visible(principal, "silence", silence_id, ops.silence_of(silence_id).site)
    record = ops.end_silence(silence_id, actor=principal.name)
    return operation_out(SilenceOut, record, ops.now())

"""Emergencies (SPEC §8.3): declare one, list them, one, and the plans they come from."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from api.auth import AUTH_ERRORS, Principal, Reader, require
from api.endpoints import API_PREFIX
from api.endpoints.disablements import ERRORS, ItemId, Ops
from api.op_schemas import EmergencyIn
from api.schemas import IncidentOut, ResolveIn
from api.sites import incident_visible, may_target, sees

router = APIRouter(prefix=API_PREFIX, tags=["operations"])
Declarer = Annotated[Principal, Depends(require(frozenset({"security", "admin"})))]


@router.post("/emergencies", response_model=IncidentOut, status_code=201, responses=ERRORS)
def declare(ops: Ops, principal: Declarer, body: EmergencyIn) -> IncidentOut:
    """Declare an emergency: a critical alert with the plan's checklist, sent to every
    department (every notification route); resolve it like any alert."""
    may_target(principal, body.target.site, "target.site")
    alert = ops.declare(body.plan, body.target.model_dump(), note=body.note,
                        actor=principal.name, language=body.language)
    return IncidentOut.model_validate(alert)


@router.get("/emergencies", response_model=list[IncidentOut], responses=AUTH_ERRORS)
def listed(ops: Ops, principal: Reader,
           open_only: bool = Query(False, alias="open", description="only unresolved")
           ) -> list[IncidentOut]:
    """Declared emergencies, newest first."""
    return [IncidentOut.model_validate(e) for e in ops.emergencies(open_only=open_only)
            if sees(principal, e)]


@router.get("/emergencies/{emergency_id}", response_model=IncidentOut, responses=ERRORS)
def one(ops: Ops, principal: Reader, emergency_id: ItemId) -> IncidentOut:
    """One declared emergency."""
    emergency = ops.emergency(emergency_id)
    incident_visible(principal, emergency_id, emergency.site)
    return IncidentOut.model_validate(emergency)


@router.post("/emergencies/{emergency_id}/end", response_model=IncidentOut, responses=ERRORS)
def end(ops: Ops, principal: Declarer, emergency_id: ItemId,
        body: ResolveIn | None = None) -> IncidentOut:
    """Stand the emergency down: its alert resolves (code `real`, `test` for a drill)."""
    incident_visible(principal, emergency_id, ops.emergency(emergency_id).site)
    given = body or ResolveIn()
    alert = ops.end_emergency(emergency_id, actor=principal.name, note=given.note,
                              code=given.code)
    return IncidentOut.model_validate(alert)


@router.get("/plans", responses=AUTH_ERRORS)
def plans(ops: Ops, _: Reader,
          language: Literal["en", "zh-Hant", "zh-Hans"] = "en") -> dict[str, Any]:
    """Every emergency plan: its title and each department's checklist in `language`."""
    return {
        plan_id: {"title": plan.title.get(language),
                  "checklist": {d: steps.get(language) for d, steps in plan.checklist.items()}}
        for plan_id, plan in ops.plans.items()
    }

"""POST /api/v1/incidents/{id}/checklist/{item}: answer one item of a ticket's checklist
(SPEC §8.4), optionally opening a follow-up ticket for a failed item."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AUTH_ERRORS, BAD_BODY, Actor, check_may_act
from api.endpoints import API_PREFIX, RuntimeDep
from api.endpoints.incidents import NOT_FOUND, IncidentId, detail
from api.schemas import ConflictOut, IncidentDetail
from api.sites import incident_visible
from api.text import Prose
from rules.incidents.checklist_answers import Checklists
from rules.incidents.checklists import ITEMS_MAX, UnknownItem

router = APIRouter(prefix=API_PREFIX, tags=["incidents"])
ItemNumber = Annotated[int, Path(ge=1, le=ITEMS_MAX, description="The item's position, from 1")]
ANSWER_ERRORS: dict[int | str, dict[str, Any]] = {
    **BAD_BODY,
    **AUTH_ERRORS,
    **NOT_FOUND,
    409: {"model": ConflictOut, "description": "The ticket is resolved or cancelled"},
}


class ChecklistAnswerIn(BaseModel):
    """An item's answer; `follow_up` with a failed item opens one follow-up ticket."""

    model_config = ConfigDict(extra="forbid")

    result: Literal["done", "failed", "n/a"]
    note: Prose = Field(default="", max_length=2000)
    follow_up: bool = False  # failed only: open a ticket for the fault found (once per item)


@router.post(
    "/incidents/{incident_id}/checklist/{item}",
    response_model=IncidentDetail,
    responses=ANSWER_ERRORS,
)
def answer_item(
    rt: RuntimeDep,
    principal: Actor,
    incident_id: IncidentId,
    item: ItemNumber,
    body: ChecklistAnswerIn,
) -> IncidentDetail:
    """Answer item `item` of a ticket's checklist done, failed or n/a, with a note
    (maintenance, admin); answering again replaces the answer. `"follow_up": true` on a
    failed item opens a ticket for it (same site, zone, device, department; linked to this
    one), once per item however often it is posted. 409 once the ticket is closed."""
    current = rt.incidents.get(incident_id)
    incident_visible(principal, incident_id, current.site)
    check_may_act(principal, "ticket")
    if body.follow_up and body.result != "failed":
        error = {"type": "value_error", "loc": ["body", "follow_up"], "input": True,
                 "msg": 'a follow-up ticket is for a failed item: send "result": "failed"'}
        raise RequestValidationError([error])
    try:
        updated = Checklists(rt.engine, rt.incidents, rt.clock).answer(
            incident_id, item, result=body.result, note=body.note, actor=principal.name,
            follow_up=body.follow_up, actor_token_id=principal.token_id or None,
        )
    except UnknownItem as e:
        raise HTTPException(404, str(e)) from e
    return detail(rt, updated)

"""Incidents: list, one with its timeline, and the state-machine transitions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from api.auth import AUTH_ERRORS, BAD_BODY, Actor, Principal, Reader, check_may_act
from api.csv_export import CSV_ANSWER, incidents_csv
from api.endpoints import API_PREFIX, ID_MAX, OFFSET_MAX, RuntimeDep
from api.runtime import Runtime
from api.schemas import (
    DEVICE_REF_PATTERN,
    NAME_PATTERN,
    AcknowledgeIn,
    AssignIn,
    ChecklistItemOut,
    CommentIn,
    ConflictOut,
    ErrorOut,
    IncidentDetail,
    IncidentOut,
    IncidentPage,
    IncidentState,
    ResolveIn,
    TimelineEntryOut,
    TransitionIn,
)
from api.sites import incident_visible, narrow
from rules.engine.parts import Department, Priority, Severity
from rules.incidents.checklist_answers import Checklists
from rules.incidents.record import Action, Incident, NoteRequired
from rules.operations.errors import InvalidField

router = APIRouter(prefix=API_PREFIX, tags=["incidents"])
IncidentId = Annotated[int, Path(ge=1, le=ID_MAX, description="The incident id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such incident"}
}
TRANSITION_ERRORS: dict[int | str, dict[str, Any]] = {
    **BAD_BODY,
    **AUTH_ERRORS,
    **NOT_FOUND,
    409: {"model": ConflictOut, "description": "Not allowed from the current state"},
}


def detail(rt: Runtime, incident: Incident) -> IncidentDetail:
    """An incident with its timeline."""
    timeline = [TimelineEntryOut.model_validate(e) for e in rt.incidents.timeline(incident.id)]
    members = rt.operations.members(incident) if rt.operations is not None else []
    items = Checklists(rt.engine, rt.incidents).items(incident.id)
    return IncidentDetail(
        **IncidentOut.model_validate(incident).model_dump(), timeline=timeline,
        members=[IncidentOut.model_validate(m) for m in members],
        checklist=[ChecklistItemOut.model_validate(i) for i in items],
    )


@router.get("/incidents", response_model=IncidentPage, responses={**AUTH_ERRORS, **CSV_ANSWER})
def list_incidents(
    rt: RuntimeDep,
    principal: Reader,
    kind: Literal["alert", "ticket"] | None = None,
    state: IncidentState | None = None,
    severity: Severity | None = None,
    priority: Priority | None = None,
    department: Department | None = None,
    site: str | None = Query(None, pattern=NAME_PATTERN),
    device_id: str | None = Query(None, pattern=DEVICE_REF_PATTERN),
    open_only: bool = Query(False, alias="open", description="Only unresolved, uncancelled"),
    order: Literal["newest", "deadline"] | None = Query(
        None, description="older name of `sort` (newest or deadline)"
    ),
    sort: Literal["newest", "deadline", "severity", "priority"] | None = Query(
        None,
        description="newest: opened last first; deadline: soonest resolve-by first; severity / "
        "priority: worst grade first, newest first within it. Default: severity for "
        "kind=alert, else newest",
    ),
    shelved: bool | None = Query(
        None, description="true: only shelved alerts; false: none; default: none when listing "
        "open or active incidents (the active list), else both"
    ),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=OFFSET_MAX),
    format: Literal["json", "csv"] = Query(
        "json", description="csv: every match from `offset` on (100,000 at most), streamed"),
) -> Any:
    """Alerts and tickets, filtered and paginated, with the total matching."""
    chosen = sort or order or ("severity" if kind == "alert" else "newest")
    site, any_visible = narrow(principal, site)
    if not any_visible:
        return IncidentPage(items=[], total=0, limit=limit, offset=offset)
    filters: dict[str, Any] = dict(
        sites=principal.sites,
        kind=kind, state=state, severity=severity, priority=priority, department=department,
        site=site, device_id=device_id, open_only=open_only, order=chosen,
        shelved=_shelved(shelved, open_only, state),
    )
    if format == "csv":
        return incidents_csv(lambda n, at: rt.incidents.list(**filters, limit=n, offset=at)[0],
                             offset)
    items, total = rt.incidents.list(**filters, limit=limit, offset=offset)
    return IncidentPage(
        items=[IncidentOut.model_validate(i) for i in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetail,
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
def get_incident(
    rt: RuntimeDep,
    principal: Reader,
    incident_id: IncidentId,
) -> IncidentDetail:
    """One incident and its whole timeline, oldest entry first."""
    incident = rt.incidents.get(incident_id)
    incident_visible(principal, incident_id, incident.site)
    return detail(rt, incident)


def _shelved(shelved: bool | None, open_only: bool, state: str | None) -> bool | None:
    """Shelved alerts leave the active list (SPEC §8.1) unless asked for."""
    if shelved is None and (open_only or state in ("active", "acknowledged")):
        return False
    return shelved


def _transition(
    rt: Runtime, principal: Principal, incident_id: int, action: Action, body: TransitionIn
) -> IncidentDetail:
    current = rt.incidents.get(incident_id)
    incident_visible(principal, incident_id, current.site)
    check_may_act(principal, current.kind)
    code = body.code if isinstance(body, ResolveIn) else None
    force = body.force if isinstance(body, ResolveIn) else False
    if action == "resolve" and current.kind == "alert" and code is None:
        raise InvalidField("code", "resolving an alert needs a code: real, false_alarm, "
                           "unwanted, test or fault")
    if isinstance(body, AcknowledgeIn) and body.group and rt.operations is not None:
        head = rt.operations.acknowledge_group(incident_id, actor=principal.name, note=body.note)
        return detail(rt, head)
    updated = rt.incidents.transition(
        incident_id, action, actor=principal.name, note=body.note, assignee=body.assignee,
        code=code, force=force, actor_token_id=principal.token_id or None,
    )
    return detail(rt, updated)




@router.post(
    "/incidents/{incident_id}/acknowledge",
    response_model=IncidentDetail,
    responses=TRANSITION_ERRORS,
)
def acknowledge(
    principal: Actor,
    rt: RuntimeDep,
    incident_id: IncidentId,
    body: AcknowledgeIn | None = None,
) -> IncidentDetail:
    """An alert: someone is on it (security, admin); `{"group": true}` on a group's head
    acknowledges every active alert of the group, one timeline entry each."""
    return _transition(rt, principal, incident_id, "acknowledge", body or AcknowledgeIn())


@router.post(
    "/incidents/{incident_id}/assign", response_model=IncidentDetail, responses=TRANSITION_ERRORS
)
def assign(
    principal: Actor,
    rt: RuntimeDep,
    incident_id: IncidentId,
    body: AssignIn | None = None,
) -> IncidentDetail:
    """A ticket: give it to `assignee`, or to the caller without one (maintenance, admin)."""
    given = body or AssignIn()
    if given.assignee is None:
        given = given.model_copy(update={"assignee": principal.name})
    return _transition(rt, principal, incident_id, "assign", given)


@router.post(
    "/incidents/{incident_id}/start", response_model=IncidentDetail, responses=TRANSITION_ERRORS
)
def start(
    principal: Actor,
    rt: RuntimeDep,
    incident_id: IncidentId,
    body: TransitionIn | None = None,
) -> IncidentDetail:
    """A ticket: work has begun (maintenance, admin)."""
    return _transition(rt, principal, incident_id, "start", body or TransitionIn())


@router.post(
    "/incidents/{incident_id}/resolve",
    response_model=IncidentDetail,
    responses=TRANSITION_ERRORS,
)
def resolve(
    principal: Actor,
    rt: RuntimeDep,
    incident_id: IncidentId,
    body: ResolveIn | None = None,
) -> IncidentDetail:
    """An alert (security, admin; `code` required: real, false_alarm, unwanted, test,
    fault) or a ticket (maintenance, admin) is done.

    A ticket whose condition is still present: 409, unless `force` with a note (422 without)."""
    try:
        return _transition(rt, principal, incident_id, "resolve", body or ResolveIn())
    except NoteRequired as e:
        error = {"type": "missing", "loc": ["body", "note"], "msg": str(e), "input": None}
        raise HTTPException(422, [error]) from e


@router.post(
    "/incidents/{incident_id}/cancel", response_model=IncidentDetail, responses=TRANSITION_ERRORS
)
def cancel(
    principal: Actor,
    rt: RuntimeDep,
    incident_id: IncidentId,
    body: TransitionIn | None = None,
) -> IncidentDetail:
    """A ticket that needs no work (a duplicate, a mistaken complaint) (maintenance, admin)."""
    return _transition(rt, principal, incident_id, "cancel", body or TransitionIn())


@router.post(
    "/incidents/{incident_id}/comment",
    response_model=IncidentDetail,
    responses=TRANSITION_ERRORS,
)
def comment(
    principal: Actor,
    rt: RuntimeDep,
    incident_id: IncidentId,
    body: CommentIn,
) -> IncidentDetail:
    """Add a note to the timeline without changing the state.

    A technician assigned an open ticket linked to an alert may comment on that alert too
    (what they found at the device), though they may not move it."""
    current = rt.incidents.get(incident_id)
    if current.kind == "alert" and rt.incidents.works_linked_ticket(incident_id, principal.name):
        check_may_act(principal, "ticket")
        updated = rt.incidents.transition(incident_id, "comment", actor=principal.name,
                                          note=body.note, actor_token_id=principal.token_id or None)
        return detail(rt, updated)
    return _transition(rt, principal, incident_id, "comment", body)

"""Incidents: list, one with its timeline, and the state-machine transitions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from api.auth import AUTH_ERRORS, BAD_BODY, Actor, Principal, Reader, check_may_act
from api.csv_export import CSV_ANSWER, incidents_csv
from api.endpoints import API_PREFIX, ID_MAX, OFFSET_MAX, RuntimeDep
from api.runtime import Runtime
from api.schemas import (
    NAME_PATTERN,
    AssignIn,
    CommentIn,
    ConflictOut,
    ErrorOut,
    IncidentDetail,
    IncidentOut,
    IncidentPage,
    IncidentState,
    TimelineEntryOut,
    TransitionIn,
)
from rules.engine.parts import Department, Priority, Severity
from rules.incidents.record import Action, Incident

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
    return IncidentDetail(
        **IncidentOut.model_validate(incident).model_dump(), timeline=timeline
    )


@router.get("/incidents", response_model=IncidentPage, responses={**AUTH_ERRORS, **CSV_ANSWER})
def list_incidents(
    rt: RuntimeDep,
    _: Reader,
    kind: Literal["alert", "ticket"] | None = None,
    state: IncidentState | None = None,
    severity: Severity | None = None,
    priority: Priority | None = None,
    department: Department | None = None,
    site: str | None = Query(None, pattern=NAME_PATTERN),
    device_id: str | None = Query(None, pattern=NAME_PATTERN),
    open_only: bool = Query(False, alias="open", description="Only unresolved, uncancelled"),
    order: Literal["newest", "deadline"] = Query(
        "newest", description="newest: opened last first; deadline: soonest resolve-by first"
    ),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=OFFSET_MAX),
    format: Literal["json", "csv"] = Query(
        "json", description="csv: every match from `offset` on (100,000 at most), streamed"),
) -> Any:
    """Alerts and tickets, filtered and paginated, with the total matching."""
    filters: dict[str, Any] = dict(
        kind=kind, state=state, severity=severity, priority=priority, department=department,
        site=site, device_id=device_id, open_only=open_only, order=order,
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
    _: Reader,
    incident_id: IncidentId,
) -> IncidentDetail:
    """One incident and its whole timeline, oldest entry first."""
    return detail(rt, rt.incidents.get(incident_id))


def _transition(
    rt: Runtime, principal: Principal, incident_id: int, action: Action, body: TransitionIn
) -> IncidentDetail:
    current = rt.incidents.get(incident_id)
    check_may_act(principal, current.kind)
    updated = rt.incidents.transition(
        incident_id, action, actor=principal.name, note=body.note, assignee=body.assignee
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
    body: TransitionIn | None = None,
) -> IncidentDetail:
    """An alert: someone is on it (security, admin)."""
    return _transition(rt, principal, incident_id, "acknowledge", body or TransitionIn())


@router.post(
    "/incidents/{incident_id}/assign", response_model=IncidentDetail, responses=TRANSITION_ERRORS
)
def assign(
    principal: Actor,
    rt: RuntimeDep,
    incident_id: IncidentId,
    body: AssignIn,
) -> IncidentDetail:
    """A ticket: give it to `assignee` (maintenance, admin)."""
    return _transition(rt, principal, incident_id, "assign", body)


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
    body: TransitionIn | None = None,
) -> IncidentDetail:
    """An alert (security, admin) or a ticket (maintenance, admin) is done."""
    return _transition(rt, principal, incident_id, "resolve", body or TransitionIn())


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
    """Add a note to the timeline without changing the state."""
    return _transition(rt, principal, incident_id, "comment", body)

"""The maintenance calendar: GET /api/v1/schedules.ics (bearer token, or a calendar link's
`calendar_token` for calendar apps that cannot send headers) and calendar links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AUTH_ERRORS, BAD_BODY, READERS, Principal, current_principal, require
from api.calendar_tokens import calendar_token_valid, create_calendar_token
from api.endpoints import API_PREFIX, RuntimeDep
from api.sites import unscoped
from rules.maintenance.calendar import open_tickets_due, to_ics, upcoming_work

router = APIRouter(prefix=API_PREFIX, tags=["maintenance"])
DAYS_MAX = 366  # how far ahead a calendar looks at most
LINK_MAKERS = frozenset({"maintenance", "admin"})
_bearer = HTTPBearer(auto_error=False)  # optional here: a calendar link needs no header


class CalendarLinkIn(BaseModel):
    """A calendar link to make: a name saying whose calendar app holds it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")


class CalendarLinkOut(BaseModel):
    """The new link (its token is shown once) and the path a calendar app subscribes to."""

    name: str
    calendar_token: str
    path: str


@router.get(
    "/schedules.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, **AUTH_ERRORS},
)
def schedules_ics(
    request: Request,
    rt: RuntimeDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    days: int = Query(90, ge=1, le=DAYS_MAX, description="How many days ahead"),
    calendar_token: str | None = Query(None, max_length=200),
) -> Response:
    """Upcoming preventive maintenance and open tickets' deadlines, as iCalendar (RFC 5545)."""
    sites = None  # a calendar link is made by an unscoped token only: it sees every site
    if calendar_token is not None:
        if not calendar_token_valid(rt.engine, calendar_token):
            raise HTTPException(401, "the calendar link is not valid or has been revoked")
    else:
        principal = current_principal(request, creds)
        if principal.role not in READERS:
            raise HTTPException(403, f"role {principal.role!r} may not read the calendar")
        sites = principal.sites
    now = datetime.fromtimestamp(rt.clock(), UTC)
    items = upcoming_work(rt.schedules, rt.registry, now, now + timedelta(days=days))
    tickets, _ = rt.incidents.list(kind="ticket", open_only=True, limit=500)
    items += open_tickets_due(tickets, rt.registry)
    if sites is not None:
        items = [i for i in items if i.site is not None and i.site in sites]
    body = to_ics(items, name="Sitewatch maintenance", now=now)
    return Response(body, media_type="text/calendar; charset=utf-8")


@router.post(
    "/calendar-links", status_code=201, response_model=CalendarLinkOut,
    responses={**BAD_BODY, **AUTH_ERRORS},
)
def make_calendar_link(
    rt: RuntimeDep,
    principal: Annotated[Principal, Depends(require(LINK_MAKERS))],
    body: CalendarLinkIn,
) -> CalendarLinkOut:
    """A read-only calendar link (maintenance, admin); revoke with `sitewatch calendar revoke`."""
    unscoped(principal, "a calendar link")  # a link's token carries no sites: it sees all
    token = create_calendar_token(rt.engine, body.name, principal.name)
    return CalendarLinkOut(
        name=body.name, calendar_token=token,
        path=f"{API_PREFIX}/schedules.ics?calendar_token={token}",
    )

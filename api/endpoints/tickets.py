"""POST /api/v1/tickets: a ticket opened by hand (a complaint, a request, a fault seen)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Response
from fastapi.exceptions import RequestValidationError

from api.auth import AUTH_ERRORS, BAD_BODY, TICKET_OPENERS, Principal, require
from api.endpoints import API_PREFIX, RuntimeDep
from api.endpoints.incidents import detail
from api.schemas import IncidentDetail, TicketIn
from rules.people.satisfaction import Requester, add_requester

router = APIRouter(prefix=API_PREFIX, tags=["incidents"])


@router.post(
    "/tickets",
    status_code=201,
    response_model=IncidentDetail,
    responses={**BAD_BODY, **AUTH_ERRORS},
)
def open_ticket(
    rt: RuntimeDep,
    principal: Annotated[Principal, Depends(require(TICKET_OPENERS))],
    body: TicketIn,
    response: Response,
) -> IncidentDetail:
    """Open a ticket on the same SLA clocks as a rule's (maintenance, security, admin).

    A site-scoped token must name one of its sites."""
    if principal.sites is not None and body.site not in principal.sites:
        error = {"type": "value_error", "loc": ["body", "site"], "input": body.site,
                 "msg": f"this token may open tickets only at {sorted(principal.sites)}"}
        raise RequestValidationError([error])
    ticket = rt.incidents.open_ticket(
        title=body.title,
        description=body.description,
        department=body.department,
        priority=body.priority,
        actor=principal.name,
        site=body.site,
        zone=body.zone,
        device_id=body.device_id,
        location=body.location,
        actor_token_id=principal.token_id or None,
        checklist=body.checklist,
        also=_keep_requester(body),
    )
    response.headers["Location"] = f"/api/v1/incidents/{ticket.id}"
    return detail(rt, ticket)


def _keep_requester(body: TicketIn) -> Callable[[sa.Connection, int], None] | None:
    """Keep the requester in the ticket's own transaction (SPEC §8.4)."""
    given = body.requester
    if given is None:
        return None
    requester = Requester(given.name, given.email, given.webhook)
    return lambda conn, incident_id: add_requester(conn, incident_id, requester)

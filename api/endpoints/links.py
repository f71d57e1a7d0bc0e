"""Links from notifications, answered without an API token (the signed link is the
credential): GET /ack/{token} and /rate/{token} show what the link does and change nothing;
POST acknowledges as the person it was sent to, or records the requester's one rating.

A cross-site page cannot forge these: acting needs the token, which only its recipient holds
(and the pages keep it out of Referer headers and refuse to be framed)."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.endpoints import RuntimeDep
from api.link_pages import button, page, say
from api.people import links_of
from api.runtime import Runtime
from api.schemas import ErrorOut
from rules.incidents.record import IllegalTransition, Incident, IncidentNotFound
from rules.people import acknowledging, satisfaction
from rules.people.links import TOKEN_MAX, LinkRefused

router = APIRouter(tags=["links"])
# No length limit here: an over-long token gets the page that says so (400), not JSON.
Token = Annotated[str, Path(description=f"the signed link's token (at most {TOKEN_MAX})")]
_HTML: dict[str, Any] = {"text/html": {}}
PAGES: dict[int | str, dict[str, Any]] = {
    status: {"content": _HTML, "description": what} for status, what in (
        (200, "a page"), (400, "not a link of ours"), (403, "changed, or not signed by us"),
        (409, "the incident no longer waits for it"), (410, "expired or used"),
        (422, "a rating outside 1-5"))
}
PAGES[429] = {"model": ErrorOut, "description": "too many forged links from this address"}


def _what(incident: Incident) -> str:
    grade = incident.severity or incident.priority or ""
    return f"#{incident.id} {incident.title} ({grade})"


def _address(request: Request) -> str:
    """The caller's address; 429 when it has sent too many forged links of late (the same
    budget as failed API authentications, SITEWATCH_AUTH_FAIL_LIMIT)."""
    address = request.client.host if request.client else "unknown"
    request.app.state.limits.check_address(address)
    return address


Address = Annotated[str, Depends(_address)]


def _refused(request: Request, address: str, title: str, e: LinkRefused) -> HTMLResponse:
    if e.reason in ("tampered", "malformed"):  # a guess at a link, not an old one
        where = request.url.path.split("/")[1]
        request.app.state.limits.failed("malformed", address, f"/{where}/...", "")
    return page(title, say(e.reason), e.status)


@router.get("/ack/{token}", response_class=HTMLResponse, responses=PAGES)
def ack_page(rt: RuntimeDep, token: Token, request: Request, address: Address) -> HTMLResponse:
    """What the acknowledge link would do, with a button (changes nothing)."""
    try:
        seen = acknowledging.view(links_of(rt), rt.engine, rt.incidents, rt.oncall, token,
                                  rt.clock())
    except LinkRefused as e:
        return _refused(request, address, "ack_title", e)
    except IncidentNotFound:
        return page("ack_title", say("gone"), 410)
    what, inc = _what(seen.incident), seen.incident
    if (inc.kind == "alert" and inc.state != "active") or not inc.is_open:
        return page("ack_title", say("ack_conflict", what=what, state=inc.state), 409)
    return page("ack_title", say("ack_ask", what=what, who=seen.person_name)
                + f'<form method="post">{button("ack_button")}</form>')


@router.post("/ack/{token}", response_class=HTMLResponse, responses=PAGES)
def ack(rt: RuntimeDep, token: Token, request: Request, address: Address) -> HTMLResponse:
    """Acknowledge as the person the link was sent to (once)."""
    signer = links_of(rt)
    try:
        incident = acknowledging.acknowledge(signer, rt.incidents, rt.pack, rt.oncall, token,
                                             rt.clock())
    except LinkRefused as e:
        return _refused(request, address, "ack_title", e)
    except IncidentNotFound:
        return page("ack_title", say("gone"), 410)
    except IllegalTransition as e:
        found = rt.incidents.get(e.incident_id)
        return page("ack_title", say("ack_conflict", what=_what(found), state=found.state), 409)
    return page("ack_title", say("ack_done", what=_what(incident.incident),
                                 who=incident.person_name))


@router.get("/rate/{token}", response_class=HTMLResponse, responses=PAGES)
def rate_page(rt: RuntimeDep, token: Token, request: Request, address: Address) -> HTMLResponse:
    """The rating form: 1-5 and a comment (changes nothing)."""
    try:
        link = satisfaction.rate_view(links_of(rt), rt.engine, token, rt.clock())
        incident = rt.incidents.get(link.incident_id)
    except LinkRefused as e:
        return _refused(request, address, "rate_title", e)
    except IncidentNotFound:
        return page("rate_title", say("gone"), 410)
    return page("rate_title", say("rate_ask", what=_what(incident)) + _form())


def _form() -> str:
    choices = "".join(
        f'<label><input type="radio" name="score" value="{s}" required> {s}</label> '
        for s in satisfaction.SCORES)
    return (f'<form method="post"><p>{choices}</p>'
            f'<p><label>{say("rate_comment")}<textarea name="comment" rows="4" cols="40" '
            f'maxlength="{satisfaction.COMMENT_MAX}"></textarea></label></p>'
            f'{button("rate_button")}</form>')


@router.post("/rate/{token}", response_class=HTMLResponse, responses=PAGES)
async def rate(rt: RuntimeDep, token: Token, request: Request, address: Address) -> HTMLResponse:
    """Record the rating (form fields, or JSON, `score` 1-5 and `comment`), once."""
    fields = await _fields(request)
    return await run_in_threadpool(_rate, rt, token, fields, request, address)


def _rate(rt: Runtime, token: str, fields: dict[str, Any], request: Request,
          address: str) -> HTMLResponse:
    comment = "".join(ch for ch in str(fields.get("comment", "")) if ch.isprintable()
                      or ch in "\n\t")
    signer = links_of(rt)
    try:
        satisfaction.rate_view(signer, rt.engine, token, rt.clock())  # the link first
        try:
            score = int(str(fields.get("score", "")))
        except ValueError:
            score = 0
        if score not in satisfaction.SCORES:
            return page("rate_title", say("rate_bad") + _form(), 422)
        link = satisfaction.rate(signer, rt.engine, token, score, comment, rt.clock())
        return page("rate_title", say("rate_done", what=_what(rt.incidents.get(link.incident_id))))
    except LinkRefused as e:
        return _refused(request, address, "rate_title", e)
    except IncidentNotFound:
        return page("rate_title", say("gone"), 410)


async def _fields(request: Request) -> dict[str, Any]:
    """The posted form (the page's) or JSON object (a script's)."""
    raw = (await request.body()).decode("utf-8", "replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {k: v[0] for k, v in parse_qs(raw).items()}

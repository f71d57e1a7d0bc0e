"""GET /api/v1/audit: who changed what through the API or the CLI, and when (SPEC §8.6)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AUTH_ERRORS, Principal, require
from api.csv_export import CSV_ANSWER, csv_lines, csv_response
from api.endpoints import API_PREFIX, OFFSET_MAX, RuntimeDep, utc
from api.periods import BadPeriod, PeriodFrom, PeriodTo, period
from api.schemas import ErrorOut
from rules.audit.log import PAGE_MAX, AuditEntry, Filters, entries, last_id

router = APIRouter(prefix=API_PREFIX, tags=["audit"])
Admin = Annotated[Principal, Depends(require(frozenset({"admin"})))]
CSV_ROWS_MAX = 100_000  # the most entries one CSV answer carries
COLUMNS = ("id", "at", "actor", "actor_token_id", "action", "target", "site", "detail")


class AuditEntryOut(BaseModel):
    """One change: who, when, what, where, and what changed."""

    id: int
    at: datetime
    actor: str  # a token's name, `cli:<user>`, or what started it (SIGHUP, SITEWATCH_DEVICES)
    actor_token_id: int | None  # the API token that acted; None: no token did
    action: str
    target: str
    site: str | None
    detail: dict[str, Any]


class AuditPage(BaseModel):
    """A page of the audit log, newest first."""

    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")  # inclusive
    to: datetime  # exclusive
    items: list[AuditEntryOut]
    total: int
    limit: int
    offset: int
    next_offset: int | None  # where the next page starts; None when this page is the last


def _row(e: AuditEntry) -> tuple[Any, ...]:
    return (e.id, e.at, e.actor, e.actor_token_id, e.action, e.target, e.site,
            json.dumps(e.detail, sort_keys=True, ensure_ascii=False))


def _csv_rows(rt: Any, filters: Filters, offset: int) -> Iterator[tuple[Any, ...]]:
    """Every match from `offset` on, a page at a time, as of the first page (CSV_ROWS_MAX)."""
    filters = replace(filters, through_id=last_id(rt.engine))
    sent = 0
    while sent < CSV_ROWS_MAX:
        found, _ = entries(rt.engine, filters, limit=min(PAGE_MAX, CSV_ROWS_MAX - sent),
                           offset=offset + sent)
        yield from (_row(e) for e in found)
        sent += len(found)
        if len(found) < PAGE_MAX:
            return


@router.get(
    "/audit",
    response_model=AuditPage,
    response_model_by_alias=True,
    responses={**AUTH_ERRORS, **CSV_ANSWER,
               403: {"model": ErrorOut, "description": "Not an admin, or a site-scoped token"}},
)
def audit_log(
    rt: RuntimeDep,
    principal: Admin,
    actor: Annotated[str | None, Query(max_length=128, description="exactly this actor")] = None,
    action: Annotated[str | None, Query(
        max_length=64, description="e.g. incident.acknowledge; without a dot, a family")] = None,
    target: Annotated[str | None, Query(
        max_length=300, description="e.g. incident:42; without a colon, a kind")] = None,
    from_: PeriodFrom = None,
    to: PeriodTo = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    format: Literal["json", "csv"] = Query(
        "json", description="csv: every match from `offset` on (100,000 at most), streamed"),
) -> Any:
    """Every change made through the API or the CLI in [from, to), newest first, paged."""
    if principal.sites is not None:
        raise HTTPException(403, "the audit log spans every site: a site-scoped token may "
                                 "not read it")
    try:
        start, end = period(from_, to, utc(rt.clock()))
    except BadPeriod as e:
        raise e.unprocessable() from None
    filters = Filters(actor=actor, action=action, target=target, start=start, end=end)
    if format == "csv":
        name = f"sitewatch-audit-{start:%Y%m%d}-{end:%Y%m%d}.csv"
        return csv_response(csv_lines(COLUMNS, _csv_rows(rt, filters, offset)), name)
    found, total = entries(rt.engine, filters, limit=limit, offset=offset)
    return AuditPage(
        **{"from": start}, to=end, items=[AuditEntryOut(**vars(e)) for e in found], total=total,
        limit=limit, offset=offset,
        next_offset=offset + limit if offset + len(found) < total else None,
    )

"""GET /api/v1/reports (period figures, JSON or CSV) and /api/v1/notifications/deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AUTH_ERRORS, Reader
from api.endpoints import API_PREFIX, ID_MAX, OFFSET_MAX, RuntimeDep, utc
from api.periods import BadPeriod, PeriodFrom, PeriodTo, period
from api.schemas import ErrorOut
from api.sites import incident_visible
from rules.incidents.reports import build_report, report_csv
from rules.notify.delivery_log import list_deliveries
from rules.people.satisfaction import satisfaction

router = APIRouter(prefix=API_PREFIX, tags=["reports"])


class FiguresOut(BaseModel):
    """Measures of a group of incidents; means in seconds, compliance in percent (None: no data)."""

    incidents: int
    alerts: int
    tickets: int
    by_grade: dict[str, int]
    acknowledged: int
    mtta_s: float | None  # mean time to acknowledge (tickets: first response)
    resolved: int
    mttr_s: float | None  # mean time to resolve
    respond_due: int
    respond_met: int
    respond_compliance_pct: float | None
    resolve_due: int
    resolve_met: int
    resolve_compliance_pct: float | None
    sla_due: int
    sla_met: int
    sla_compliance_pct: float | None


class RatingFiguresOut(BaseModel):
    """Requesters' ratings (SPEC §8.4): how many, their mean, how many of each score."""

    count: int
    average: float | None  # None: no rating in the period
    distribution: dict[str, int]  # "1".."5" -> ratings


class SatisfactionOut(BaseModel):
    """Ratings given in [from, to), overall and per department."""

    overall: RatingFiguresOut
    departments: dict[str, RatingFiguresOut]


class ReportOut(BaseModel):
    """Incidents opened in [from, to): counts, MTTA, MTTR and SLA compliance per department."""

    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")  # inclusive
    to: datetime
    generated_at: datetime
    by_department: dict[str, int]
    by_kind: dict[str, int]
    by_grade: dict[str, int]
    overall: FiguresOut
    departments: dict[str, FiguresOut]
    satisfaction: SatisfactionOut | None = None  # ratings given in the period (CSV: 2 columns)


class DeliveryOut(BaseModel):
    """One notification delivery: which change, which route, how it went."""

    id: int
    idempotency_key: str
    route: str
    channel: str
    timeline_id: int
    incident_id: int
    action: str
    status: Literal["pending", "delivered", "failed", "muted"]
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None


class DeliveryPage(BaseModel):
    """A page of the delivery log, newest first, and how many match in total."""

    items: list[DeliveryOut]
    total: int


@router.get(
    "/reports",
    response_model=ReportOut,
    responses={
        **AUTH_ERRORS,
        200: {"content": {"text/csv": {}}, "description": "The report (JSON, or CSV)"},
        400: {"model": ErrorOut, "description": "`from` is not before `to`"},
    },
)
def report(
    rt: RuntimeDep,
    principal: Reader,
    from_: PeriodFrom = None,
    to: PeriodTo = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Incidents opened in [from, to) by department, kind and grade, with MTTA, MTTR and
    SLA compliance per department; `format=csv` gives one row per department."""
    now = utc(rt.clock())
    try:
        start, end = period(from_, to, now)
    except BadPeriod as e:
        raise e.answer() from None
    figures = build_report(rt.engine, start, end, now, principal.sites)
    figures["satisfaction"] = satisfaction(rt.engine, start, end, principal.sites)
    if format == "csv":
        name = f"sitewatch-report-{start:%Y%m%d}-{end:%Y%m%d}.csv"
        return Response(
            report_csv(figures),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return ReportOut.model_validate(figures)


@router.get("/notifications/deliveries", response_model=DeliveryPage, responses=AUTH_ERRORS)
def deliveries(
    rt: RuntimeDep,
    principal: Reader,
    status: Literal["pending", "delivered", "failed", "muted"] | None = None,
    incident_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> DeliveryPage:
    """The notification delivery log, newest first: status, attempts and the last error
    (its detail for admins only; other roles see its kind, e.g. `HTTP 500`).

    A site-scoped token reads one incident's deliveries at a time (`incident_id`)."""
    if principal.sites is not None:
        if incident_id is None:
            raise HTTPException(403, "a site-scoped token must give incident_id")
        incident_visible(principal, incident_id, rt.incidents.get(incident_id).site)
    items, total = list_deliveries(
        rt.engine, status=status, incident_id=incident_id, limit=limit, offset=offset,
        reveal_errors=principal.role == "admin",  # remote error text is for admins only
    )
    out = [
        DeliveryOut(
            **{
                **vars(d),
                "created_at": utc(d.created_at),
                "next_attempt_at": None if d.next_attempt_at is None else utc(d.next_attempt_at),
                "delivered_at": None if d.delivered_at is None else utc(d.delivered_at),
            }
        )
        for d in items
    ]
    return DeliveryPage(items=out, total=total)


"""GET /api/v1/reports/alarms: the alarm system's health (ISA-18.2 / EEMUA 191), JSON or CSV."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AUTH_ERRORS, Reader
from api.endpoints import API_PREFIX, RuntimeDep, utc
from api.periods import BadPeriod, PeriodFrom, PeriodTo, period
from api.schemas import ErrorOut
from api.sites import narrow
from rules.incidents.alarm_health import alarm_health, alarm_health_csv

router = APIRouter(prefix=API_PREFIX, tags=["reports"])


class ReferenceOut(BaseModel):
    """A reference level: `value op target` is acceptable; up to `limit` manageable."""

    op: Literal["<=", "<", ">="]
    target: float
    limit: float | None
    source: str  # the standard it comes from


class FigureOut(BaseModel):
    """One measured figure beside its reference and the verdict (None: no reference)."""

    figure: str
    value: float | None
    reference: ReferenceOut | None
    verdict: Literal["ok", "manageable", "over"] | None


class AlarmHealthOut(BaseModel):
    """Alerts opened in [from, to): the figures, the top 10 pairs, chattering, severities."""

    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")  # inclusive
    to: datetime
    generated_at: datetime
    sites: list[str] | None  # None: every site
    intervals: int  # 10-minute intervals in the period
    flood_intervals: int
    devices: int  # registered devices in scope (false alarms per 100 devices a year)
    acknowledged: int
    figures: list[FigureOut]
    top10: list[dict[str, Any]]
    chattering: list[dict[str, Any]]
    by_severity: dict[str, dict[str, Any]]
    severity_mapping: dict[str, str]  # Sitewatch severity -> ISA-18.2 priority
    false_alarms_by_device: list[dict[str, Any]]


@router.get(
    "/reports/alarms",
    response_model=AlarmHealthOut,
    responses={
        **AUTH_ERRORS,
        200: {"content": {"text/csv": {}}, "description": "The report (JSON, or CSV)"},
        400: {"model": ErrorOut, "description": "`from` is not before `to`"},
    },
)
def alarm_report(
    rt: RuntimeDep,
    principal: Reader,
    from_: PeriodFrom = None,
    to: PeriodTo = None,
    site: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """The alarm system's health over alerts opened in [from, to): rates, floods, the 10 most
    frequent, chattering, stale, severity mix, MTTA, false alarms, each with its reference
    level and a verdict; `format=csv` gives one row per figure."""
    now = utc(rt.clock())
    try:
        start, end = period(from_, to, now)
    except BadPeriod as e:
        raise e.answer() from None
    wanted, visible = narrow(principal, site)
    if not visible:
        sites: frozenset[str] | None = frozenset()  # a site outside the token's scope: nothing
    elif wanted is not None:
        sites = frozenset({wanted})
    else:
        sites = principal.sites
    devices = sum(1 for d in rt.registry.devices.values() if sites is None or d.site in sites)
    report = alarm_health(rt.engine, start, end, now, sites, devices)
    if format == "csv":
        name = f"sitewatch-alarm-health-{start:%Y%m%d}-{end:%Y%m%d}.csv"
        return Response(
            alarm_health_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return AlarmHealthOut.model_validate(report)

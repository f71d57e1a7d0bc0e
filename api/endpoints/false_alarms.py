"""GET /api/v1/reports/false-alarms: false and unwanted alarms per device and per 100 devices
per year (BS 5839-1), from the resolution codes alerts were resolved with (SPEC §6, §8.7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime

from api.auth import AUTH_ERRORS, Reader
from api.endpoints import API_PREFIX, RuntimeDep
from rules.operations.resolution import false_alarm_rates

router = APIRouter(prefix=API_PREFIX, tags=["reports"])
RANGE_MAX = timedelta(days=3 * 366)  # the longest period one report covers


@router.get("/reports/false-alarms", responses=AUTH_ERRORS)
def false_alarms(
    rt: RuntimeDep,
    _: Reader,
    start: Annotated[AwareDatetime | None, Query(alias="from", description="default: a year ago")]
    = None,
    end: Annotated[AwareDatetime | None, Query(alias="to", description="default: now")] = None,
) -> dict[str, Any]:
    """False and unwanted alarms in the period, per device and per 100 devices per year."""
    to = end or datetime.fromtimestamp(rt.clock(), UTC)
    since = start or to - timedelta(days=365)
    if since >= to:
        raise _invalid("from", "must be before to")
    if to - since > RANGE_MAX:
        raise _invalid("to", f"the period is at most {RANGE_MAX.days} days")
    with rt.engine.connect() as conn:
        return false_alarm_rates(conn, since, to, len(rt.registry.devices))


def _invalid(name: str, message: str) -> RequestValidationError:
    """422 naming the query parameter, in FastAPI's own shape."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": message, "input": None}]
    )

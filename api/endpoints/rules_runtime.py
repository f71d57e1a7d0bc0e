"""POST /api/v1/rules/backtest and /rules/reload (admin): rules tried on history, and swapped."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AUTH_ERRORS, BAD_BODY, Principal, require
from api.backtest_run import BacktestRangeError, check_range, parse_when, run_backtest
from api.endpoints import API_PREFIX, RuntimeDep
from api.schemas import NAME_PATTERN, ErrorOut
from api.sites import unscoped
from ingest.stores.base import StoreUnavailable
from rules.engine.loader import RuleError, parse_rules

router = APIRouter(prefix=API_PREFIX, tags=["rules"])
Admin = Annotated[Principal, Depends(require(frozenset({"admin"})))]
WHEN_PATTERN = (  # Unix seconds, or ISO 8601 with an optional zone
    r"^(-?[0-9]+(\.[0-9]+)?|[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+)?(Z|[+-][0-9]{2}:[0-9]{2})?)$"
)


class BacktestIn(BaseModel):
    """A period to replay, and the rules to replay it through (default: the configured file)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: str = Field(alias="from", max_length=64, pattern=WHEN_PATTERN,
                       description="ISO 8601 or Unix seconds")
    end: str = Field(alias="to", max_length=64, pattern=WHEN_PATTERN)
    site: str | None = Field(None, pattern=NAME_PATTERN)
    rules: str | None = Field(None, max_length=60_000,
                              description="Rules YAML to try; default: the rules running now")


def rule_errors(e: RuleError, field: str) -> RequestValidationError:
    """Every error of a rules file, one 422 entry each (file, rule and field in `msg`)."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": line, "input": None}
         for line in e.errors]
    )


@router.post("/rules/backtest", responses={**AUTH_ERRORS, **BAD_BODY})
def backtest(rt: RuntimeDep, who: Admin, body: BacktestIn) -> dict[str, Any]:
    """Replay stored telemetry and events of the period through the rules: the incidents they
    would open and resolve, and the diff against the incidents recorded in that period."""
    unscoped(who, "a backtest")  # its `rules` may select any site's devices and incidents
    try:
        start, end = parse_when("from", body.start), parse_when("to", body.end)
        check_range(start, end)
    except BacktestRangeError as e:
        raise RequestValidationError([{"type": "value_error", "loc": ("body", e.field),
                                       "msg": e.msg, "input": None}]) from None
    try:
        pack = parse_rules(body.rules, "rules") if body.rules is not None else rt.pack
    except RuleError as e:
        raise rule_errors(e, "rules") from None
    try:
        result = run_backtest(pack, rt.store, rt.engine, rt.registry, start, end, body.site)
    except StoreUnavailable as e:
        raise HTTPException(503, f"telemetry store unavailable, retry later: {e}") from e
    out = result.as_json()
    out["readings"] = result.readings
    if result.readings == 0:
        out["note"] = "no telemetry or events stored in this period"
    return out


class ReloadOut(BaseModel):
    """What a reload changed."""

    source: str
    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: int
    noted_incidents: list[int]  # open incidents of removed rules: left open, with a note


@router.post("/rules/reload", response_model=ReloadOut, responses={
    **AUTH_ERRORS, 409: {"model": ErrorOut, "description": "This process runs no rules"}})
def reload_rules(rt: RuntimeDep, who: Admin) -> ReloadOut:
    """Load the configured rules file after validating it; unchanged rules keep their state.
    A file with errors changes nothing: 422 lists every error (file, rule, field)."""
    unscoped(who, "a rules reload")  # the rules file governs every site at once
    if rt.reload is None:
        raise HTTPException(409, "this process runs no rules to reload")
    try:
        done = rt.reload(who.name)
    except RuleError as e:
        raise rule_errors(e, "rules_file") from None
    c = done.changes
    return ReloadOut(source=done.source, added=c.added, changed=c.changed, removed=c.removed,
                     unchanged=len(c.unchanged), noted_incidents=done.noted_incidents)

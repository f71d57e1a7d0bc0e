"""GET /api/v1/rules/thresholds: each threshold rule's limits, for the console's device charts."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.auth import AUTH_ERRORS, Reader
from api.endpoints import API_PREFIX, RuntimeDep
from rules.engine.models import ThresholdRule

router = APIRouter(prefix=API_PREFIX, tags=["rules"])


class ThresholdOut(BaseModel):
    """One threshold rule: which devices and metric it watches and where it fires."""

    rule_id: str
    title: str
    metric: str
    above: float | None  # fires when the value is over this, in the metric's unit
    below: float | None  # fires when the value is under this, in the metric's unit
    hold_s: float  # the condition must hold this long before it fires, seconds
    kinds: list[str]  # device kinds it selects; empty: every kind
    sites: list[str]
    zones: list[str]
    devices: list[str]  # device ids it selects; empty: every device
    grade: str  # severity of the alert or priority of the ticket it raises


class ThresholdList(BaseModel):
    """Every threshold rule of the loaded pack."""

    items: list[ThresholdOut]


@router.get("/rules/thresholds", response_model=ThresholdList, responses=AUTH_ERRORS)
def thresholds(rt: RuntimeDep, _: Reader) -> ThresholdList:
    """The loaded pack's threshold rules with numeric limits, in pack order."""
    items = []
    for rule in rt.pack.rules:
        if not isinstance(rule, ThresholdRule) or (rule.above is None and rule.below is None):
            continue  # `equals` rules (states, booleans) have no line to draw
        raises = rule.raises
        grade = getattr(raises, "severity", None) or getattr(raises, "priority", "")
        items.append(
            ThresholdOut(
                rule_id=rule.id, title=rule.title, metric=rule.metric, above=rule.above,
                below=rule.below, hold_s=float(rule.hold), kinds=list(rule.select.kinds),
                sites=list(rule.select.sites), zones=list(rule.select.zones),
                devices=list(rule.select.devices), grade=str(grade),
            )
        )
    return ThresholdList(items=items)

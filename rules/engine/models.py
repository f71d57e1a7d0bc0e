"""Rule kinds of SPEC §6 as pydantic models joined by a `kind` discriminator, and the RulePack.

The parts a rule is built from (selection, what it raises) are in rules/engine/parts.py."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from devices.kinds import KINDS
from rules.engine.durations import Duration
from rules.engine.parts import (
    AlertSpec,
    Checklist,
    ClearWhen,
    EventNames,
    Frozen,
    Raises,
    Scalar,
    Select,
)

RULE_ID_RE = re.compile(r"^[a-z0-9_.-]{1,64}$")
STATUS_EVENTS = frozenset({"online", "offline"})  # status readings are matched as these events


class RuleFieldError(ValueError):
    """A cross-field problem pinned to one field, so the loader can name that field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class RuleProblems(ValueError):
    """Every cross-field problem of one rule, raised together so none waits for another's fix."""

    def __init__(self, problems: Iterable[RuleFieldError]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p}" for p in self.problems))


class _Rule(Frozen):
    id: str
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    select: Select = Select()
    raises: Raises
    # Another rule's id: this rule is a backup signal for it (door_open held 30 s beside the
    # controller's door_held_open event): its signals open or bump that rule's incident, so
    # when both arrive there is one incident, not two. Checked by the loader.
    joins: str | None = None
    # Steps the technician answers on the ticket this rule opens (its own, or its alert's
    # linked ticket): each done, failed or n/a before the ticket resolves (SPEC §8.4).
    checklist: Checklist = ()

    @model_validator(mode="before")
    @classmethod
    def _default_latching(cls, data: Any) -> Any:
        # Fire alarms latch until a person resolves them (SPEC §6); other alerts by default
        # follow their condition. A rule selecting only fire-family kinds is a fire rule.
        if not isinstance(data, dict):
            return data
        raises, select = data.get("raises"), data.get("select")
        if isinstance(raises, dict) and raises.get("type") == "alert" and "latching" not in raises:
            kinds = select.get("kinds") if isinstance(select, dict) else None
            fire = (
                isinstance(kinds, list)
                and bool(kinds)
                and all(k in KINDS and KINDS[k].family == "fire" for k in kinds)
            )
            data = {**data, "raises": {**raises, "latching": fire}}
        return data

    @field_validator("id")
    @classmethod
    def _valid_id(cls, v: str) -> str:
        if not RULE_ID_RE.match(v):
            raise ValueError(f"rule id {v!r} must match {RULE_ID_RE.pattern}")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> _Rule:
        problems = self._problems()
        if problems:
            raise RuleProblems(problems)
        return self

    def _problems(self) -> list[RuleFieldError]:
        """Cross-field problems of this rule; kinds extend it (each problem stands alone)."""
        if (
            isinstance(self.raises, AlertSpec)
            and self.raises.severity == "critical"
            and not self.raises.runbook.strip()
        ):
            return [RuleFieldError(
                "raises.runbook", "a critical alert needs a runbook the guard can follow"
            )]
        if (self.checklist and isinstance(self.raises, AlertSpec)
                and self.raises.linked_ticket is None):
            return [RuleFieldError(
                "checklist", "a checklist belongs to a ticket: give the alert a linked_ticket"
            )]
        return []

    def _metric_problems(
        self, metric: str, field: str, types: Iterable[str]
    ) -> list[RuleFieldError]:
        """Every selected kind must report `metric` with one of `types` (when kinds are given)."""
        allowed = tuple(types)
        problems = []
        for k in self.select.kinds:
            spec = KINDS[k].metrics.get(metric)
            if spec is None:
                known = ", ".join(sorted(KINDS[k].metrics))
                problems.append(RuleFieldError(
                    field, f"kind {k!r} has no metric {metric!r}; it reports: {known}"
                ))
            elif spec.type not in allowed:
                want = "/".join(allowed)
                problems.append(RuleFieldError(
                    field, f"metric {metric!r} of kind {k!r} is {spec.type}, not {want}"
                ))
        return problems

    def _event_problems(self, events: tuple[str, ...], field: str) -> list[RuleFieldError]:
        """Each event must belong to a selected kind, and each selected kind must emit one."""
        if not self.select.kinds:
            return []
        emitted = {k: KINDS[k].events | STATUS_EVENTS for k in self.select.kinds}
        problems = [
            RuleFieldError(
                field, f"no selected kind ({', '.join(self.select.kinds)}) emits event {e!r}"
            )
            for e in events
            if not any(e in ev for ev in emitted.values())
        ]
        if problems:
            return problems  # an unknown event makes "kind emits none" noise, not news
        return [
            RuleFieldError(field, f"kind {k!r} emits none of {list(events)}")
            for k, ev in emitted.items()
            if not ev.intersection(events)
        ]


class ThresholdRule(_Rule):
    """A metric past a level for `hold`; clears past the `clear` level (hysteresis)."""

    kind: Literal["threshold"]
    metric: str
    above: float | None = None  # fires when value > above
    below: float | None = None  # fires when value < below
    equals: Scalar | None = None  # fires when value == equals (booleans, states)
    hold: Duration = 0.0  # condition must hold this long before firing, seconds
    clear: float | None = None  # level the value must pass back over to clear; default: the limit
    clear_hold: Duration = 0.0  # clear condition must hold this long on fresh data, seconds

    def _problems(self) -> list[RuleFieldError]:
        problems = super()._problems()
        given = [f for f in ("above", "below", "equals") if getattr(self, f) is not None]
        if len(given) != 1:
            problems.append(
                RuleFieldError("above", "give exactly one of 'above', 'below' or 'equals'")
            )
        if self.above is not None and self.clear is not None and self.clear > self.above:
            problems.append(RuleFieldError(
                "clear", f"clear level {self.clear:g} must be at or below 'above' {self.above:g}"
            ))
        if self.below is not None and self.clear is not None and self.clear < self.below:
            problems.append(RuleFieldError(
                "clear", f"clear level {self.clear:g} must be at or above 'below' {self.below:g}"
            ))
        if self.equals is not None and self.clear is not None:
            problems.append(RuleFieldError("clear", "'clear' has no meaning with 'equals'"))
        if len(given) != 1:
            # The metric's type depends on which limit is meant: only check that it exists.
            types = ["number", "bool", "string"]
        elif self.equals is None:
            types = ["number"]
        else:
            types = [{bool: "bool", str: "string"}.get(type(self.equals), "number")]
        problems.extend(self._metric_problems(self.metric, "metric", types))
        return problems

    @property
    def clear_level(self) -> float | None:
        """The hysteresis level; the limit itself when no `clear` is given."""
        if self.clear is not None:
            return self.clear
        return self.above if self.above is not None else self.below


class RateOfChangeRule(_Rule):
    """A metric changing faster than a per-minute slope, measured over `window`."""

    kind: Literal["rate_of_change"]
    metric: str
    per_minute_above: float | None = None  # fires when slope >= this, units per minute (rise)
    per_minute_below: float | None = None  # fires when slope <= this (a fall: negative)
    window: Duration = Field(gt=0)  # slope from the oldest to newest sample in it, seconds

    def _problems(self) -> list[RuleFieldError]:
        problems = super()._problems()
        if (self.per_minute_above is None) == (self.per_minute_below is None):
            problems.append(RuleFieldError(
                "per_minute_above", "give exactly one of 'per_minute_above' or 'per_minute_below'"
            ))
        problems.extend(self._metric_problems(self.metric, "metric", ["number"]))
        return problems


class EventRule(_Rule):
    """Fires on every matching event; the incident service turns repeats into occurrences."""

    kind: Literal["event"]
    event: EventNames
    data: dict[str, Scalar] = Field(default_factory=dict)  # fields the event must carry, equal
    clear_when: ClearWhen | None = None  # without it the rule never clears

    def _problems(self) -> list[RuleFieldError]:
        problems = super()._problems() + self._event_problems(self.event, "event")
        if self.clear_when is not None and self.clear_when.metric is not None:
            kind = {bool: "bool", str: "string"}.get(type(self.clear_when.equals), "number")
            problems.extend(
                self._metric_problems(self.clear_when.metric, "clear_when.metric", [kind])
            )
        if self.clear_when is not None and self.clear_when.event is not None:
            problems.extend(self._event_problems((self.clear_when.event,), "clear_when.event"))
        return problems


class CountRule(_Rule):
    """`count` matching events from one device within a sliding `window`."""

    kind: Literal["count"]
    event: EventNames
    data: dict[str, Scalar] = Field(default_factory=dict)
    count: int = Field(ge=2)
    window: Duration = Field(gt=0)  # seconds

    def _problems(self) -> list[RuleFieldError]:
        return super()._problems() + self._event_problems(self.event, "event")


class StaleRule(_Rule):
    """A device silent (no telemetry or event) for `after`, or for `intervals` of its interval."""

    kind: Literal["stale"]
    after: Duration | None = None  # seconds of silence
    intervals: float | None = Field(default=None, gt=0)  # multiples of the device's interval

    def _problems(self) -> list[RuleFieldError]:
        problems = super()._problems()
        if (self.after is None) == (self.intervals is None):
            problems.append(RuleFieldError("after", "give exactly one of 'after' or 'intervals'"))
        if self.after is not None and self.after <= 0:
            problems.append(RuleFieldError("after", "'after' must be longer than 0 s"))
        return problems


class MeterRule(_Rule):
    """A counter (runtime hours) crossing a new multiple of `every`: fires once per multiple."""

    kind: Literal["meter"]
    metric: str
    every: float = Field(gt=0)  # in the metric's unit, e.g. 2000 (hours)

    def _problems(self) -> list[RuleFieldError]:
        return super()._problems() + self._metric_problems(self.metric, "metric", ["number"])


Rule = Annotated[
    ThresholdRule | RateOfChangeRule | EventRule | CountRule | StaleRule | MeterRule,
    Field(discriminator="kind"),
]
RULE_KINDS = ("threshold", "rate_of_change", "event", "count", "stale", "meter")


@dataclass(frozen=True)
class RulePack:
    """A validated set of rules with unique ids, indexed by id."""

    rules: tuple[Rule, ...]
    source: str
    by_id: Mapping[str, Rule]

    @classmethod
    def of(cls, rules: Iterable[Rule], source: str = "<rules>") -> RulePack:
        """Build a pack (ids are assumed unique; the loader checks them)."""
        t = tuple(rules)
        return cls(t, source, {r.id: r for r in t})

    def get(self, rule_id: str) -> Rule | None:
        """The rule with this id, or None (e.g. a state left by a rule since removed)."""
        return self.by_id.get(rule_id)

    def __len__(self) -> int:
        return len(self.rules)

"""Which rules a reading can meet: per device kind, metric or event name -> matchers.

Built once per pack, so the evaluator's hot path looks up a handful of candidate rules by
name instead of testing every rule of the pack against every reading.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devices.reading import Reading
from rules.engine.loader import RulePack
from rules.engine.models import (
    CountRule,
    EventRule,
    MeterRule,
    RateOfChangeRule,
    Rule,
    ThresholdRule,
)
from rules.engine.signals import Signal

Handler = Callable[["Matcher", Reading, Any, float, list[Signal]], None]
Handlers = dict[Any, Handler]  # rule class (or "clear" for an event rule's clear_when) -> handler
Index = dict[str, list["Matcher"]]  # metric or event name -> matchers


@dataclass(slots=True)
class Matcher:
    """A rule as met by one reading key (metric or event name), with its selection filters."""

    rule: Any
    handler: Handler
    sites: frozenset[str] | None
    zones: frozenset[str] | None
    devices: frozenset[str] | None
    anywhere: bool = False  # no site, zone or device filter: admits() is always true

    def __post_init__(self) -> None:
        self.anywhere = self.sites is None and self.zones is None and self.devices is None

    def admits(self, r: Reading) -> bool:
        """Site, zone and device filters (kind was settled by the index)."""
        return self.anywhere or (
            (self.sites is None or r.site in self.sites)
            and (self.zones is None or r.zone in self.zones)
            and (self.devices is None or r.device_id in self.devices)
        )


def build_index(pack: RulePack, kind: str | None, handlers: Handlers) -> tuple[Index, Index]:
    """(metrics, events) for devices of `kind` (None: unregistered devices)."""
    metrics: Index = {}
    events: Index = {}

    def add(table: Index, key: str, rule: Rule, handler: Handler) -> None:
        sel = rule.select
        table.setdefault(key, []).append(
            Matcher(
                rule,
                handler,
                frozenset(sel.sites) or None,
                frozenset(sel.zones) or None,
                frozenset(sel.devices) or None,
            )
        )

    for rule in pack.rules:
        if rule.select.kinds and kind not in rule.select.kinds:
            continue
        if rule.select.unregistered and kind is not None:
            continue
        if isinstance(rule, ThresholdRule | RateOfChangeRule | MeterRule):
            add(metrics, rule.metric, rule, handlers[type(rule)])
        elif isinstance(rule, CountRule):
            for name in rule.event:
                add(events, name, rule, handlers[CountRule])
        elif isinstance(rule, EventRule):
            for name in rule.event:
                add(events, name, rule, handlers[EventRule])
            cw = rule.clear_when
            if cw is not None and cw.metric is not None:
                add(metrics, cw.metric, rule, handlers["clear"])
            elif cw is not None and cw.event is not None:
                add(events, cw.event, rule, handlers["clear"])
    return metrics, events

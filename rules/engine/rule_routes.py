"""Which of a pack's rules a reading meets, per device kind: the evaluator's lookup on its hot
path, and what a backtest's fast path asks of it (metric_routes()) to know which values to read.

One table for both, so the fast path leaves out exactly what evaluate() would not route.
"""

from __future__ import annotations

from dataclasses import replace

from devices.kinds import KINDS
from devices.reading import Reading
from rules.engine.index import Handlers, Index, Matcher, build_index
from rules.engine.loader import RulePack


class RuleRoutes:
    """The pack's matchers by device kind (None: unregistered), then metric or event name."""

    def __init__(self, pack: RulePack, handlers: Handlers) -> None:
        self.metrics: dict[str | None, Index] = {}
        self.events: dict[str | None, Index] = {}
        for kind in (None, *KINDS):
            self.metrics[kind], self.events[kind] = build_index(pack, kind, handlers)

    def keyed(self, reading: Reading) -> tuple[str | None, Reading]:
        """(the kind whose rules apply, the reading as its state is keyed)."""
        kind = reading.kind if reading.kind in self.metrics else None
        if reading.kind is None:  # unregistered: keyed by (site, device); see Evaluator._signal
            reading = replace(reading, device_id=f"{reading.device_id}@{reading.site}")
        return kind, reading

    def metric_routes(self, reading: Reading) -> dict[str, list[Matcher]]:
        """Per metric, the rules a telemetry reading with these facts (site, zone, kind, id)
        meets in evaluate(): what a backtest's fast path needs to read."""
        kind, reading = self.keyed(reading)
        return {metric: [r for r in routes if r.admits(reading)]
                for metric, routes in self.metrics[kind].items()}

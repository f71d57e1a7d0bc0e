"""A backtest's fast path: one device's columns (devices/columns.py) fed to the live evaluator,
leaving out what no rule can act on.

There is no second engine: every reading the evaluator gets is the one the general path
(a Reading per stored row) would give it, minus metric values that provably change nothing:
- metrics no rule met by the device (kind, site, zone, id) reads;
- a threshold rule's values before its first triggered one (conditions.first_triggered): until
  then the rule has no state for the device, and the evaluator's threshold step returns at once
  on a value past no limit, touching nothing;
- an event rule's `clear_when` metric before the first event or status the rule is named for:
  a clear needs the firing state only that event makes.
Rate-of-change and meter rules get every value. A telemetry row left with no metric becomes
its time alone (a float), which the replay loop (backtest._run) shows the evaluator as a
telemetry reading without metrics only when its time can matter: before a tick that is due (the
last sign of life decides staleness) and right after a tick ran (data returning clears a stale
rule at its own time). tests/rules/test_backtest_columns.py holds both paths to one result.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence

from devices.columns import DeviceColumns
from devices.reading import MetricValue, Reading
from rules.engine import conditions as c
from rules.engine.evaluator import Evaluator
from rules.engine.models import EventRule, Rule, ThresholdRule

Quiet = Callable[[float], Reading]  # a telemetry reading without metrics at a time


def device_items(ev: Evaluator, cols: DeviceColumns
                 ) -> tuple[Iterator[Reading | float], Quiet]:
    """(the device's readings in time order, a reading or just the time of a quiet row; the
    quiet reading of a time) for `ev`, a fresh evaluator of this device alone."""
    site, device_id, zone, kind = cols.site, cols.device_id, cols.zone, cols.kind

    def quiet(ts: float) -> Reading:
        return Reading(site, device_id, "telemetry", ts, ts, None, kind, zone, {})

    routes = ev.metric_routes(quiet(0.0))
    fed: dict[int, dict[str, MetricValue]] = {}
    for metric, (times, values) in cols.series.items():
        rules = [route.rule for route in routes.get(metric, ())]
        first = _first_needed(rules, times, values, cols.others) if rules else None
        if first is None:
            continue
        for t, v in zip(times[first:], values[first:], strict=True):
            row = fed.get(t)
            if row is None:
                fed[t] = {metric: v}
            else:
                row[metric] = v
    return _items(cols, fed), quiet


def _first_needed(rules: Sequence[Rule], times: list[int], values: Sequence[MetricValue],
                  others: Sequence[Reading]) -> int | None:
    """The index from which the metric's values can matter to one of `rules`; None: never."""
    first = len(values)
    for rule in rules:
        if isinstance(rule, ThresholdRule):
            i = c.first_triggered(rule, values)
        elif isinstance(rule, EventRule):  # its clear_when metric
            at = next((r.ts for r in others if _name(r) in rule.event), None)
            i = None if at is None else bisect.bisect_left(times, at, key=lambda t: t / 1e6)
        else:  # rate of change, meter: every value moves their window or baseline
            i = 0
        if i is not None:
            first = min(first, i)
    return first if first < len(values) else None


def _name(r: Reading) -> str | None:
    """What an event rule matches a reading by: its event, or a status as an event."""
    return r.event if r.channel == "event" else r.status


def _items(cols: DeviceColumns, fed: dict[int, dict[str, MetricValue]]
           ) -> Iterator[Reading | float]:
    """Telemetry rows (a Reading with the metrics kept, else the time) merged with the events
    and statuses by time, telemetry first at one time, as the stores' device_readings()."""
    site, device_id, zone, kind = cols.site, cols.device_id, cols.zone, cols.kind
    others, j = cols.others, 0
    n = len(others)
    for t in cols.times():
        ts = t / 1e6
        while j < n and others[j].ts < ts:
            yield others[j]
            j += 1
        metrics = fed.get(t)
        if metrics is None:
            yield ts
        else:
            yield Reading(site, device_id, "telemetry", ts, ts, None, kind, zone, metrics)
    yield from others[j:]

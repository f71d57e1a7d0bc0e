"""A backtest's fast path: one device's columns (devices/columns.py) fed to the live evaluator,
leaving out what no rule can act on.

There is no second engine: every reading the evaluator gets is the one the general path
(a Reading per stored row) would give it, minus metric values that provably change nothing:
- metrics no rule met by the device (kind, site, zone, id) reads;
- a threshold rule's values before its first triggered one (conditions.first_triggered): until
  then the rule has no state for the device, and the evaluator's threshold step returns at once
  on a value past no limit, touching nothing;
- an event rule's `clear_when` metric before the first event or status the rule is named for:
  a clear needs the firing state only that event makes;
- a rate-of-change rule's values when the evaluator's own rate step, run over the device's
  whole column on a state of its own, never returns a step: the state then only holds window
  samples nothing else reads (if it returns one, every value is fed).
Meter rules get every value. Telemetry rows left with no metric become runs of times
(backtest_loop.py shows the evaluator one only when its time can matter).
tests/rules/test_backtest_columns.py holds both paths to one result.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

from devices.columns import DeviceColumns, ValuesWanted
from devices.reading import MetricValue, Reading
from rules.engine import conditions as c
from rules.engine.backtest_loop import Quiet
from rules.engine.evaluator import Evaluator
from rules.engine.loader import RulePack
from rules.engine.models import EventRule, RateOfChangeRule, Rule, ThresholdRule
from rules.engine.state import MemoryStateStore, RuleState


def device_items(ev: Evaluator, cols: DeviceColumns
                 ) -> tuple[Iterator[Reading | list[float]], Quiet]:
    """(the device's readings in time order: Readings, and runs of quiet rows as their times
    in seconds; the quiet reading of a time) for `ev`, a fresh evaluator of this device alone."""
    site, device_id, zone, kind = cols.site, cols.device_id, cols.zone, cols.kind

    def quiet(ts: float) -> Reading:
        return Reading(site, device_id, "telemetry", ts, ts, None, kind, zone, {})

    routes = ev.routes.metric_routes(quiet(0.0))
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


def values_wanted(pack: RulePack) -> ValuesWanted:
    """For a store: the metrics whose values a device's replay reads (those some rule of the
    device's kind, site, zone and id reads), as device_items() finds them."""
    probe = Evaluator(pack, MemoryStateStore()).routes  # its rule index only: no state is kept

    def wanted(device_id: str, site: str, zone: str | None, kind: str | None) -> set[str]:
        facts = Reading(site, device_id, "telemetry", 0.0, 0.0, None, kind, zone, {})
        return {metric for metric, routes in probe.metric_routes(facts).items() if routes}
    return wanted


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
        elif isinstance(rule, RateOfChangeRule):
            i = 0 if _rate_steps(rule, times, values) else None
        else:  # a meter: every value moves its baseline
            i = 0
        if i is not None:
            first = min(first, i)
    return first if first < len(values) else None


def _rate_steps(rule: RateOfChangeRule, times: list[int], values: Sequence[MetricValue]
                ) -> bool:
    """Whether the evaluator's rate step (conditions.step_rate, on `now` = each reading's time
    as the backtest runs it) returns anything over the whole column. If not, the rule's state
    for the device only ever holds window samples, which nothing else reads: every value may
    be left out. If so, every value is fed (the window at a firing needs what came before)."""
    st = RuleState()
    for t, v in zip(times, values, strict=True):
        if type(v) is float or c.is_number(v):  # as the evaluator's rate handler tests it
            ts = t / 1e6
            if c.step_rate(rule, st, v, ts, ts) is not None:  # type: ignore[arg-type]
                return True
    return False


def _name(r: Reading) -> str | None:
    """What an event rule matches a reading by: its event, or a status as an event."""
    return r.event if r.channel == "event" else r.status


def _items(cols: DeviceColumns, fed: dict[int, dict[str, MetricValue]]
           ) -> Iterator[Reading | list[float]]:
    """Telemetry rows (a Reading with the metrics kept; runs of the others as their times)
    merged with the events and statuses by time, telemetry first at one time, as the stores'
    device_readings() order them."""
    site, device_id, zone, kind = cols.site, cols.device_id, cols.zone, cols.kind
    times = cols.times()
    # (index into times, 0: an event or status just before that row / 1: that row is fed)
    marks: list[tuple[int, int, Reading | None]] = [
        (bisect.bisect_right(times, r.ts, key=lambda t: t / 1e6), 0, r) for r in cols.others]
    marks += [(i, 1, None) for i in _indexes(times, fed)]
    marks.sort(key=lambda m: m[:2])  # stable: events and statuses keep their order
    i = 0
    for at, row, other in marks:
        if at > i:
            yield [t / 1e6 for t in times[i:at]]
            i = at
        if row:
            ts = times[at] / 1e6
            yield Reading(site, device_id, "telemetry", ts, ts, None, kind, zone, fed[times[at]])
            i = at + 1
        else:
            assert other is not None
            yield other
    if i < len(times):
        yield [t / 1e6 for t in times[i:]]


def _indexes(times: list[int], fed: dict[int, dict[str, MetricValue]]) -> list[int]:
    """Where the fed rows' times are in `times`."""
    if not fed:
        return []
    first = bisect.bisect_left(times, min(fed))
    if len(fed) == len(times) - first:  # the usual case: every row from the first fed one on
        return list(range(first, len(times)))
    return [bisect.bisect_left(times, t) for t in sorted(fed)]

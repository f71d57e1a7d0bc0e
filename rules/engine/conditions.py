"""What each rule kind decides for one device: the per-kind steps of the state machine.

A step function looks at one fresh value (or event) and the device's RuleState, moves the
state in place, and returns a Step when something happened (a signal to emit, or a change a
restart must see), else None. The evaluator owns storage and turns Steps into Signals.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rules.engine.durations import format_duration
from rules.engine.models import CountRule, MeterRule, RateOfChangeRule, ThresholdRule
from rules.engine.parts import Scalar
from rules.engine.signals import SignalAction
from rules.engine.state import RuleState

MAX_RATE_SAMPLES = 120  # per (rule, device); bounds memo size however fast a device reports


@dataclass(frozen=True, slots=True)
class Step:
    """Outcome of one step: maybe a signal, and whether the state must be persisted."""

    action: SignalAction | None = None
    message: str = ""
    value: Any = None
    persist: bool = True


def is_number(v: object) -> bool:
    """True for int/float values, false for booleans and strings."""
    return isinstance(v, int | float) and not isinstance(v, bool)


def same_value(v: object, expected: Scalar) -> bool | None:
    """v == expected for values of the same type family; None when the types do not compare."""
    if isinstance(expected, bool) or isinstance(v, bool):
        return v is expected if isinstance(v, bool) and isinstance(expected, bool) else None
    if isinstance(expected, str) or isinstance(v, str):
        return v == expected if isinstance(v, str) and isinstance(expected, str) else None
    return v == expected if is_number(v) else None


def data_matches(wanted: Mapping[str, Scalar], data: Mapping[str, Any]) -> bool:
    """Every wanted field is present in the event data with an equal value."""
    return all(k in data and same_value(data[k], v) for k, v in wanted.items())


def _fmt(v: object) -> str:
    return f"{v:g}" if is_number(v) else repr(v)


# -- threshold ---------------------------------------------------------------------------------


def threshold_triggered(rule: ThresholdRule, value: object) -> bool | None:
    """Whether the value is past the limit; None when the value is not of the rule's type."""
    if rule.equals is not None:
        return same_value(value, rule.equals)
    if not is_number(value):
        return None
    return value > rule.above if rule.above is not None else value < rule.below  # type: ignore[operator]


def first_triggered(rule: ThresholdRule, values: Sequence[object]) -> int | None:
    """Index of the first value threshold_triggered() holds for; None: no such value. Before
    it, a rule with no state for the device gets none (the evaluator's threshold step returns
    at once on a value past no limit), so a backtest may leave those values out."""
    above, below = rule.above, rule.below
    if rule.equals is None:
        for i, v in enumerate(values):
            if type(v) is float:  # threshold_triggered() of a float, without the call
                if v > above if above is not None else v < below:  # type: ignore[operator]
                    return i
            elif threshold_triggered(rule, v):
                return i
        return None
    expected = rule.equals
    if isinstance(expected, bool):  # same_value(): only the same boolean is equal to it
        return next((i for i, v in enumerate(values) if v is expected), None)
    return next((i for i, v in enumerate(values) if threshold_triggered(rule, v)), None)


def _threshold_cleared(rule: ThresholdRule, value: object) -> bool:
    if rule.equals is not None:
        return not same_value(value, rule.equals)
    level = rule.clear_level
    return value <= level if rule.above is not None else value >= level  # type: ignore[operator]


def _fire_text(rule: ThresholdRule, value: object) -> str:
    if rule.equals is not None:
        cond = f"{rule.metric} is {_fmt(value)}"
    elif rule.above is not None:
        cond = f"{rule.metric} {_fmt(value)} > {rule.above:g}"
    else:
        cond = f"{rule.metric} {_fmt(value)} < {rule.below:g}"
    return f"{cond} for {format_duration(rule.hold)}" if rule.hold else cond


def _clear_text(rule: ThresholdRule, value: object) -> str:
    if rule.equals is not None:
        return f"{rule.metric} is {_fmt(value)}"
    sign = "<=" if rule.above is not None else ">="
    return f"{rule.metric} {_fmt(value)} {sign} {rule.clear_level:g}"


def fire_pending(rule: ThresholdRule, st: RuleState, now: float) -> Step | None:
    """Fire a pending threshold whose hold has run out (also used by tick without new data)."""
    if st.phase != "pending" or now - st.since < rule.hold:
        return None
    value = st.memo.pop("value", None)
    st.phase, st.since = "firing", now
    return Step("fire", _fire_text(rule, value), value)


def step_threshold(rule: ThresholdRule, st: RuleState, value: object, now: float) -> Step | None:
    """inactive -> pending -> firing -> clearing -> inactive on one fresh value."""
    trig = threshold_triggered(rule, value)
    if trig is None:
        return None  # not a value this rule can judge (wrong type): neither fire nor clear
    if st.phase == "inactive":
        if not trig:
            return None
        st.phase, st.since = "pending", now
        st.memo["value"] = value
        return fire_pending(rule, st, now) or Step()
    if st.phase == "pending":
        if not trig:
            st.phase, st.since = "inactive", now
            st.memo.clear()
            return Step()
        st.memo["value"] = value  # for the message when the hold runs out; not worth a save
        return fire_pending(rule, st, now)
    cleared = _threshold_cleared(rule, value)
    if st.phase == "firing":
        if not cleared:
            return None
        st.phase, st.since = "clearing", now
    elif not cleared:  # clearing, but back past the clear level: still firing
        st.phase, st.since = "firing", now
        return Step()
    if now - st.since >= rule.clear_hold:
        st.phase, st.since = "inactive", now
        return Step("clear", _clear_text(rule, value), value)
    return Step()


# -- rate of change ----------------------------------------------------------------------------


def step_rate(rule: RateOfChangeRule, st: RuleState, value: float, ts: float, now: float) -> (
    Step | None
):
    """Slope per minute from the oldest to the newest sample within the window (by reading ts).

    No verdict until the samples span at least half the window, so two readings a second
    apart cannot make a steep slope out of noise. Fires once while past the limit; clears
    when a fresh slope is back within it.
    """
    # (ts, value) pairs; as lists when restored from the database. A tuple of two floats is
    # untracked by the garbage collector: a site's windows add nothing to its full passes.
    samples: list[tuple[float, float]] = st.memo.setdefault("samples", [])
    if samples and ts <= samples[-1][0]:
        return None  # duplicate or out of order: the slope is defined on increasing time
    samples.append((ts, float(value)))
    horizon = ts - rule.window
    drop = 0
    while drop < len(samples) - 1 and samples[drop][0] < horizon:
        drop += 1
    drop = max(drop, len(samples) - MAX_RATE_SAMPLES)
    if drop:
        del samples[:drop]
    span = ts - samples[0][0]
    if span < rule.window / 2:
        return None
    slope = (float(value) - samples[0][1]) / span * 60.0  # units per minute
    if rule.per_minute_above is not None:
        limit, sign = rule.per_minute_above, ">="
        trig = slope >= limit
    else:
        limit, sign = rule.per_minute_below or 0.0, "<="  # the model ensures one is given
        trig = slope <= limit
    if st.phase == "inactive" and trig:
        st.phase, st.since = "firing", now
        return Step("fire", f"{_rate_text(rule, slope, span)} ({sign} {limit:g}/min)",
                    round(slope, 3))
    if st.phase == "firing" and not trig:
        st.phase, st.since = "inactive", now
        return Step("clear", _rate_text(rule, slope, span), round(slope, 3))
    return None


def _rate_text(rule: RateOfChangeRule, slope: float, span: float) -> str:
    return f"{rule.metric} changing {slope:+.2f}/min over {format_duration(span)}"


# -- count -------------------------------------------------------------------------------------


def step_count(rule: CountRule, st: RuleState, ts: float, now: float) -> Step | None:
    """`count` events within `window` (inclusive, by reading ts) fire once.

    The rule re-arms only once the window has held fewer than `count` events, so one
    continuous burst is one signal; a later burst fires again (the incident service counts
    it as an occurrence if the incident is still open). Count rules never clear.
    """
    times: list[float] = st.memo.setdefault("times", [])
    if ts in times:
        return None  # the same event again (a batch evaluated again after a crash): once
    horizon = ts - rule.window
    times[:] = [t for t in times if t >= horizon]
    rearmed = False
    if st.phase == "firing" and len(times) < rule.count:
        st.phase, st.since = "inactive", now
        rearmed = True
    bisect.insort(times, ts)
    del times[: max(0, len(times) - rule.count)]  # only the newest `count` can matter
    if st.phase == "inactive" and len(times) >= rule.count:
        st.phase, st.since = "firing", now
        names = "/".join(rule.event)
        return Step(
            "fire", f"{len(times)} x {names} within {format_duration(rule.window)}", len(times)
        )
    return Step() if rearmed else None


# -- meter -------------------------------------------------------------------------------------


def step_meter(rule: MeterRule, st: RuleState, value: float) -> Step | None:
    """Fire once when the counter enters a new multiple of `every`.

    The first value seen only sets the baseline (it says nothing about when a multiple was
    crossed). A counter that goes down was reset: the baseline follows it without firing.
    """
    multiple = int(value // rule.every)
    last = st.memo.get("multiple")
    if last is None or multiple < last:
        st.memo["multiple"] = multiple
        return Step()
    if multiple > last:
        st.memo["multiple"] = multiple
        mark = multiple * rule.every
        return Step("fire", f"{rule.metric} {value:g} passed {mark:g}", value)
    return None

"""The Evaluator's step per rule kind: what one matching reading does to a rule's state.

A mixin of rules/engine/evaluator.py, kept apart so that module holds the evaluation loop
(state, clocks, staleness) and this one the per-kind decisions; both run under its lock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from devices.reading import Reading
from rules.engine import conditions as c
from rules.engine.index import Matcher
from rules.engine.models import CountRule, EventRule, Rule, ThresholdRule
from rules.engine.signals import Signal
from rules.engine.state import RuleState, StateKey
from rules.engine.watched import plain_device_id


class KindSteps(ABC):
    """Handlers of threshold, rate, meter, count and event rules (see rules/engine/index.py)."""

    _states: dict[StateKey, RuleState]

    @abstractmethod
    def _state(self, key: StateKey, r: Reading) -> RuleState:
        """The Evaluator's: the state of `key`, made if new."""

    @abstractmethod
    def _commit(
        self, rule: Rule, key: StateKey, st: RuleState, step: c.Step | None, now: float,
        out: list[Signal],
    ) -> None:
        """The Evaluator's: persist what a step changed, emit it."""

    def _on_threshold(self, route: Matcher, r: Reading, value: Any, now: float,
                      out: list[Signal]) -> None:
        rule: ThresholdRule = route.rule
        key = (rule.id, r.device_id)
        st = self._states.get(key)
        if st is None:
            if type(value) is float:  # the commonest case of all, without the general test
                above, below = rule.above, rule.below
                if above is not None and not value > above:
                    return
                if below is not None and not value < below:
                    return
            if not c.threshold_triggered(rule, value):
                return  # the common case: nothing to remember, nothing to allocate
            st = self._state(key, r)
        self._commit(rule, key, st, c.step_threshold(rule, st, value, now), now, out)

    def _on_rate(self, route: Matcher, r: Reading, value: Any, now: float,
                 out: list[Signal]) -> None:
        if c.is_number(value):
            key = (route.rule.id, r.device_id)
            st = self._state(key, r)
            self._commit(route.rule, key, st, c.step_rate(route.rule, st, value, r.ts, now),
                         now, out)

    def _on_meter(self, route: Matcher, r: Reading, value: Any, now: float,
                  out: list[Signal]) -> None:
        if c.is_number(value):
            key = (route.rule.id, r.device_id)
            st = self._state(key, r)
            self._commit(route.rule, key, st, c.step_meter(route.rule, st, value), now, out)

    def _on_count(self, route: Matcher, r: Reading, name: Any, now: float,
                  out: list[Signal]) -> None:
        rule: CountRule = route.rule
        if rule.data and not c.data_matches(rule.data, r.data):
            return
        key = (rule.id, r.device_id)
        st = self._state(key, r)
        self._commit(rule, key, st, c.step_count(rule, st, r.ts, now), now, out)

    def _on_event(self, route: Matcher, r: Reading, name: Any, now: float,
                  out: list[Signal]) -> None:
        rule: EventRule = route.rule
        if rule.data and not c.data_matches(rule.data, r.data):
            return
        value = {"event": name, "data": dict(r.data)}
        text = f"event {name}" + "".join(f" {k}={v}" for k, v in r.data.items())
        if rule.clear_when is None:  # fires on every match and never clears: no state at all
            plain = plain_device_id(r.device_id, r.site, r.kind)
            out.append(Signal(rule.id, "fire", r.site, plain, now, r.zone, r.kind, value, text))
            return
        key = (rule.id, r.device_id)
        st = self._state(key, r)
        changed = st.phase != "firing"
        if changed:
            st.phase, st.since = "firing", now
        self._commit(rule, key, st, c.Step("fire", text, value, persist=changed), now, out)

    def _on_event_clear(self, route: Matcher, r: Reading, value: Any, now: float,
                        out: list[Signal]) -> None:
        rule: EventRule = route.rule
        cw = rule.clear_when
        key = (rule.id, r.device_id)
        st = self._states.get(key)
        if st is None or st.phase != "firing" or cw is None:
            return
        if cw.metric is not None and not c.same_value(value, cw.equals):  # type: ignore[arg-type]
            return
        st.phase, st.since = "inactive", now
        what = f"{cw.metric} is {value!r}" if cw.metric is not None else f"event {cw.event}"
        self._commit(rule, key, st, c.Step("clear", what, value), now, out)


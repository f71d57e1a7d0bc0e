"""Runs a RulePack over readings and time and emits Signals; state per (rule, device).

Use: `Evaluator(pack, states, interval_of)`; `watch(...)` each registry device at start;
`evaluate(reading, now)` per reading (hot path); `tick(now, last_seen)` about once a second.
Clocks: holds and staleness run on the `now` handed in (never the wall clock); data windows
(rate, count) use `reading.ts`, so a backlog delivered in a burst is no fast change. A status
is matched as an event named `online`/`offline`; it is not data (neither keeps a device fresh
nor clears a stale rule). Telemetry and events mark the device seen and clear stale rules.
State is saved on every phase change (and meter baselines): a restart resumes a pending hold
at its due time and does not re-fire. Batched (`sitewatch serve`): touched states, windows
included, go out by take_changes() to commit with their signals; reload() undoes a batch that
was not. An unregistered device's state is keyed by `id@site` (two sites' `x` are two
devices); its signals name the plain id. One lock guards the state (evaluate() and tick()).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Collection, Mapping

from devices.reading import Reading
from devices.registry import Registry
from rules.engine import conditions as c
from rules.engine.durations import format_duration
from rules.engine.index import Handlers
from rules.engine.kind_steps import KindSteps
from rules.engine.loader import RulePack
from rules.engine.models import (
    CountRule,
    EventRule,
    MeterRule,
    RateOfChangeRule,
    Rule,
    StaleRule,
    ThresholdRule,
)
from rules.engine.rule_routes import RuleRoutes
from rules.engine.signals import Signal, SignalAction
from rules.engine.state import RuleState, StateKey, StateStore
from rules.engine.watched import IntervalOf, Watched, no_interval, plain_device_id, watched

DUE_SLACK_S = 1e-3  # due() errs this much early: float rounding never skips a tick that fires


class Evaluator(KindSteps):
    """Evaluates rules on readings (`evaluate`) and on the passage of time (`tick`)."""

    def __init__(
        self, pack: RulePack, states: StateStore, interval_of: IntervalOf = no_interval,
        batched: bool = False,
    ) -> None:
        self._pack = pack
        self._store = states
        self._interval_of = interval_of
        self._lock = threading.Lock()
        # batched: nothing is written to `states`; touched states wait in `_changes` for
        # take_changes(), committed with their signals at once (rules/db/outbox.py).
        self._batched = batched
        self._changes: dict[StateKey, RuleState | None] = {}
        self._lazy: dict[StateKey, RuleState] = {}  # rate samples only: may wait for a flush
        self._stale_rules = tuple(r for r in pack.rules if isinstance(r, StaleRule))
        self._states: dict[StateKey, RuleState] = {}  # and _pending, _stale_firing (device
        self._pending: set[StateKey] = set()  # id -> ids of stale rules firing): by _load()
        self._stale_firing: dict[str, set[str]] = {}
        self._due: float | None = None  # see due(); None: not known, work it out when asked
        self._load()
        self._seen: dict[str, Watched] = {}
        handlers: Handlers = {
            ThresholdRule: self._on_threshold, RateOfChangeRule: self._on_rate,
            MeterRule: self._on_meter, CountRule: self._on_count, EventRule: self._on_event,
            "clear": self._on_event_clear,
        }
        self.routes = RuleRoutes(pack, handlers)  # a backtest reads its metric_routes()
        # kind (None = unregistered) -> metric or event name -> matchers that can apply
        self._metric_matchers = self.routes.metrics
        self._event_matchers = self.routes.events
        self._keyed = self.routes.keyed

    @property
    def pack(self) -> RulePack:
        """The rules being evaluated."""
        return self._pack
    # -- public API ----------------------------------------------------------------------------

    def reload(self) -> None:
        """Forget in-memory state and read the store again (a batch that was not committed)."""
        with self._lock:
            self._changes.clear()
            self._lazy.clear()
            self._load()

    def take_changes(
        self, lazy: bool = False, lazy_max: int | None = None
    ) -> dict[StateKey, RuleState | None]:
        """States touched since the last call (None: deleted); rate samples go with others or
        when `lazy`, at most `lazy_max` of them (those waiting longest; None: all)."""
        with self._lock:
            changes, self._changes = self._changes, {}
            if lazy or changes:
                if lazy_max is None or len(self._lazy) <= lazy_max:
                    taken, self._lazy = self._lazy, {}
                else:
                    oldest = list(itertools.islice(self._lazy, lazy_max))
                    taken = {key: self._lazy.pop(key) for key in oldest}
                changes = {**taken, **changes}
            return changes

    def lazy_waiting(self) -> int:
        """Rate samples not committed yet."""
        return len(self._lazy)

    def evaluate(self, reading: Reading, now: float) -> list[Signal]:
        """Signals this reading causes at `now` (Unix seconds); usually none."""
        out: list[Signal] = []
        kind, reading = self._keyed(reading)
        with self._lock:
            if reading.channel == "telemetry":
                seen = self._seen.get(reading.device_id)
                if seen is None or reading.device_id in self._stale_firing:
                    self._saw(reading, now, out)
                elif now > seen.at:  # _saw()'s common case, inline: one per reading
                    seen.at = now
                routes = self._metric_matchers[kind]
                for metric, value in reading.metrics.items():
                    for route in routes.get(metric, ()):
                        if route.anywhere or route.admits(reading):
                            route.handler(route, reading, value, now, out)
                return out
            if reading.channel == "event":
                self._saw(reading, now, out)
                name = reading.event
            else:
                name = reading.status
            for route in self._event_matchers[kind].get(name or "", ()):
                if route.admits(reading):
                    route.handler(route, reading, name, now, out)
        return out

    def tick(
        self, now: float, last_seen: Mapping[str, float] | None = None,
        sites: Collection[str] | None = None,  # only these sites' (another instance's: §11)
    ) -> list[Signal]:
        """Signals due at `now` without new data: threshold holds that ran out, stale devices.

        `last_seen` (device id -> Unix seconds, e.g. DeviceLiveness.last_seen()) may add signs
        of life the evaluator did not see itself; only devices it knows (watched or heard) are
        checked for staleness, since a stale rule needs the device's site, zone and kind.
        """
        out: list[Signal] = []
        with self._lock:
            for dev, at in (last_seen or {}).items():
                seen = self._seen.get(dev)
                if seen is not None and at > seen.at:
                    seen.at = at
            for key in list(self._pending):
                st = self._states[key]
                if sites is not None and st.site not in sites:
                    continue
                rule = self._pack.by_id[key[0]]
                assert isinstance(rule, ThresholdRule)
                self._commit(rule, key, st, c.fire_pending(rule, st, now), now, out)
            for dev, seen in self._seen.items():
                if sites is not None and seen.site not in sites:
                    continue
                for rule, after in seen.stale:
                    silent = now - seen.at
                    if silent < after or rule.id in self._stale_firing.get(dev, ()):
                        continue
                    key = (rule.id, dev)
                    st = self._new(key, seen.site, seen.zone, seen.kind)
                    st.phase, st.since = "firing", now
                    self._stale_firing.setdefault(dev, set()).add(rule.id)
                    text = f"no data for {format_duration(round(silent))}"
                    step = c.Step("fire", f"{text} (stale after {format_duration(after)})", silent)
                    self._commit(rule, key, st, step, now, out)
            self._due = None
        return out

    def due(self) -> float:
        """A time before which tick() emits nothing and changes nothing (a lower bound; inf:
        nothing pending, nothing watched). Holds until the next evaluate(), tick() or watch().

        A backtest skips the ticks before it; the live service ticks every second regardless.
        """
        known = self._due  # one read: another thread may reset it meanwhile
        if known is not None:
            return known
        with self._lock:
            if self._due is None:
                due = math.inf
                for key in self._pending:
                    rule = self._pack.by_id[key[0]]
                    assert isinstance(rule, ThresholdRule)
                    due = min(due, self._states[key].since + rule.hold)
                for dev, seen in self._seen.items():
                    firing = self._stale_firing.get(dev, ())
                    for rule, after in seen.stale:
                        if rule.id not in firing:
                            due = min(due, seen.at + after)
                self._due = due - DUE_SLACK_S
            return self._due

    def watch(
        self, site: str, device_id: str, kind: str | None, zone: str | None, last_seen: float
    ) -> None:
        """Expect data from a device (e.g. every registry device at start, last seen = now)."""
        with self._lock:
            self._due = None
            seen = self._seen.get(device_id)
            if seen is None or (seen.kind, seen.zone, seen.site) != (kind, zone, site):
                self._seen[device_id] = self._seen_entry(site, device_id, kind, zone, last_seen)
            elif last_seen > seen.at:
                seen.at = last_seen

    def unwatch(self, device_id: str) -> None:
        """Expect nothing more from a device (retired); it is watched again if it sends data."""
        with self._lock:
            self._seen.pop(device_id, None)

    def watch_registry(self, registry: Registry, last_seen: float) -> None:
        """watch() every registered device, as last seen at `last_seen` (e.g. the start time)."""
        for d in registry.devices.values():
            self.watch(d.site, d.id, d.kind, d.zone, last_seen)

    # -- internals -----------------------------------------------------------------------------

    def _load(self) -> None:
        # States of rules no longer in the pack are ignored (not deleted: the file may return).
        pack = self._pack
        self._states = {k: s for k, s in self._store.load_all().items() if k[0] in pack.by_id}
        self._index_states()

    def _index_states(self) -> None:
        """Derive the pending holds and firing stale rules from `_states`."""
        self._pending = {k for k, s in self._states.items() if s.phase == "pending"}
        self._due = None
        self._stale_firing = {}
        for (rid, dev), s in self._states.items():
            if isinstance(self._pack.by_id[rid], StaleRule) and s.phase == "firing":
                self._stale_firing.setdefault(dev, set()).add(rid)

    def _seen_entry(
        self, site: str, device_id: str, kind: str | None, zone: str | None, at: float
    ) -> Watched:
        return watched(self._stale_rules, self._interval_of, site, device_id, kind, zone, at)

    def _saw(self, r: Reading, now: float, out: list[Signal]) -> None:
        """Fresh data from a device: mark it seen; data returning clears its stale rules."""
        seen = self._seen.get(r.device_id)
        if seen is None:
            self._seen[r.device_id] = self._seen_entry(r.site, r.device_id, r.kind, r.zone, now)
            self._due = None
        elif now > seen.at:
            seen.at = now
        firing = self._stale_firing.pop(r.device_id, None)
        if firing:
            self._due = None  # its stale rules count again from now
        for rid in firing or ():
            key = (rid, r.device_id)
            st = self._states[key]
            silent = now - st.since
            st.phase, st.since = "inactive", now
            step = c.Step("clear", f"data again after stale for {format_duration(round(silent))}")
            self._commit(self._pack.by_id[rid], key, st, step, now, out)

    def _new(self, key: StateKey, site: str, zone: str | None, kind: str | None) -> RuleState:
        st = self._states.get(key)
        if st is None:
            st = self._states[key] = RuleState(site=site, zone=zone, device_kind=kind)
        return st

    def _state(self, key: StateKey, r: Reading) -> RuleState:
        return self._new(key, r.site, r.zone, r.kind)

    def _commit(
        self, rule: Rule, key: StateKey, st: RuleState, step: c.Step | None, now: float,
        out: list[Signal],
    ) -> None:
        """Persist what a step changed and emit its signal."""
        if step is None:
            if self._batched and key in self._states:  # window samples: span a restart
                if isinstance(rule, CountRule):
                    self._changes[key] = st
                else:
                    self._lazy[key] = st  # every reading moves a rate window: flushed at times
            return
        if st.phase == "inactive" and not st.memo:
            self._states.pop(key, None)
            if self._batched:
                self._changes[key] = None
            else:
                self._store.delete(key)
        elif self._batched:
            self._changes[key] = st
        elif step.persist:
            self._store.save(key, st)
        if st.phase == "pending":
            self._pending.add(key)
            self._due = None  # a hold runs out at since + hold: maybe before the known due
        else:
            self._pending.discard(key)
        if step.action is not None:
            out.append(self._signal(rule.id, step.action, key[1], st, now, step))

    @staticmethod
    def _signal(
        rule_id: str, action: SignalAction, device_id: str, st: RuleState, now: float, step: c.Step
    ) -> Signal:
        plain = plain_device_id(device_id, st.site, st.device_kind)
        return Signal(rule_id, action, st.site, plain, now, st.zone, st.device_kind, step.value,
                      step.message)

"""Backtest: replay stored readings through a rule pack on the data's own clock, then diff.

The evaluator is the live one, handed `now` = each reading's ts, and ticked once per second of
data time (as the service ticks once a second), so holds, windows and staleness behave as
they would have (backtest_loop.py; ticks before the evaluator's due() could emit nothing and
are skipped; replay_devices() runs one device at a time, with the same result). Signals drive
a small model of the incident rule (one open incident per rule and device; `clear` resolves only
auto-resolving ones), which gives the incidents the pack would have opened and resolved; they
are matched, per (rule, device) in time order, to the incidents recorded in the period:
`new`, `gone`, or `moved` earlier or later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devices.columns import DeviceColumns
from devices.reading import Reading
from devices.registry import Registry
from rules.engine.backtest_columns import device_items
from rules.engine.backtest_loop import PROGRESS_EVERY_S, Loop, Progress
from rules.engine.evaluator import Evaluator
from rules.engine.loader import RulePack
from rules.engine.models import Rule
from rules.engine.signals import Signal
from rules.engine.state import MemoryStateStore

SAME_WITHIN_S = 2.0  # opened this close to the recorded one: the same, not moved

# Progress: (readings replayed, data time reached; by device: the share of devices done, as
# that share of the period)


@dataclass(frozen=True, slots=True)
class Recorded:
    """An incident a rule opened in the period, as the live run recorded it."""

    incident_id: int
    rule: str
    device_id: str
    opened_at: float  # Unix seconds
    resolved_at: float | None


@dataclass(slots=True)
class WouldOpen:
    """An incident the replayed pack would have opened (and maybe resolved)."""

    rule: str
    device_id: str
    opened_at: float
    resolved_at: float | None = None


@dataclass
class BacktestResult:
    """What the pack would have done in the period, and how that differs from the record."""

    would_open: list[WouldOpen] = field(default_factory=list)
    new: list[WouldOpen] = field(default_factory=list)
    gone: list[Recorded] = field(default_factory=list)
    moved: list[tuple[Recorded, WouldOpen]] = field(default_factory=list)
    readings: int = 0
    seconds: float = 0.0  # wall time of the replay

    def as_json(self) -> dict[str, Any]:
        """SPEC §10's shape: {"would_open": [...], "diff": {"new", "gone", "moved"}}."""
        return {
            "would_open": [_open_json(w) for w in self.would_open],
            "diff": {
                "new": [_open_json(w) for w in self.new],
                "gone": [{"rule": r.rule, "device_id": r.device_id, "opened_at": _iso(r.opened_at),
                          "resolved_at": _iso(r.resolved_at), "incident_id": r.incident_id}
                         for r in self.gone],
                "moved": [{"rule": r.rule, "device_id": r.device_id, "incident_id": r.incident_id,
                           "recorded_at": _iso(r.opened_at), "would_open_at": _iso(w.opened_at),
                           "by_s": round(w.opened_at - r.opened_at, 3),
                           "direction": "earlier" if w.opened_at < r.opened_at else "later"}
                          for r, w in self.moved],
            },
        }


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _open_json(w: WouldOpen) -> dict[str, Any]:
    return {"rule": w.rule, "device_id": w.device_id, "opened_at": _iso(w.opened_at),
            "resolved_at": _iso(w.resolved_at)}


def _auto_resolves(rule: Rule) -> bool:
    raises = rule.raises
    if raises.type == "alert":
        return not raises.latching
    return bool(raises.auto_resolve)


class _Incidents:
    """One open incident per (rule, device): `fire` opens one, `clear` resolves if it may."""

    def __init__(self, pack: RulePack) -> None:
        self._auto = {r.id: _auto_resolves(r) for r in pack.rules}
        self.open: dict[tuple[str, str], WouldOpen] = {}
        self.all: list[WouldOpen] = []

    def apply(self, signals: list[Signal]) -> None:
        for s in signals:
            key = (s.rule_id, s.device_id)
            if s.action == "fire":
                if key not in self.open:
                    w = self.open[key] = WouldOpen(s.rule_id, s.device_id, s.at)
                    self.all.append(w)
            elif key in self.open and self._auto.get(s.rule_id, False):
                self.open.pop(key).resolved_at = s.at


def replay(
    pack: RulePack,
    readings: Iterable[Reading],
    start: float,
    end: float,
    registry: Registry | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> BacktestResult:
    """Replay `readings` (time order, within [start, end)) through `pack` on their own clock."""
    began = clock()
    ev = Evaluator(pack, MemoryStateStore(), _interval_of(registry))
    if registry is not None:
        ev.watch_registry(registry, start)  # as a service running since `start`
    incidents = _Incidents(pack)
    loop = Loop(ev, incidents.apply, start)
    loop.feed(readings, progress, clock)
    if loop.count:  # no data at all: nothing says the service ran (stale tickets would be noise)
        loop.finish(end)
    return _result(incidents, loop.count, clock() - began)


def replay_devices(
    pack: RulePack,
    devices: Sequence[str],
    readings_of: Callable[[str], Iterable[Reading]],
    start: float,
    end: float,
    registry: Registry | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    columns_of: Callable[[str], DeviceColumns | None] | None = None,
) -> BacktestResult:
    """replay() one device at a time: the same result, without merging the devices' streams.

    `readings_of(id)` gives one device's readings of the period in time order (every site's
    for that id). Every piece of evaluator state (rule states, holds, windows, staleness) and
    of the incident model is per device, and every device sees the same ticks, so each
    device's run is its part of the merged run. Registered devices without readings are run
    last (staleness only), and only if the period had any data at all, as replay() does.
    Progress reports `at` as the share of devices done, mapped onto the period.
    `columns_of(id)`, if given, gives the device's readings as columns (None: use
    readings_of), replayed through backtest_columns.device_items: the same result, quicker.
    """
    began = clock()
    interval_of = _interval_of(registry)
    incidents = _Incidents(pack)
    count, reported = 0, began
    heard: set[str] = set()
    for i, device_id in enumerate(devices):
        ev = Evaluator(pack, MemoryStateStore(), interval_of)
        _watch_one(ev, registry, device_id, start)
        cols = columns_of(device_id) if columns_of is not None else None
        if cols is not None:
            items, quiet = device_items(ev, cols)
            loop = Loop(ev, incidents.apply, start, quiet)
            loop.feed(items)
        else:
            loop = Loop(ev, incidents.apply, start)
            loop.feed(readings_of(device_id))
        if loop.count:
            heard.add(device_id)
            loop.finish(end)
        count += loop.count
        if progress is not None and clock() - reported >= PROGRESS_EVERY_S:
            reported = clock()
            progress(count, start + (end - start) * (i + 1) / len(devices))
    if count and registry is not None:
        for device_id in registry.devices:
            if device_id not in heard:
                ev = Evaluator(pack, MemoryStateStore(), interval_of)
                _watch_one(ev, registry, device_id, start)
                Loop(ev, incidents.apply, start).finish(end)
    return _result(incidents, count, clock() - began)


def _interval_of(registry: Registry | None) -> Callable[[str], float | None]:
    def interval_of(device_id: str) -> float | None:
        d = registry.devices.get(device_id) if registry is not None else None
        return (d.interval_s or d.spec.interval_s) if d is not None else None
    return interval_of


def _watch_one(ev: Evaluator, registry: Registry | None, device_id: str, start: float) -> None:
    d = registry.devices.get(device_id) if registry is not None else None
    if d is not None:
        ev.watch(d.site, d.id, d.kind, d.zone, start)  # as a service running since `start`


def _result(incidents: _Incidents, count: int, seconds: float) -> BacktestResult:
    # Ties (one tick opening several) in a fixed order, however the devices were visited.
    would_open = sorted(incidents.all, key=lambda w: (w.opened_at, w.rule, w.device_id))
    return BacktestResult(would_open=would_open, readings=count, seconds=seconds)


def diff(result: BacktestResult, recorded: Iterable[Recorded]) -> BacktestResult:
    """Fill new, gone and moved: per (rule, device), the n-th would-open against the n-th
    recorded incident, in time order."""
    mine: dict[tuple[str, str], list[WouldOpen]] = {}
    for w in result.would_open:
        mine.setdefault((w.rule, w.device_id), []).append(w)
    theirs: dict[tuple[str, str], list[Recorded]] = {}
    for r in sorted(recorded, key=lambda r: r.opened_at):
        theirs.setdefault((r.rule, r.device_id), []).append(r)
    result.new, result.gone, result.moved = [], [], []
    for key in sorted(set(mine) | set(theirs)):
        ws, rs = mine.get(key, []), theirs.get(key, [])
        for w, r in zip(ws, rs, strict=False):
            if abs(w.opened_at - r.opened_at) > SAME_WITHIN_S:
                result.moved.append((r, w))
        result.new += ws[len(rs):]
        result.gone += rs[len(ws):]
    return result

"""The backtest's loop on the data's own clock: readings in time order, with the ticks the
live service would have run between them (one per TICK_S of data time, at start + k * TICK_S).

Ticks before the evaluator's due() emit nothing and change nothing, so they are skipped. Items
are Readings, or runs of quiet telemetry rows (backtest_columns.py: rows with nothing any rule
reads, as times in seconds): a quiet row only says the device was alive, which matters to
staleness alone, so the loop shows the evaluator `quiet(ts)` (a telemetry reading without
metrics) only when that can matter: the last quiet row before a tick that is due, and the first
quiet row after a tick ran (data back clears a stale rule at its own time).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable

from devices.reading import Reading
from rules.engine.evaluator import Evaluator
from rules.engine.signals import Signal

TICK_S = 1.0  # data-time seconds between ticks, as the live service's rules-tick job
PROGRESS_EVERY_S = 2.0  # wall seconds between progress reports

Quiet = Callable[[float], Reading]  # a telemetry reading without metrics at a time
Apply = Callable[[list[Signal]], None]  # what the signals do (the backtest's incident model)
Progress = Callable[[int, float], None]  # (readings replayed, data time reached)


class Loop:
    """One replay: feed() the items in time order, then finish(end)."""

    def __init__(self, ev: Evaluator, apply: Apply, start: float, quiet: Quiet | None = None
                 ) -> None:
        self._ev, self._apply, self._start, self._quiet = ev, apply, start, quiet
        self._k = 1  # the next tick is start + k * TICK_S
        self._due = ev.due()
        self._lag: float | None = None  # the last quiet row's time, not yet shown
        self._fresh = True  # show the next quiet row at once
        self.count = 0  # readings replayed (quiet rows included)

    def feed(self, items: Iterable[Reading | list[float]], progress: Progress | None = None,
             clock: Callable[[], float] | None = None) -> None:
        """Evaluate the items, each after the ticks due before it."""
        ev, apply = self._ev, self._apply
        evaluate, due_of = ev.evaluate, ev.due
        reported = clock() if clock is not None else 0.0
        next_report = 10_000
        for r in items:
            if type(r) is list:
                self._quiet_run(r)
                ts = r[-1]
            else:
                ts = r.ts  # type: ignore[union-attr]
                if self._due <= ts:
                    self._ticks_until(ts)
                signals = evaluate(r, ts)  # type: ignore[arg-type]
                if signals:
                    apply(signals)
                self._due = due_of()
                self.count += 1
            if progress is not None and self.count >= next_report:
                next_report = self.count + 10_000
                if clock is not None and clock() - reported >= PROGRESS_EVERY_S:
                    reported = clock()
                    progress(self.count, ts)

    def finish(self, end: float) -> None:
        """The last quiet row, then the ticks after the last reading, up to `end`."""
        self._show_lag()
        ev, start, k = self._ev, self._start, self._k
        due = ev.due()
        next_tick = start + k * TICK_S
        while next_tick < end:
            if next_tick >= due:
                self._apply(ev.tick(next_tick))
                due, k = ev.due(), k + 1
            else:
                k = skip(k, start, due, end)
            next_tick = start + k * TICK_S
        self._k = k

    def _quiet_run(self, times: list[float]) -> None:
        """Quiet rows (ascending times): the ones before due() only move the lag."""
        i, n = 0, len(times)
        while i < n:
            if not self._fresh:
                j = bisect.bisect_left(times, self._due, i)  # rows before due: no tick fires
                if j > i:
                    self._lag, i = times[j - 1], j
                    continue
            ts = times[i]
            if self._due <= ts:
                self._ticks_until(ts)
            if self._fresh:
                assert self._quiet is not None
                self._apply(self._ev.evaluate(self._quiet(ts), ts))
                self._due, self._fresh = self._ev.due(), False
            else:
                self._lag = ts
            i += 1
        self.count += n

    def _ticks_until(self, ts: float) -> None:
        """Run the ticks due at or before `ts` (the last quiet row shown first)."""
        ev, start, k = self._ev, self._start, self._k
        next_tick = start + k * TICK_S
        while next_tick <= ts and self._due <= ts:
            if next_tick >= self._due:
                self._show_lag()
                self._apply(ev.tick(next_tick))
                self._due, self._fresh, k = ev.due(), True, k + 1
            else:
                k = skip(k, start, self._due, ts)
            next_tick = start + k * TICK_S
        self._k = k

    def _show_lag(self) -> None:
        if self._lag is not None:
            assert self._quiet is not None
            lag, self._lag = self._lag, None
            self._apply(self._ev.evaluate(self._quiet(lag), lag))


def skip(k: int, start: float, due: float, until: float) -> int:
    """The first k after `k` whose tick can fire (at or after `due`) or lies past `until`:
    the ticks in between emit nothing. Worked out by division, then checked tick by tick as
    the loop compares them, so rounding never skips one."""
    j = max(k + 1, int((min(due, until) - start) / TICK_S))
    while j > k + 1 and ((t := start + (j - 1) * TICK_S) >= due or t > until):
        j -= 1
    while (t := start + j * TICK_S) < due and t <= until:
        j += 1
    return j

"""The rules worker: every buffered reading to liveness and the evaluator, signals to incidents."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from devices.liveness import DeviceLiveness
from devices.reading import Reading
from rules.engine.evaluator import Evaluator
from rules.engine.signals import Signal
from rules.incidents.record import IncidentStoreUnavailable
from rules.incidents.service import IncidentService

log = logging.getLogger("sitewatch.rules")


class RulesWorker:
    """Feeds every buffered reading to liveness and the evaluator, and signals to incidents.

    One lock serialises evaluation and the periodic tick, so rule state has a single writer.
    A signal the incident database cannot take now (it is down) is kept, in order, and applied
    again at the next reading or tick: the evaluator has moved on, so dropping it would lose
    the incident for good (a threshold that fired does not fire twice).
    """

    def __init__(
        self,
        evaluator: Evaluator,
        incidents: IncidentService,
        liveness: DeviceLiveness,
        observers: Sequence[Callable[[Reading], None]] = (),
        clock: Callable[[], float] = time.time,
        pending_max: int = 100_000,  # signals kept while the database is down
    ) -> None:
        self._evaluator = evaluator
        self._incidents = incidents
        self._liveness = liveness
        self._observers = list(observers)
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: deque[Signal] = deque()
        self._pending_max = pending_max
        self.errors = 0  # readings or signals whose handling raised; logged, counted, skipped
        self.refused = 0  # signals refused because `pending_max` were already waiting

    @property
    def pending(self) -> int:
        """Signals waiting for the incident database."""
        return len(self._pending)

    def health(self) -> dict[str, Any]:
        """ok while no signal waits for the incident database."""
        return {
            "ok": not self._pending, "pending_signals": len(self._pending),
            "refused_signals": self.refused, "errors": self.errors,
        }

    def handle(self, batch: list[Reading]) -> None:
        """Evaluate a batch of readings in arrival order."""
        with self._lock:
            for reading in batch:
                self._liveness.observe(reading)
                try:
                    self._keep(self._evaluator.evaluate(reading, self._clock()))
                    for observe in self._observers:
                        observe(reading)
                except Exception:
                    self.errors += 1
                    log.exception("evaluating %s/%s failed", reading.site, reading.device_id)
                self._apply_pending()

    def replace_evaluator(self, build: Callable[[Evaluator], Evaluator]) -> Evaluator:
        """Swap the evaluator between two readings (hot reload): `build(old)` makes the new one
        while no reading or tick is being evaluated."""
        with self._lock:
            self._evaluator = build(self._evaluator)
            return self._evaluator

    def tick(self) -> None:
        """Expire hold timers and detect silent devices, without waiting for a reading."""
        with self._lock:
            self._keep(self._evaluator.tick(self._clock(), self._liveness.last_seen()))
            self._apply_pending()

    def _keep(self, signals: list[Signal]) -> None:
        for sig in signals:
            if len(self._pending) >= self._pending_max:
                self.refused += 1
                log.error("signal %s/%s refused: %d already wait for the database",
                          sig.rule_id, sig.device_id, len(self._pending))
            else:
                self._pending.append(sig)

    def _apply_pending(self) -> None:
        while self._pending:
            sig = self._pending[0]
            try:
                self._incidents.apply(sig)
            except IncidentStoreUnavailable as e:
                log.warning("incident database unavailable (%s); %d signals wait", e,
                            len(self._pending))
                return  # in order, at the next reading or tick
            except Exception:
                self.errors += 1
                log.exception("applying %s/%s failed", sig.rule_id, sig.device_id)
            self._pending.popleft()

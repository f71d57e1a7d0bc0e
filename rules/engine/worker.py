"""The rules worker: log batches to liveness and the evaluator, signals through the outbox.

A batch is evaluated in memory, then every rule state it touched and every signal it emitted
are committed in one transaction (rules/db/outbox.py). If that fails (the database is down)
the batch raises StateUnavailable: the log consumer keeps its cursor and retries the batch,
and the evaluator reloads its state from the database first, so the retry decides again from
what was last committed. Committed signals are applied to incidents from the outbox, each
marked applied in the incident's own transaction: a database outage delays an incident,
never drops or doubles one. Life-safety batches (events, status) take the next turn ahead
of telemetry batches, and their signals are applied first: when nothing older waits in the
outbox, in the very transaction that commits them (rules/engine/at_once.py).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from devices.liveness import DeviceLiveness
from devices.reading import Reading
from rules.db.outbox import AlreadyApplied, KeyedSignal, SqlSignalOutbox
from rules.engine.at_once import FallBack, commit_applying
from rules.engine.evaluator import Evaluator
from rules.engine.signals import reading_key, tick_key
from rules.engine.state import StateUnavailable
from rules.incidents.record import IncidentStoreUnavailable
from rules.incidents.service import IncidentService

log = logging.getLogger("sitewatch.rules")

DRAIN_CHUNK = 200  # outbox rows read per query while applying
APPLY_ATTEMPTS = 5  # a signal whose apply raises (not an outage) this often is parked
DELAY_WARN_S = 5.0  # an unapplied signal older than this makes health not ok
LAZY_FLUSH_S = 5.0  # rate-window samples alone are committed at most this often (and at stop)
# ... spread over the next telemetry commits, this many each: one commit of every device's
# samples held the rules lock (and a fire alarm) for 75-150 ms every 5 s under the benchmark.
LAZY_CHUNK = 200
KEEP_APPLIED_S = 86_400.0  # applied outbox rows are kept this long (seconds), then deleted
PRUNE_EVERY_S = 600.0  # seconds between two deletions of old applied rows
LANES = ("life_safety", "telemetry")


class RulesWorker:
    """Evaluates log batches and ticks (one at a time), commits them with their signals, and
    applies committed signals to incidents."""

    def __init__(
        self,
        evaluator: Evaluator,
        incidents: IncidentService,
        liveness: DeviceLiveness,
        outbox: SqlSignalOutbox,
        observers: Sequence[Callable[[Reading], None]] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._evaluator = evaluator
        self._incidents = incidents
        self._liveness = liveness
        self._outbox = outbox
        self._observers = list(observers)
        self._clock = clock
        self._lock = threading.Lock()  # one writer of rule state
        self._gate = threading.Condition()  # life-safety batches waiting for their turn
        self._urgent = 0
        self._reload_needed = False  # the last commit failed: memory is ahead of the database
        self._drain_needed = True  # signals may wait in the outbox (from before a restart too)
        self._backlog: tuple[int, float | None] = (0, None)  # (pending, oldest commit time)
        self._down_since: float | None = None  # Unix seconds the database stopped answering
        self._down_error = ""
        self._busy_since: float | None = None  # Unix seconds the running turn began
        # Lanes whose batch was refused and is being retried: only that batch's commit says
        # the database is back (a tick with nothing to write, or a read, works under a lock).
        self._waiting: set[str] = set()
        self.errors = 0  # readings whose evaluation raised, signals whose apply raised
        self.deferred = 0  # batches and ticks not committed because the database was down
        self.applied = 0  # signals applied to incidents
        self.parked = 0  # signals given up after APPLY_ATTEMPTS failed applies
        self.ticked_at: float | None = None  # Unix seconds the last tick got its turn
        self._lazy_at = clock()  # Unix seconds rate-window samples were last committed
        self._lazy_left = 0  # commits still to carry a chunk of the due rate-sample flush
        self._pruned_at = 0.0  # Unix seconds old applied outbox rows were last deleted
        # SITEWATCH_SITES (SPEC §11): the sites this instance serves now; ticks and the outbox
        # drain cover only those. None: every site (one instance).
        self.sites: Callable[[], Collection[str]] | None = None

    def health(self) -> dict[str, Any]:
        """ok while the database takes commits, no signal has waited over DELAY_WARN_S and no
        turn has run that long (a locked or slow database makes a commit wait, not fail)."""
        pending, oldest = self._backlog
        now = self._clock()
        age = max(0.0, now - oldest) if oldest is not None else 0.0
        busy_since = self._busy_since
        busy = max(0.0, now - busy_since) if busy_since is not None else 0.0
        down = self._down_since is not None
        stuck = busy >= DELAY_WARN_S
        return {
            "ok": not down and age < DELAY_WARN_S and not stuck,
            "incidents_delayed": down or pending > 0 or stuck,
            "turn_running_s": round(busy, 3),
            "database_down_since": self._down_since, "database_error": self._down_error,
            "pending_signals": pending, "oldest_pending_age_s": round(age, 3),
            "deferred_batches": self.deferred, "applied_signals": self.applied,
            "parked_signals": self.parked, "errors": self.errors,
        }

    def handle(self, batch: list[Reading], lane: str = "telemetry") -> None:
        """Evaluate a batch in arrival order and commit it (StateUnavailable: retry it)."""
        with self._turn(urgent=lane == "life_safety"):
            self._waiting.add(lane)
            self._reload_if_needed()
            keyed: list[KeyedSignal] = []
            for reading in batch:
                self._liveness.observe(reading)
                try:
                    for sig in self._evaluator.evaluate(reading, self._clock()):
                        keyed.append(KeyedSignal(reading_key(sig, reading), lane, sig))
                except Exception:
                    self.errors += 1
                    log.exception("evaluating %s/%s failed", reading.site, reading.device_id)
            self._commit(keyed, at_once=lane == "life_safety")
            self._waiting.discard(lane)
            self._up()
            for reading in batch:
                for observe in self._observers:
                    try:
                        observe(reading)
                    except Exception:
                        self.errors += 1
                        log.exception("observer of %s/%s failed", reading.site,
                                      reading.device_id)
            self._drain()

    def handle_life_safety(self, batch: list[Reading]) -> None:
        """handle() for the life-safety lane: ahead of telemetry batches."""
        self.handle(batch, lane="life_safety")

    def replace_evaluator(self, build: Callable[[Evaluator], Evaluator]) -> Evaluator:
        """Swap the evaluator between two readings (hot reload): `build(old)` makes the new one
        while no reading or tick is being evaluated."""
        with self._lock:
            self._evaluator = build(self._evaluator)
            return self._evaluator

    def tick(self) -> None:
        """Expire hold timers and detect silent devices; apply what waits in the outbox."""
        with self._turn(urgent=False):
            self.ticked_at = self._clock()
            try:
                self._reload_if_needed()
                now = self._clock()
                signals = self._evaluator.tick(now, self._liveness.last_seen(), self._sites())
                self._commit([KeyedSignal(tick_key(s), "tick", s) for s in signals])
            except StateUnavailable:
                return  # counted and logged by _commit/_reload; the next tick tries again
            self._drain()
            try:
                self._backlog = self._outbox.backlog(self._sites())
                if now - self._pruned_at >= PRUNE_EVERY_S:
                    self._outbox.prune(now - KEEP_APPLIED_S)
                    self._pruned_at = now
            except StateUnavailable as e:
                self._down(e)

    def reload_state(self) -> None:
        """Read rule state back from the database (a site taken over: its previous owner
        committed newer state), after committing this instance's pending rate samples."""
        with self._turn(urgent=False):
            self._reload_if_needed()
            self._commit([], lazy=True)
            self._evaluator.reload()
            self._drain_needed = True  # the previous owner may have left signals to apply

    def _sites(self) -> Collection[str] | None:
        return None if self.sites is None else self.sites()

    # -- internals -----------------------------------------------------------------------------

    @contextmanager
    def _turn(self, urgent: bool) -> Iterator[None]:
        with self._gate:
            if urgent:
                self._urgent += 1
            else:
                while self._urgent:
                    self._gate.wait(0.05)
        try:
            with self._lock:
                self._busy_since = self._clock()
                try:
                    yield
                finally:
                    self._busy_since = None
        finally:
            if urgent:
                with self._gate:
                    self._urgent -= 1
                    self._gate.notify_all()

    def _reload_if_needed(self) -> None:
        if not self._reload_needed:
            return
        try:
            self._evaluator.reload()
        except StateUnavailable as e:
            self.deferred += 1
            self._down(e)
            raise
        self._reload_needed = False
        log.info("rule state reloaded from the database after a failed commit")

    def flush(self) -> None:
        """Commit rate-window samples now (at stop: a clean restart keeps every window)."""
        with self._turn(urgent=False):
            try:
                self._reload_if_needed()
                self._commit([], lazy=True)
            except StateUnavailable:
                log.warning("rate windows not saved at stop: the database is unavailable")

    def _commit(self, keyed: list[KeyedSignal], lazy: bool = False,
                at_once: bool = False) -> None:
        """Commit the batch's state and signals; `at_once`: apply them in that transaction
        too when nothing older waits in the outbox (the life-safety lane)."""
        now = self._clock()
        if not (lazy or at_once or self._lazy_left) and now - self._lazy_at >= LAZY_FLUSH_S:
            self._lazy_left = max(1, math.ceil(self._evaluator.lazy_waiting() / LAZY_CHUNK))
        chunk = self._lazy_left > 0 and not at_once  # an alarm's commit carries no samples
        changes = self._evaluator.take_changes(
            lazy or chunk, None if lazy else LAZY_CHUNK if chunk else 0)
        try:
            if at_once and keyed and not self._drain_needed:
                try:
                    applied, self._drain_needed = commit_applying(
                        self._outbox, self._incidents, changes, keyed)
                    self.applied += applied
                    keyed = []  # applied: nothing for the outbox drain
                except FallBack:
                    self._outbox.commit(changes, keyed)
            else:
                self._outbox.commit(changes, keyed)
        except StateUnavailable as e:
            self._reload_needed = True  # undo the batch in memory: it is evaluated again
            self.deferred += 1
            self._down(e)
            raise
        if keyed:
            self._drain_needed = True
        if lazy:
            self._lazy_at, self._lazy_left = now, 0
        elif chunk:
            self._lazy_left -= 1
            if not self._lazy_left:
                self._lazy_at = now
        self._up()

    def _drain(self) -> None:
        """Apply committed signals to incidents until none waits or the database fails."""
        if not self._drain_needed:
            return
        failed = False  # a row that raised and is not parked yet: try it again next time
        while True:
            try:
                rows = self._outbox.pending(DRAIN_CHUNK, self._sites())
            except StateUnavailable as e:
                self._down(e)
                return
            for row in rows:
                try:
                    self._incidents.apply(row.signal, also=self._marker(row.id))
                    self.applied += 1
                except AlreadyApplied:
                    continue  # another instance applied it (a site handover): done
                except IncidentStoreUnavailable as e:
                    self._down(StateUnavailable(str(e)))
                    return  # stays in the outbox, in order, for the next batch or tick
                except Exception as e:
                    self.errors += 1
                    log.exception("applying %s failed", row.key)
                    give_up = row.attempts + 1 >= APPLY_ATTEMPTS
                    self.parked += give_up
                    failed = failed or not give_up
                    try:
                        self._outbox.record_failure(row.id, repr(e), give_up)
                    except StateUnavailable as down:
                        self._down(down)
                        return
            if len(rows) < DRAIN_CHUNK or failed:
                break
        self._drain_needed = failed
        if not failed:
            self._backlog = (0, None)
        self._up()

    def _marker(self, row_id: int) -> Callable[[sa.Connection], None]:
        def mark(conn: sa.Connection) -> None:
            self._outbox.mark_applied(conn, row_id)

        return mark

    def _down(self, e: Exception) -> None:
        if self._down_since is None:
            self._down_since = self._clock()
            log.warning("incident database unavailable (%s): incidents are delayed", e)
        self._down_error = str(e)[:200]

    def _up(self) -> None:
        if self._down_since is not None and not self._waiting:
            log.info("incident database back after %.1f s", self._clock() - self._down_since)
            self._down_since, self._down_error = None, ""

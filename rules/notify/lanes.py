"""One lane per notification route: its own bounded queue of due deliveries, its own sender
threads and circuit breaker, so a route that hangs or fails never holds up another."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from rules.notify.breaker import CircuitBreaker
from rules.notify.routes import Route

log = logging.getLogger("sitewatch.notify")

IDLE_POLL_S = 0.2  # seconds a sender waits on an empty queue before checking for stop


class RouteLane:
    """A route's senders: a bounded priority queue (lowest rank, then oldest, first),
    `route.concurrency` threads, a breaker, and counters for health and /metrics."""

    def __init__(
        self,
        route: Route,
        send: Callable[[RouteLane, int], object],  # attempts one delivery by id, records it
        on_done: Callable[[], None] = lambda: None,  # a sender is free again
    ) -> None:
        self.route = route
        self.breaker = CircuitBreaker(route.breaker_failures, route.breaker_open_s)
        self._send = send
        self._on_done = on_done
        self._queue: queue.PriorityQueue[tuple[int, int]] = queue.PriorityQueue(route.queue_max)
        self._held: set[int] = set()  # delivery ids queued or being sent
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.refused = 0  # due deliveries the full queue refused (they stay pending, retaken)
        self.failures = 0  # attempts that failed, any reason
        self.delivered = 0  # attempts that succeeded
        self.errors = 0  # sender rounds that raised outside an attempt (database down)
        self.in_flight = 0  # sends running now

    def depth(self) -> int:
        """Deliveries queued in memory or being sent."""
        with self._lock:
            return len(self._held)

    def offer(self, delivery_id: int, rank: int) -> bool:
        """Queue a due delivery unless it is already queued or sending; False when refused."""
        with self._lock:
            if delivery_id in self._held:
                return True
            try:
                self._queue.put_nowait((rank, delivery_id))
            except queue.Full:
                self.refused += 1
                return False
            self._held.add(delivery_id)
            return True

    def start(self) -> None:
        """Start `route.concurrency` sender threads."""
        self._stop.clear()
        for i in range(self.route.concurrency):
            thread = threading.Thread(
                target=self._run, name=f"notify-{self.route.name}-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def halt(self) -> None:
        """Stop taking work, without waiting for the senders (`stop` waits)."""
        self._stop.set()

    def stop(self, timeout: float) -> None:
        """Stop taking work; a send in flight ends by its own timeout (threads are daemons)."""
        self.halt()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
        self._threads = []
        with self._lock:
            self._held.clear()
            while not self._queue.empty():
                self._queue.get_nowait()

    def alive(self) -> bool:
        """Whether every sender thread runs (True when not started)."""
        return all(t.is_alive() for t in self._threads)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                _, delivery_id = self._queue.get(timeout=IDLE_POLL_S)
            except queue.Empty:
                continue
            try:
                with self._lock:
                    self.in_flight += 1
                self._send(self, delivery_id)
            except Exception:  # the send records its own failures; this is the database
                self.errors += 1
                log.exception("route %s: delivery %d not recorded", self.route.name, delivery_id)
            finally:
                with self._lock:
                    self.in_flight -= 1
                    self._held.discard(delivery_id)
                self._on_done()

"""A circuit breaker per notification route: after N failures in a row the route is left
alone for a while, then one probe decides whether it closes again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """closed -> (N failures in a row) -> open -> (open_s later) -> half_open: one probe at a
    time; its success closes the breaker, its failure opens it again."""

    def __init__(
        self, failures: int, open_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._failures = failures  # consecutive failures that open the breaker
        self._open_s = open_s  # seconds the breaker stays open before a probe
        self._clock = clock
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._in_a_row = 0
        self._opened_at = 0.0
        self._probing = False
        self.times_opened = 0  # how often the breaker opened since start

    @property
    def state(self) -> State:
        """closed, open or half_open (open turns half_open once its time is up)."""
        with self._lock:
            if self._state == "open" and self._clock() >= self._opened_at + self._open_s:
                return "half_open"
            return self._state

    def allow(self) -> bool:
        """Whether a send may start now; in half_open only one probe at a time is let through."""
        with self._lock:
            if self._state == "open":
                if self._clock() < self._opened_at + self._open_s:
                    return False
                self._state = "half_open"
            if self._state == "half_open":
                if self._probing:
                    return False
                self._probing = True
            return True

    def succeeded(self) -> None:
        """A send went through: close."""
        with self._lock:
            self._state, self._in_a_row, self._probing = "closed", 0, False

    def failed(self) -> None:
        """A send failed: count it; open on the N-th in a row or on a failed probe."""
        with self._lock:
            self._in_a_row += 1
            if self._state == "half_open" or self._in_a_row >= self._failures:
                if self._state != "open":
                    self.times_opened += 1
                self._state, self._opened_at, self._probing = "open", self._clock(), False

    def release(self) -> None:
        """A probe slot taken by `allow` was not used (nothing was sent)."""
        with self._lock:
            self._probing = False

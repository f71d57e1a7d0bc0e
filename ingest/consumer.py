"""A thread that drains the reading log into one handler (the store, or the rules engine)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from devices.reading import Reading
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.log import LogError, ReadingLog, encode_reading
from ingest.stores.base import BadData, StoreUnavailable

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.2  # first wait after a failed attempt
BACKOFF_MAX_S = 10.0  # waits double up to this
UNEXPECTED_RETRIES = 5  # an unknown error is retried this often, then treated as bad data


class LogConsumer:
    """Read a batch -> handle it -> commit the cursor, never losing or reordering readings.

    `handle` raises StoreUnavailable to have the same batch retried with backoff, or BadData
    to have the batch split in halves until the refused readings are found; those are
    dead-lettered (reason `store_rejected` for the store, `<name>_rejected` otherwise) and
    the rest committed. Any other exception is logged and retried UNEXPECTED_RETRIES times,
    then treated as BadData, so one poisonous reading cannot wedge the log forever.
    """

    def __init__(
        self,
        log: ReadingLog,
        name: str,
        handle: Callable[[list[Reading]], None],
        batch_max: int,
        counters: IngestCounters,
        deadletters: DeadLetters,
        clock: Callable[[], float] = time.time,
        backoff: tuple[float, float] = (BACKOFF_MIN_S, BACKOFF_MAX_S),  # first, longest wait (s)
        counted_as: str | None = None,  # counters' name (default `name`): lanes add up
    ) -> None:
        self._log = log
        self.name = name
        self._counted = counted_as or name
        self._handle = handle
        self._batch_max = batch_max
        self._counters = counters
        self._deadletters = deadletters
        self._clock = clock
        self._backoff = backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        log.register(name)

    def start(self) -> None:
        """Start draining in a background thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"log-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop after the current attempt; an unconfirmed batch stays in the log."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def health(self) -> dict[str, Any]:
        """Thread alive and how far behind the log this consumer is."""
        return {"ok": self.running, "running": self.running, "depth": self._log.depth(self.name)}

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._log.read(self.name, self._batch_max, timeout=0.5)
                if batch and self._deliver([r for _, r in batch]):
                    self._log.commit(self.name, batch[-1][0])
                self._counters.set_log_depth(self.name, self._log.depth(self.name))
            except LogError:
                log.exception("reading log failed for consumer %s; retrying", self.name)
                self._stop.wait(self._backoff[1])

    def _deliver(self, readings: list[Reading]) -> bool:
        """Hand readings over until done; False only when stopping first."""
        delay, unexpected = self._backoff[0], 0
        while not self._stop.is_set():
            try:
                self._handle(readings)
            except StoreUnavailable as e:
                log.warning("%s unavailable (%s); retrying in %.1fs", self.name, e, delay)
            except BadData as e:
                return self._split(readings, str(e))
            except Exception:
                unexpected += 1
                log.exception("%s failed on %d readings", self.name, len(readings))
                if unexpected > UNEXPECTED_RETRIES:
                    return self._split(readings, "handler error")
            else:
                self._counters.add_handled(self._counted, len(readings))
                return True
            self._counters.add_retry(self._counted)
            self._stop.wait(delay)
            delay = min(delay * 2, self._backoff[1])
        return False

    def _split(self, readings: list[Reading], why: str) -> bool:
        if len(readings) == 1:
            r = readings[0]
            self._deadletters.add(
                f"{r.site}/{r.device_id}/{r.channel}",
                f"{self.name}_rejected",
                why,
                encode_reading(r).encode(),
                self._clock(),
            )
            self._counters.add_dropped(self._counted)
            return True
        mid = len(readings) // 2
        return self._deliver(readings[:mid]) and self._deliver(readings[mid:])

"""Retention of the embedded telemetry store: points older than the retention are deleted in
the background (a Job), and counted. InfluxDB keeps its own retention: the v1 adapter gives a
database it creates the same duration (ingest/stores/influx_v1.py); a v2 bucket's retention is
set where the bucket is created (README, "Retention")."""

from __future__ import annotations

import logging
import threading

from ingest.stores.embedded import EmbeddedStore

log = logging.getLogger(__name__)
DEFAULT_RETENTION_DAYS = 90.0
RETENTION_EVERY_S = 3600.0  # how often the job runs: a point lives at most this past its time


class EmbeddedRetention:
    """Deletes the embedded store's points older than `keep_s`; `removed_total` counts them."""

    def __init__(self, store: EmbeddedStore, keep_s: float) -> None:
        self._store = store
        self._keep_s = keep_s  # seconds; 0 or less keeps everything
        self._lock = threading.Lock()
        self.removed_total = 0  # points deleted since start
        self.runs = 0

    def run(self, now: float) -> int:
        """One pass at `now` (Unix seconds): the number of points deleted."""
        if self._keep_s <= 0:
            return 0
        removed = self._store.prune(now - self._keep_s)
        with self._lock:
            self.removed_total += removed
            self.runs += 1
        if removed:
            log.info("retention: deleted %d points older than %.0f days", removed,
                     self._keep_s / 86_400)
        return removed

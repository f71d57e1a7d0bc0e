"""Every ingest counter in one thread-safe place, plus per-device `seq` gap tracking."""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from typing import Any, Literal

SeqVerdict = Literal["first", "next", "gap", "duplicate", "restart"]


class SeqTracker:
    """Per-device last `seq`: a jump of k+1 means k lost readings; a lower seq is a restart.

    Memory is bounded: past `max_devices` the least recently seen device is forgotten (its
    next reading then counts as a first one, never as a loss).
    """

    def __init__(self, max_devices: int = 100_000) -> None:
        self._last: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._max = max_devices

    def observe(self, site: str, device_id: str, seq: int) -> tuple[SeqVerdict, int]:
        """Record one seq; return the verdict and the number of readings lost before it."""
        key = (site, device_id)
        last = self._last.get(key)
        self._last[key] = seq
        self._last.move_to_end(key)
        if len(self._last) > self._max:
            self._last.popitem(last=False)
        if last is None:
            return "first", 0
        if seq == last + 1:
            return "next", 0
        if seq == last:
            return "duplicate", 0
        if seq < last:
            return "restart", 0  # the device rebooted and counts from 0 again: nothing lost
        return "gap", seq - last - 1


class IngestCounters:
    """Counters of received, accepted, rejected (by reason), lost, stored... messages."""

    def __init__(self, max_devices: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._seq = SeqTracker(max_devices)
        self._max_devices = max_devices
        self.received = 0  # messages handed over by the broker
        self.accepted = 0  # readings written to the durable log
        self.queue_refused = 0  # messages refused by the full in-memory queue (not acked)
        self.rejected: Counter[str] = Counter()  # by reason label
        self.warnings: Counter[str] = Counter()  # accepted messages with a fault, by reason
        self.seq_lost: Counter[str] = Counter()  # lost readings by "site/device_id"
        self.seq_duplicates = 0
        self.seq_restarts = 0
        self.handled: Counter[str] = Counter()  # readings confirmed per log consumer
        self.retries: Counter[str] = Counter()  # failed attempts retried per log consumer
        self.dropped: Counter[str] = Counter()  # readings a consumer refused as bad data
        self.log_depth: dict[str, int] = {}  # readings waiting per log consumer (gauge)

    def add_received(self, n: int = 1) -> None:
        """Count messages taken from the broker."""
        with self._lock:
            self.received += n

    def add_queue_refused(self) -> None:
        """Count one message the full queue refused."""
        with self._lock:
            self.queue_refused += 1

    def add_rejected(self, reason: str) -> None:
        """Count one rejected message under its reason."""
        with self._lock:
            self.rejected[reason] += 1

    def add_warning(self, reason: str) -> None:
        """Count one accepted message that had a fault (e.g. an unknown metric) under its reason."""
        with self._lock:
            self.warnings[reason] += 1

    def add_accepted(self, n: int) -> None:
        """Count readings made durable in the log."""
        with self._lock:
            self.accepted += n

    def observe_seq(self, site: str, device_id: str, seq: int) -> SeqVerdict:
        """Track one device seq and count losses, duplicates and restarts."""
        with self._lock:
            verdict, lost = self._seq.observe(site, device_id, seq)
            if verdict == "gap":
                key = f"{site}/{device_id}"
                if key not in self.seq_lost and len(self.seq_lost) >= self._max_devices:
                    key = "(other devices)"  # keep the label set bounded
                self.seq_lost[key] += lost
            elif verdict == "duplicate":
                self.seq_duplicates += 1
            elif verdict == "restart":
                self.seq_restarts += 1
            return verdict

    def add_handled(self, consumer: str, n: int) -> None:
        """Count readings a log consumer (e.g. "store") confirmed."""
        with self._lock:
            self.handled[consumer] += n

    def add_retry(self, consumer: str) -> None:
        """Count one failed attempt that will be retried."""
        with self._lock:
            self.retries[consumer] += 1

    def add_dropped(self, consumer: str, n: int = 1) -> None:
        """Count readings a consumer refused as bad data (dead-lettered)."""
        with self._lock:
            self.dropped[consumer] += n

    def set_log_depth(self, consumer: str, depth: int) -> None:
        """Set the gauge of readings waiting in the log for a consumer."""
        with self._lock:
            self.log_depth[consumer] = depth

    def totals(self) -> dict[str, Any]:
        """What ingest counted (not the consumers), for `add_totals` in another process."""
        with self._lock:
            return {"received": self.received, "accepted": self.accepted,
                    "queue_refused": self.queue_refused, "rejected": dict(self.rejected),
                    "warnings": dict(self.warnings), "seq_lost": dict(self.seq_lost),
                    "seq_duplicates": self.seq_duplicates, "seq_restarts": self.seq_restarts}

    def add_totals(self, now: dict[str, Any], before: dict[str, Any] | None) -> None:
        """Add what another process's ingest counted since its `before` totals (None: all)."""
        before = before or {}
        with self._lock:
            for name in ("received", "accepted", "queue_refused", "seq_duplicates",
                         "seq_restarts"):
                setattr(self, name, getattr(self, name) + now[name] - before.get(name, 0))
            for name in ("rejected", "warnings", "seq_lost"):
                mine, was = getattr(self, name), before.get(name, {})
                for key, n in now[name].items():
                    if n != was.get(key, 0):
                        mine[key] += n - was.get(key, 0)

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of every counter, for health and /metrics."""
        with self._lock:
            return {
                "received": self.received,
                "accepted": self.accepted,
                "rejected": dict(self.rejected),
                "rejected_total": sum(self.rejected.values()),
                "warnings": dict(self.warnings),
                "queue_refused": self.queue_refused,
                "seq_lost": dict(self.seq_lost),
                "seq_lost_total": sum(self.seq_lost.values()),
                "seq_duplicates": self.seq_duplicates,
                "seq_restarts": self.seq_restarts,
                "stored": self.handled["store"],
                "write_retries": self.retries["store"],
                "store_rejected": self.dropped["store"],
                "handled": dict(self.handled),
                "retries": dict(self.retries),
                "dropped": dict(self.dropped),
                "log_depth": dict(self.log_depth),
            }

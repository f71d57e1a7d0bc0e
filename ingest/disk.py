"""The durable log's disk high-water mark: warn past a soft limit, refuse telemetry past a hard one.

Telemetry refused this way is left unacked (the broker keeps it for our persistent session
and redelivers it once the log has drained below the hard limit); events and status come in
on the life-safety lane, which this guard never stops.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

from ingest.log import LogError, ReadingLog

log = logging.getLogger(__name__)

DiskState = Literal["ok", "warn", "refusing"]
MB = 1024 * 1024


class LogDiskGuard:
    """Measures the logs (at most once a second) against a soft and a hard limit in bytes."""

    def __init__(
        self, logs: Sequence[ReadingLog], soft_bytes: int, hard_bytes: int,
        max_age_s: float = 1.0,  # a measurement is reused this long (seconds)
    ) -> None:
        self._logs = list(logs)
        self._max_age_s = max_age_s
        self.soft_bytes = soft_bytes
        self.hard_bytes = hard_bytes
        self._state: DiskState = "ok"
        self.refused = 0  # telemetry messages held at the broker (unacked) past the hard limit

    def used_bytes(self) -> int:
        """Bytes the logs' rows take now (measured at most once a second per log)."""
        total = 0
        for reading_log in self._logs:
            try:
                total += reading_log.size_bytes(self._max_age_s)
            except LogError:
                log.exception("measuring %s failed", reading_log.path)
        return total

    def state(self) -> DiskState:
        """ok, warn (past the soft limit) or refusing (past the hard limit)."""
        used = self.used_bytes()
        state: DiskState = (
            "refusing" if used >= self.hard_bytes else "warn" if used >= self.soft_bytes else "ok"
        )
        if state != self._state:
            level = logging.INFO if state == "ok" else logging.WARNING
            log.log(level, "durable log at %.2f MB (soft %.2f MB, hard %.2f MB): %s",
                    used / MB, self.soft_bytes / MB, self.hard_bytes / MB, state)
            self._state = state
        return state

    def refusing(self) -> bool:
        """True past the hard limit: telemetry is to be left unacked."""
        return self.state() == "refusing"

    def health(self) -> dict[str, Any]:
        """ok unless refusing; the state and the figures in MB."""
        state = self.state()
        return {
            "ok": state != "refusing", "state": state,
            "used_mb": round(self.used_bytes() / MB, 2),
            "soft_limit_mb": round(self.soft_bytes / MB, 2),
            "hard_limit_mb": round(self.hard_bytes / MB, 2), "refused": self.refused,
        }

"""Says in the log what /health says: a dependency down is warned, and again while it stays
down, and its return noted. `serve` against an unreachable broker used to log nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("sitewatch.health")

_DETAIL_KEYS = ("error", "last_error", "reason", "state")  # what a part says about itself


def _detail(part: dict[str, Any]) -> str:
    said = [f"{k}={part[k]}" for k in _DETAIL_KEYS if part.get(k) not in (None, "")]
    said += [f"{k}=false" for k, v in part.items() if v is False and k != "ok"]  # connected=false
    return "; ".join(said) or "not ok"


class DependencyWatch:
    """Run every few seconds (a Job): warns about each part of `health()` whose `ok` is false."""

    def __init__(
        self,
        health: Callable[[], dict[str, Any]],
        *,
        grace_s: float = 5.0,  # down this long before the first warning (connecting at start)
        repeat_s: float = 60.0,  # seconds between warnings while a part stays down
    ) -> None:
        self._health = health
        self._grace_s = grace_s
        self._repeat_s = repeat_s
        self._down_since: dict[str, float] = {}  # part -> Unix seconds first seen down
        self._warned_at: dict[str, float] = {}  # part -> Unix seconds of the last warning

    def run(self, now: float) -> None:
        """Compare each part's state with the last run and log what changed or persists."""
        try:
            parts = self._health()
        except Exception as e:  # noqa: BLE001 - the watch itself must never stop the service
            parts = {"health": {"ok": False, "error": f"{type(e).__name__}: {e}"}}
        for name, part in parts.items():
            if not isinstance(part, dict) or "ok" not in part:
                continue
            if part["ok"]:
                if self._down_since.pop(name, None) is not None and name in self._warned_at:
                    log.info("%s is back", name)
                self._warned_at.pop(name, None)
                continue
            since = self._down_since.setdefault(name, now)
            last = self._warned_at.get(name)
            if now - since < self._grace_s or (last is not None and now - last < self._repeat_s):
                continue
            self._warned_at[name] = now
            log.warning("%s is down for %.0f s: %s", name, now - since, _detail(part))

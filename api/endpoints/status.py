"""GET /api/v1/status: the site at a glance, from memory and one summary query."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from fastapi import APIRouter, Request

from api.auth import AUTH_ERRORS, Reader
from api.endpoints import API_PREFIX, RuntimeDep, utc
from api.runtime import Runtime
from api.schemas import DeviceCounts, StatusOut

router = APIRouter(prefix=API_PREFIX, tags=["status"])

REFRESH_S = 1.0  # device and incident counts are recomputed at most this often (seconds)


@dataclass(frozen=True)
class _Overview:
    """Device counts and the incident summary at one instant."""

    at: float  # Unix seconds (the runtime's clock) they were computed at
    devices: DeviceCounts
    summary: dict[str, Any]


class _OverviewCache:
    """The latest overview, recomputed by one request at a time once it is REFRESH_S old.

    Counting 10,000 devices and summarising 100,000 incidents costs a few milliseconds of
    the GIL; computed per request it queued concurrent requests behind each other. While
    one request recomputes, the others answer with the previous overview (a TTL cache alone
    would make them all wait or all recompute).
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        # Expires the overview REFRESH_S seconds (monotonic) after it was computed.
        self._fresh: TTLCache[str, _Overview] = TTLCache(maxsize=1, ttl=REFRESH_S,
                                                         timer=monotonic)
        self._access = threading.Lock()  # TTLCache is not thread-safe; held for a lookup only
        self._refresh = threading.Lock()  # one request recomputes at a time
        self._latest: _Overview | None = None  # kept past its TTL for the others to answer

    def _lookup(self) -> _Overview | None:
        with self._access:
            return self._fresh.get(_KEY)

    def get(self, rt: Runtime) -> _Overview:
        """An overview at most REFRESH_S old (older only while another request refreshes)."""
        fresh = self._lookup()
        if fresh is not None:
            return fresh
        latest = self._latest
        if latest is None:
            self._refresh.acquire()  # the very first overview: wait for whoever computes it
        elif not self._refresh.acquire(False):
            return latest  # another request is refreshing it right now
        try:
            fresh = self._lookup()
            if fresh is None:
                fresh = self._latest = _compute(rt)
                with self._access:
                    self._fresh[_KEY] = fresh
            return fresh
        finally:
            self._refresh.release()


_KEY = "overview"


def _compute(rt: Runtime) -> _Overview:
    now = rt.clock()
    # Liveness is in memory: one counting pass over 10,000 devices, no query per device.
    return _overview(rt, now, dict(rt.liveness.counts(now)), None)


def scoped_overview(rt: Runtime, sites: frozenset[str]) -> _Overview:
    """The overview of a site-scoped caller's sites only (computed per request)."""
    now = rt.clock()
    counts: Counter[tuple[str, bool]] = Counter(
        (d.state, d.registered) for d in rt.liveness.states(now) if d.site in sites
    )
    return _overview(rt, now, dict(counts), sites)


def ingest_view(snapshot: dict[str, Any], sites: frozenset[str] | None) -> dict[str, Any]:
    """The ingest counters; a site-scoped caller gets the plain totals, no per-device maps."""
    if sites is None:
        return snapshot
    return {k: v for k, v in snapshot.items() if not isinstance(v, dict)}


def _overview(
    rt: Runtime, now: float, counts: Mapping[tuple[Any, bool], int],
    sites: frozenset[str] | None,
) -> _Overview:
    by_state: Counter[str] = Counter()
    registered = 0
    for (state, is_registered), n in counts.items():
        by_state[state] += n
        registered += n if is_registered else 0
    total = sum(counts.values())
    devices = DeviceCounts(
        total=total,
        registered=registered,
        unregistered=total - registered,
        by_state={s: by_state.get(s, 0) for s in ("online", "stale", "offline", "unknown")},
    )
    summary = rt.incidents.summary(now, sites)
    if rt.operations is not None:  # disabled points, tests, shelved, silences, groups (§8)
        summary["operations"] = rt.operations.summary()
    return _Overview(now, devices, summary)


def _cache(request: Request) -> _OverviewCache:
    state = request.app.state
    cache: _OverviewCache | None = getattr(state, "status_overview", None)
    if cache is None:  # two first requests may race here: each then builds one, both valid
        cache = state.status_overview = _OverviewCache()
    return cache


@router.get(
    "/status",
    response_model=StatusOut,
    responses=AUTH_ERRORS,
)
def status(request: Request, rt: RuntimeDep, principal: Reader) -> StatusOut:
    """Devices by state, active alerts by severity, open tickets by priority, SLA breaches.

    Device and incident counts are refreshed at most once a second (`at` says when they
    were computed); the `ingest` counters are read live on every request.
    """
    if principal.sites is not None:  # a site-scoped token: its own sites, never the cache
        overview = scoped_overview(rt, principal.sites)
    else:
        overview = _cache(request).get(rt)
    summary = overview.summary
    return StatusOut(
        at=utc(overview.at),
        devices=overview.devices,
        alerts_active_by_severity=dict(summary["active_alerts"]),
        alerts_unacknowledged=int(summary["unacknowledged_alerts"]),
        tickets_open_by_priority=dict(summary["open_tickets"]),
        sla_breaches=int(summary["sla_breaches"]),
        ingest=ingest_view(rt.counters.snapshot(), principal.sites),
        operations=summary.get("operations"),
    )

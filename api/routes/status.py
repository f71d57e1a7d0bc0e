"""GET /api/v1/status: the site at a glance, from memory and one summary query."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter

from api.auth import AUTH_ERRORS, Reader
from api.routes import API_PREFIX, RuntimeDep, utc
from api.schemas import DeviceCounts, StatusOut

router = APIRouter(prefix=API_PREFIX, tags=["status"])


@router.get(
    "/status",
    response_model=StatusOut,
    responses=AUTH_ERRORS,
)
def status(rt: RuntimeDep, _: Reader) -> StatusOut:
    """Devices by state, active alerts by severity, open tickets by priority, SLA breaches."""
    now = rt.clock()
    # Liveness is in memory: one counting pass over 10,000 devices, no query per device.
    counts = rt.liveness.counts(now)
    by_state: Counter[str] = Counter()
    registered = 0
    for (state, is_registered), n in counts.items():
        by_state[state] += n
        registered += n if is_registered else 0
    total = sum(counts.values())
    summary = rt.incidents.summary(now)
    return StatusOut(
        at=utc(now),
        devices=DeviceCounts(
            total=total,
            registered=registered,
            unregistered=total - registered,
            by_state={s: by_state.get(s, 0) for s in ("online", "stale", "offline")},
        ),
        alerts_active_by_severity=dict(summary["active_alerts"]),
        alerts_unacknowledged=int(summary["unacknowledged_alerts"]),
        tickets_open_by_priority=dict(summary["open_tickets"]),
        sla_breaches=int(summary["sla_breaches"]),
        ingest=rt.counters.snapshot(),
    )

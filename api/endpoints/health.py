"""GET /api/v1/health (readiness, each dependency's state) and GET /api/v1/health/live
(liveness: our threads alive), no token needed."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Response

from api.endpoints import API_PREFIX, RuntimeDep
from api.schemas import HealthOut

router = APIRouter(prefix=API_PREFIX, tags=["health"])
log = logging.getLogger(__name__)


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "A dependency is not ok"}},
)
def health(response: Response, rt: RuntimeDep) -> HealthOut:
    """200 when every dependency is ok, else 503 with the same body."""
    try:
        raw = rt.health()
    except Exception as e:  # noqa: BLE001 - health must answer whatever a check does
        log.exception("health check failed")
        raw = {"health_check": {"ok": False, "error": f"{type(e).__name__}: {e}"}}
    checks: dict[str, dict[str, Any]] = {
        name: dict(value) if isinstance(value, dict) else {"value": value}
        for name, value in raw.items()
    }
    ok = all(bool(c.get("ok", True)) for c in checks.values())
    if not ok:
        response.status_code = 503
    return HealthOut(status="ok" if ok else "degraded", checks=checks)


@router.get(
    "/health/live",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "A thread of ours is not alive"}},
)
def live(response: Response, rt: RuntimeDep) -> HealthOut:
    """200 while every thread of ours is alive (dependencies aside), else 503: for the
    container healthcheck, so buffering through a store outage is not a reason to restart."""
    try:
        raw = rt.live()
    except Exception as e:  # noqa: BLE001 - liveness must answer whatever a check does
        log.exception("liveness check failed")
        raw = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    ok = bool(raw.get("ok", True))
    if not ok:
        response.status_code = 503
    return HealthOut(status="ok" if ok else "degraded", checks={"threads": dict(raw)})

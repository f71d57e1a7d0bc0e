"""The FastAPI app factory: routes, auth, errors, metrics and the event stream on a Runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from api.allow import install_allow_header
from api.auth import TokenAuth
from api.broadcast import IncidentBroadcaster
from api.endpoints import (  # operations, SPEC §8
    alarm_report,
    calendar,
    deadletters,
    devices,
    disablements,
    emergencies,
    false_alarms,
    health,
    incidents,
    maintenance_windows,
    metrics,
    oncall,
    reports,
    shelving,
    silences,
    status,
    stream,
    telemetry,
    ui,
    walk_tests,
    whoami,
)
from api.endpoints import audit as audit_endpoints
from api.endpoints import device_admin as device_admin_endpoints
from api.endpoints import history as history_endpoints
from api.endpoints import links as links_endpoints
from api.endpoints import rules_runtime as rules_runtime_endpoints
from api.endpoints import tickets as tickets_endpoints
from api.endpoints.checklists import router as checklists_router
from api.endpoints.rules_info import router as rules_info_router
from api.limits import ApiLimits, BodyLimit
from api.metrics import ApiMetrics, RequestMetrics
from api.operations import ERROR_HANDLERS as OPERATION_ERRORS
from api.operations import attach_operations
from api.runtime import Runtime
from api.schemas import ConflictOut
from ingest.stores.base import StoreUnavailable
from rules.incidents.record import (
    AssigneeRequired,
    IllegalTransition,
    IncidentNotFound,
    IncidentStoreUnavailable,
)

HEARTBEAT_S = 15.0  # SSE comment lines this often, so proxies and clients see a live stream


def create_app(
    runtime: Runtime,
    *,
    heartbeat_s: float = HEARTBEAT_S,
    stream_queue_max: int = 1000,  # events buffered per SSE client before it is cut off
) -> FastAPI:
    """An app serving SPEC §7 over `runtime`; it never starts ingest or rules itself."""
    attach_operations(runtime)  # SPEC §8; built here when the runtime has none
    broadcaster = IncidentBroadcaster(runtime.incidents, client_queue_max=stream_queue_max)
    runtime.incidents.subscribe(broadcaster.publish)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await broadcaster.start()
        try:
            yield
        finally:
            await broadcaster.stop()

    settings = runtime.settings
    app = FastAPI(
        docs_url="/docs" if settings.api_docs else None,  # off unless asked: CDN scripts
        redoc_url="/redoc" if settings.api_docs else None,
        title="Sitewatch",
        version="1.0.0",
        summary="Facility and safety monitoring: devices, alerts, tickets, live stream.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.auth = TokenAuth(runtime.engine)
    app.state.broadcaster = broadcaster
    app.state.heartbeat_s = heartbeat_s
    app.state.metrics = ApiMetrics(runtime, broadcaster)
    app.state.limits = ApiLimits(settings, app.state.metrics.registry)
    app.add_middleware(BodyLimit, max_bytes=settings.body_max_bytes, router=app.router)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)  # outermost: counts 413s

    for module in (health, status, devices, telemetry, incidents, tickets_endpoints, stream,
                   deadletters, reports, whoami):
        app.include_router(module.router)
    app.include_router(device_admin_endpoints.router)
    app.include_router(history_endpoints.router)
    app.include_router(rules_runtime_endpoints.router)
    app.include_router(rules_info_router)
    if settings.metrics_port is None:  # else /metrics is served on its own port only
        app.include_router(metrics.router)
    app.include_router(calendar.router)
    app.include_router(oncall.router)
    app.include_router(checklists_router)  # ticket checklists, SPEC §8.4
    app.include_router(ui.router)
    app.include_router(links_endpoints.router)  # /ack, /rate: the signed link is the credential
    app.include_router(audit_endpoints.router)
    for module in (disablements, walk_tests, shelving, silences, maintenance_windows,
                   emergencies, false_alarms):
        app.include_router(module.router)
    app.include_router(alarm_report.router)  # SPEC §8.7: the alarm system's health
    _install_error_handlers(app)
    install_allow_header(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """Domain errors -> HTTP answers, all as JSON with `detail`."""
    for error, handler in OPERATION_ERRORS.items():  # 422 naming the field, 404, 409, 403
        app.add_exception_handler(error, handler)

    @app.exception_handler(IncidentNotFound)
    async def _not_found(_: Request, e: IncidentNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=404)

    @app.exception_handler(IllegalTransition)
    async def _conflict(_: Request, e: IllegalTransition) -> JSONResponse:
        body = ConflictOut(
            detail=str(e), incident_id=e.incident_id, action=e.action, state=e.current_state
        )
        return JSONResponse(body.model_dump(), status_code=409)

    @app.exception_handler(AssigneeRequired)
    async def _assignee(_: Request, e: AssigneeRequired) -> JSONResponse:
        error = {"type": "missing", "loc": ["body", "assignee"], "msg": str(e), "input": None}
        return JSONResponse({"detail": jsonable_encoder([error])}, status_code=422)

    @app.exception_handler(IncidentStoreUnavailable)
    async def _db_down(_: Request, e: IncidentStoreUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": f"incident database unavailable, retry later: {e}"},
            status_code=503, headers={"Retry-After": "5"},
        )

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_: Request, e: StoreUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": f"telemetry store unavailable, retry later: {e}"},
            status_code=503, headers={"Retry-After": "5"},
        )

"""/metrics on a port of its own (SITEWATCH_METRICS_PORT), for scrapers that carry no token."""

from __future__ import annotations

import threading

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.metrics import ApiMetrics


def metrics_app(metrics: ApiMetrics) -> Starlette:
    """An app answering GET /metrics and nothing else."""

    async def exposition(_: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", exposition, methods=["GET"])])


def start_metrics_server(metrics: ApiMetrics, host: str, port: int) -> uvicorn.Server:
    """Serve /metrics on host:port from a daemon thread; `should_exit = True` stops it."""
    server = uvicorn.Server(uvicorn.Config(metrics_app(metrics), host=host, port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, name="metrics-http", daemon=True).start()
    return server

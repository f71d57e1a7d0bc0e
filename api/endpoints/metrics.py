"""GET /metrics: Prometheus text format.

No token: Prometheus scrapers rarely carry one, and the page holds counts, never incident
text or payloads. Keep the port off the public network, as usual for /metrics.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics(request: Request) -> Response:
    """Ingest counters, incidents by state, devices by state, API requests, SSE clients."""
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

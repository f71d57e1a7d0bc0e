"""GET /metrics: Prometheus text format.

It needs an API token of any role unless SITEWATCH_METRICS_PUBLIC is set: the page tells
how many critical alerts are active and how many devices are offline. A scraper without
tokens gets its own port instead (SITEWATCH_METRICS_PORT, api/metrics_server.py), bound
where only the scraper reaches it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST

from api.auth import AUTH_ERRORS, current_principal

router = APIRouter(tags=["metrics"])
_BEARER = HTTPBearer(auto_error=False)


def _guard(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
) -> None:
    if not request.app.state.runtime.settings.metrics_public:
        principal = current_principal(request, creds)
        if principal.sites is not None:  # the figures cover every site
            raise HTTPException(403, "/metrics covers every site: use a token without --sites")


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(_guard)],
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **AUTH_ERRORS,
    },
)
def metrics(request: Request) -> Response:
    """Ingest counters, incidents by state, devices by state, API requests, SSE clients."""
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

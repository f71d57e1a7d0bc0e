"""405 answers whose `Allow` names every method a path has, across the routers that serve it.

Starlette answers a method a path lacks from the first route whose path matched, so a path
served by two routes (GET /devices in one router, POST /devices in another) would advertise
only one method.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route


def install_allow_header(app: FastAPI) -> None:
    """Answer 405 with every method of every route matching the request's path."""

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        methods: set[str] = set()
        for route in app.router.routes:
            if isinstance(route, Route) and route.methods:
                match, _ = route.matches({**request.scope, "method": next(iter(route.methods))})
                if match == Match.FULL:
                    methods |= route.methods
        return JSONResponse({"detail": exc.detail}, status_code=405,
                            headers={"Allow": ", ".join(sorted(methods))})

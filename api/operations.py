"""Operations (SPEC §8) on a Runtime: the one built by the composition root, or one built
here over a test's Runtime parts, installed in its incident service either way."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.runtime import Runtime
from rules.operations.errors import AlreadyEnded, InvalidField, NotAllowed, UnknownTarget
from rules.operations.plans import load_plans
from rules.operations.service import Operations


def attach_operations(runtime: Runtime) -> Operations:
    """The runtime's Operations, built and installed if it has none yet."""
    if runtime.operations is None:
        runtime.operations = Operations(
            runtime.engine, runtime.incidents, runtime.registry, runtime.pack,
            load_plans(runtime.settings.plans), clock=runtime.clock,
        ).install()
    return runtime.operations


def operations_of(request: Request) -> Operations:
    """The app's Operations (a dependency for the operations endpoints)."""
    ops = request.app.state.runtime.operations
    if ops is None:  # create_app attaches one; a bare app without it cannot serve these
        raise HTTPException(503, "operations are not available")
    return ops


async def invalid_field(_: Request, e: InvalidField) -> JSONResponse:
    """422 naming the field, in FastAPI's own error shape."""
    loc = ["body", *e.field.split(".")]
    error = {"type": "value_error", "loc": loc, "msg": e.message, "input": None}
    return JSONResponse({"detail": jsonable_encoder([error])}, status_code=422)


async def unknown_target(_: Request, e: UnknownTarget) -> JSONResponse:
    """404: no such site, zone, device, plan or item."""
    return JSONResponse({"detail": str(e)}, status_code=404)


async def already_ended(_: Request, e: AlreadyEnded) -> JSONResponse:
    """409: it has ended already."""
    return JSONResponse({"detail": str(e)}, status_code=409)


async def not_allowed(_: Request, e: NotAllowed) -> JSONResponse:
    """403: the role may not act on this target."""
    return JSONResponse({"detail": str(e)}, status_code=403)


ERROR_HANDLERS: dict[type[Exception], Any] = {
    InvalidField: invalid_field, UnknownTarget: unknown_target, AlreadyEnded: already_ended,
    NotAllowed: not_allowed,
}


async def method_not_allowed(request: Request, e: StarletteHTTPException) -> Response:
    """405 with `Allow` naming every method of the path, not only its first route's (the
    operations paths have GET and POST as two routes); other HTTP errors as FastAPI answers."""
    if e.status_code != 405:
        return await http_exception_handler(request, e)
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return JSONResponse({"detail": e.detail}, status_code=405,
                        headers={"Allow": ", ".join(sorted(methods))})


ERROR_HANDLERS[StarletteHTTPException] = method_not_allowed

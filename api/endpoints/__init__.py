"""One router per resource of SPEC §7, plus what they share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from api.runtime import Runtime

API_PREFIX = "/api/v1"
OFFSET_MAX = 1_000_000_000  # keeps OFFSET inside a 64-bit integer on every database
ID_MAX = 2**31 - 1  # the largest id an Integer column holds on PostgreSQL (int4); SQLite: 2**63 - 1


def get_runtime(request: Request) -> Runtime:
    """The Runtime the app was built with."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def utc(ts: float) -> datetime:
    """Unix seconds -> an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

"""GET /api/v1/deadletters: the last rejected messages, for operators."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query

from api.auth import AUTH_ERRORS, Reader
from api.endpoints import API_PREFIX, RuntimeDep
from api.schemas import DeadLetterPage

router = APIRouter(prefix=API_PREFIX, tags=["ingest"])


@router.get("/deadletters", response_model=DeadLetterPage, responses=AUTH_ERRORS)
def deadletters(
    rt: RuntimeDep,
    _: Reader,
    limit: int = Query(100, ge=1, le=1000),
) -> DeadLetterPage:
    """Rejected messages, newest first: topic, reason, detail and the payload's first bytes.

    Every role reads them: whoever is on shift must be able to see why a device's messages
    are refused. `at` is RFC 3339 like every other time; `dropped` counts the oldest records
    pushed out by newer ones (the record is bounded)."""
    items = rt.deadletters.items()
    page = [
        {**i, "at": datetime.fromtimestamp(i["at"], UTC)} for i in items[:limit]
    ]
    return DeadLetterPage(items=page, total=len(items), dropped=rt.deadletters.dropped)

"""GET /api/v1/deadletters: the last rejected messages, for operators."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query

from api.auth import AUTH_ERRORS, Reader
from api.endpoints import API_PREFIX, RuntimeDep
from api.schemas import DeadLetterPage

router = APIRouter(prefix=API_PREFIX, tags=["ingest"])



def _topic_site(topic: object) -> str | None:
    parts = topic.split("/") if isinstance(topic, str) else []
    return parts[1] if len(parts) > 1 else None


@router.get("/deadletters", response_model=DeadLetterPage, responses=AUTH_ERRORS)
def deadletters(
    rt: RuntimeDep,
    principal: Reader,
    limit: int = Query(100, ge=1, le=500),
) -> DeadLetterPage:
    """Rejected messages, newest first: topic, reason, detail and the payload's first bytes.

    Every role reads them: whoever is on shift must be able to see why a device's messages
    are refused. `at` is RFC 3339 like every other time; `dropped` counts the oldest records
    pushed out by newer ones (the record is bounded)."""
    items = rt.deadletters.items()
    if principal.sites is not None:  # the site is the topic's second level
        items = [i for i in items if _topic_site(i.get("topic")) in principal.sites]
    page = [
        {**i, "at": datetime.fromtimestamp(i["at"], UTC)} for i in items[:limit]
    ]
    return DeadLetterPage(items=page, total=len(items), dropped=rt.deadletters.dropped)

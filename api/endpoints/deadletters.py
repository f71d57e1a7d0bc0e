"""GET /api/v1/deadletters: the last rejected messages, for operators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import AUTH_ERRORS, Principal, require
from api.endpoints import API_PREFIX, RuntimeDep
from api.schemas import DeadLetterPage

router = APIRouter(prefix=API_PREFIX, tags=["ingest"])


def _topic_site(topic: object) -> str | None:
    parts = topic.split("/") if isinstance(topic, str) else []
    return parts[1] if len(parts) > 1 else None

DEADLETTER_READERS = frozenset({"viewer", "admin"})  # payload heads may hold site details


@router.get("/deadletters", response_model=DeadLetterPage, responses=AUTH_ERRORS)
def deadletters(
    rt: RuntimeDep,
    principal: Annotated[Principal, Depends(require(DEADLETTER_READERS))],
    limit: int = Query(100, ge=1, le=500),
) -> DeadLetterPage:
    """Rejected messages, newest first: topic, reason, detail and the payload's first bytes."""
    items = rt.deadletters.items()
    if principal.sites is not None:  # the site is the topic's second level
        items = [i for i in items if _topic_site(i.get("topic")) in principal.sites]
    return DeadLetterPage(items=items[:limit], total=len(items))

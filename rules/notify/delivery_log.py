"""The notification delivery log: one row per (incident change, route), and how it is read."""

from __future__ import annotations

from dataclasses import dataclass, replace

import sqlalchemy as sa

from rules.db.schema import deliveries


@dataclass(frozen=True)
class Delivery:
    """One (incident change, route) notification and how its delivery went."""

    id: int
    idempotency_key: str
    route: str
    channel: str
    timeline_id: int
    incident_id: int
    action: str
    status: str
    attempts: int
    last_error: str | None
    created_at: float
    next_attempt_at: float | None
    delivered_at: float | None


def list_deliveries(
    engine: sa.Engine,
    *,
    status: str | None = None,
    incident_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
    reveal_errors: bool = True,
) -> tuple[list[Delivery], int]:
    """The delivery log, newest first, and the total matching.

    `reveal_errors=False` (a non-admin asks) keeps only the kind of each error ("HTTP 500",
    "ConnectTimeout"): the rest is text a remote server chose, or where it lives.
    """
    where = []
    if status is not None:
        where.append(deliveries.c.status == status)
    if incident_id is not None:
        where.append(deliveries.c.incident_id == incident_id)
    cols = [c for c in deliveries.c if c.name not in ("payload", "rank")]
    with engine.connect() as conn:
        total = conn.scalar(sa.select(sa.func.count()).select_from(deliveries).where(*where))
        rows = conn.execute(
            sa.select(*cols).where(*where).order_by(deliveries.c.id.desc()).limit(limit).offset(offset)
        ).all()
    items = [Delivery(**r._asdict()) for r in rows]
    if not reveal_errors:
        items = [replace(d, last_error=mask_error(d.last_error)) for d in items]
    return items, int(total or 0)


def mask_error(text: str | None) -> str | None:
    """The kind of a logged error without its detail: the part before the first colon."""
    if text is None:
        return None
    return text.split(":", 1)[0][:40] + " (details for admins)"


def pending_by_route(engine: sa.Engine) -> dict[str, tuple[int, float | None]]:
    """Per route: how many deliveries are pending and when the oldest was logged (Unix s)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(deliveries.c.route, sa.func.count(), sa.func.min(deliveries.c.created_at))
            .where(deliveries.c.status == "pending")
            .group_by(deliveries.c.route)
        ).all()
    return {r[0]: (int(r[1]), None if r[2] is None else float(r[2])) for r in rows}

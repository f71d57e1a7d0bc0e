"""The notification delivery log: one row per (incident change, route), and how it is read."""

from __future__ import annotations

from dataclasses import dataclass

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
) -> tuple[list[Delivery], int]:
    """The delivery log, newest first, and the total matching."""
    where = []
    if status is not None:
        where.append(deliveries.c.status == status)
    if incident_id is not None:
        where.append(deliveries.c.incident_id == incident_id)
    cols = [c for c in deliveries.c if c.name != "payload"]
    with engine.connect() as conn:
        total = conn.scalar(sa.select(sa.func.count()).select_from(deliveries).where(*where))
        rows = conn.execute(
            sa.select(*cols).where(*where).order_by(deliveries.c.id.desc()).limit(limit).offset(offset)
        ).all()
    return [Delivery(**r._asdict()) for r in rows], int(total or 0)

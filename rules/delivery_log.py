"""The notification delivery log: one row per (incident change, route), and how it is read."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from rules.schema import metadata

_meta = metadata  # one schema, one Alembic chain
deliveries = sa.Table(
    "notification_deliveries",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("route", sa.String(100), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("timeline_id", sa.Integer, nullable=False),
    sa.Column("incident_id", sa.Integer, nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # pending | delivered | failed | muted
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("payload", sa.Text, nullable=False),  # the exact JSON body, resent unchanged
    sa.Column("created_at", sa.Float, nullable=False),  # Unix seconds
    sa.Column("next_attempt_at", sa.Float, nullable=True),  # Unix seconds; None once settled
    sa.Column("delivered_at", sa.Float, nullable=True),  # Unix seconds
    sa.Index("ix_notification_deliveries_status_next", "status", "next_attempt_at"),
    sa.Index("ix_notification_deliveries_incident_id", "incident_id"),
)


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

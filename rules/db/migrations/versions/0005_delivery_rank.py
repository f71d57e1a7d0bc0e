"""Notification deliveries get a rank (alerts before tickets, critical first) for each
route's sending order.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add notification_deliveries.rank and the per-route due index."""
    op.add_column(
        "notification_deliveries",
        sa.Column("rank", sa.Integer, nullable=False, server_default="9"),
    )
    op.create_index(
        "ix_notification_deliveries_route_due",
        "notification_deliveries",
        ["route", "status", "rank", "id"],
    )


def downgrade() -> None:
    """Drop the index and the column."""
    op.drop_index("ix_notification_deliveries_route_due", table_name="notification_deliveries")
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.drop_column("rank")

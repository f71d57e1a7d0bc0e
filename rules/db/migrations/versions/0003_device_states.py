"""Device states: each device's last_seen, state-since and latest metrics across restarts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the device_states table."""
    op.create_table(
        "device_states",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("zone", sa.String(128), nullable=True),
        sa.Column("kind", sa.String(64), nullable=True),
        sa.Column("registered", sa.Boolean, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=True),
        sa.Column("online_since", sa.Float, nullable=True),
        sa.Column("offline_since", sa.Float, nullable=True),
        sa.Column("latest", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    """Drop the device_states table."""
    op.drop_table("device_states")

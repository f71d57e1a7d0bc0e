"""Signal outbox: rule signals committed with the rule state that made them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the signal_outbox table."""
    op.create_table(
        "signal_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("signal_key", sa.String(400), nullable=False),
        sa.Column("lane", sa.String(16), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(140), nullable=False),
        sa.Column("zone", sa.String(128), nullable=True),
        sa.Column("device_kind", sa.String(64), nullable=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("value", sa.JSON, nullable=True),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("applied_at", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ux_signal_outbox_key", "signal_outbox", ["signal_key"], unique=True)
    op.create_index("ix_signal_outbox_applied_at", "signal_outbox", ["applied_at"])


def downgrade() -> None:
    """Drop the signal_outbox table."""
    op.drop_index("ix_signal_outbox_applied_at", "signal_outbox")
    op.drop_index("ux_signal_outbox_key", "signal_outbox")
    op.drop_table("signal_outbox")

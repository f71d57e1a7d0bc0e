"""Resolve rechecks: a ticket resolved by force is checked again after a grace period.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the resolve_rechecks table."""
    op.create_table(
        "resolve_rechecks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("device_id", sa.String(200), nullable=False),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("done_at", sa.Float, nullable=True),
    )
    op.create_index("ix_resolve_rechecks_due", "resolve_rechecks", ["done_at", "due_at"])


def downgrade() -> None:
    """Drop the resolve_rechecks table."""
    op.drop_index("ix_resolve_rechecks_due", "resolve_rechecks")
    op.drop_table("resolve_rechecks")

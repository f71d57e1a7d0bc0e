"""Site handover at kill -9 (SPEC §11): last owner per site, redelivered messages held.

Revision ID: 0021
Revises: 0017
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create site_owners and site_redeliveries."""
    op.create_table(
        "site_owners",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("instance", sa.String(64), nullable=True),
        sa.Column("boot", sa.String(32), nullable=True),
        sa.Column("since", sa.Float, nullable=False),
    )
    op.create_table(
        "site_redeliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("prev_instance", sa.String(64), nullable=False),
        sa.Column("prev_boot", sa.String(32), nullable=False),
        sa.Column("mid", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("parked_at", sa.Float, nullable=False),
        sa.UniqueConstraint("site", "mid", "digest", name="uq_site_redeliveries_message"),
    )
    op.create_index("ix_site_redeliveries_prev", "site_redeliveries", ["prev_instance"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("site_redeliveries")
    op.drop_table("site_owners")

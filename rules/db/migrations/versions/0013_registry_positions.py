"""Registry positions: a device's floor and place on its floor plan (the site map).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add floor, x and y to registry_devices."""
    with op.batch_alter_table("registry_devices") as batch:
        batch.add_column(sa.Column("floor", sa.String(64), nullable=True))
        batch.add_column(sa.Column("x", sa.Float, nullable=True))
        batch.add_column(sa.Column("y", sa.Float, nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("registry_devices") as batch:
        batch.drop_column("y")
        batch.drop_column("x")
        batch.drop_column("floor")

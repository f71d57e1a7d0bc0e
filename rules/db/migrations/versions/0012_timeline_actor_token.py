"""Timeline actor token: the API token behind each entry, since a revoked name may be reused.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable actor_token_id column (NULL: a rule or the system acted)."""
    with op.batch_alter_table("incident_timeline") as batch:
        batch.add_column(sa.Column("actor_token_id", sa.Integer, nullable=True))


def downgrade() -> None:
    """Drop actor_token_id."""
    with op.batch_alter_table("incident_timeline") as batch:
        batch.drop_column("actor_token_id")

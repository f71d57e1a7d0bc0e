"""Ticket checklists: items per incident, each answered done, failed or n/a (SPEC §8.4).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the incident_checklist_items table."""
    op.create_table(
        "incident_checklist_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id",
            sa.Integer,
            sa.ForeignKey("incidents.id", name="fk_checklist_incident", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("result", sa.String(16), nullable=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("answered_by", sa.String(128), nullable=True),
        sa.Column("answered_at", _TS, nullable=True),
        sa.Column("follow_up_incident_id", sa.Integer, nullable=True),
        sa.UniqueConstraint("incident_id", "position", name="uq_checklist_items_position"),
    )


def downgrade() -> None:
    """Drop the incident_checklist_items table."""
    op.drop_table("incident_checklist_items")

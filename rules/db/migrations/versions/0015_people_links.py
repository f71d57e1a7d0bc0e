"""People: link secret, single-use links, on-call pages, ticket requesters and ratings.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create link_secrets, link_uses, oncall_pages, ticket_requesters, ticket_ratings."""
    op.create_table(
        "link_secrets",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "link_uses",
        sa.Column("link_id", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("used_by", sa.String(200), nullable=False),
        sa.Column("used_at", _TS, nullable=False),
    )
    op.create_table(
        "oncall_pages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("person_id", sa.String(128), nullable=True),
        sa.Column("timeline_id", sa.Integer, nullable=True),
        sa.Column("paged_at", _TS, nullable=False),
        sa.UniqueConstraint("incident_id", "level", name="uq_oncall_pages_incident_level"),
    )
    op.create_table(
        "ticket_requesters",
        sa.Column("incident_id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("webhook", sa.String(2000), nullable=True),
        sa.Column("survey_sent_at", _TS, nullable=True),
    )
    op.create_table(
        "ticket_ratings",
        sa.Column("incident_id", sa.Integer, primary_key=True),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("site", sa.String(128), nullable=True),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("rated_at", _TS, nullable=False),
    )
    op.create_index("ix_ticket_ratings_rated_at", "ticket_ratings", ["rated_at"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_ticket_ratings_rated_at", table_name="ticket_ratings")
    for table in ("ticket_ratings", "ticket_requesters", "oncall_pages", "link_uses",
                  "link_secrets"):
        op.drop_table(table)

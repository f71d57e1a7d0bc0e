"""Initial schema: incidents, incident timeline, rule state, API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the four tables and their indexes."""
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("department", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("priority", sa.String(4), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("site", sa.String(64), nullable=True),
        sa.Column("zone", sa.String(128), nullable=True),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("location", sa.Text, nullable=True),
        sa.Column("runbook", sa.Text, nullable=True),
        sa.Column("latching", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("auto_resolve", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("occurrences", sa.Integer, nullable=False, server_default="1"),
        sa.Column("opened_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("acknowledged_at", _TS, nullable=True),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.Column("assignee", sa.String(128), nullable=True),
        sa.Column("respond_by", _TS, nullable=True),
        sa.Column("resolve_by", _TS, nullable=True),
        sa.Column("respond_breached", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("resolve_breached", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_escalation_at", _TS, nullable=True),
        sa.Column(
            "linked_incident_id",
            sa.Integer,
            sa.ForeignKey("incidents.id", name="fk_incidents_linked", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("opened_by", sa.String(128), nullable=False),
        sa.Column("open_key", sa.String(200), nullable=True),
    )
    op.create_index("ux_incidents_open_key", "incidents", ["open_key"], unique=True)
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"])
    op.create_index("ix_incidents_kind_state", "incidents", ["kind", "state"])
    op.create_index("ix_incidents_device_id", "incidents", ["device_id"])
    op.create_index("ix_incidents_resolve_by", "incidents", ["resolve_by"])
    op.create_index("ix_incidents_next_escalation_at", "incidents", ["next_escalation_at"])

    op.create_table(
        "incident_timeline",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id",
            sa.Integer,
            sa.ForeignKey("incidents.id", name="fk_timeline_incident", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_incident_timeline_incident_id", "incident_timeline", ["incident_id"])

    op.create_table(
        "rule_state",
        sa.Column("rule_id", sa.String(128), primary_key=True),
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("memo", sa.JSON, nullable=False),
        sa.Column("site", sa.String(64), nullable=False, server_default=""),
        sa.Column("zone", sa.String(128), nullable=True),
        sa.Column("device_kind", sa.String(64), nullable=True),
    )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
    )


def downgrade() -> None:
    """Drop everything."""
    op.drop_table("api_tokens")
    op.drop_table("rule_state")
    op.drop_index("ix_incident_timeline_incident_id", table_name="incident_timeline")
    op.drop_table("incident_timeline")
    for name in (
        "ix_incidents_next_escalation_at",
        "ix_incidents_resolve_by",
        "ix_incidents_device_id",
        "ix_incidents_kind_state",
        "ix_incidents_opened_at",
        "ux_incidents_open_key",
    ):
        op.drop_index(name, table_name="incidents")
    op.drop_table("incidents")

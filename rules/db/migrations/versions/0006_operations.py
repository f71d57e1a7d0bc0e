"""Operations (SPEC §8.1-§8.3): disablements, walk tests, silences, shelving, what they saw;
incident columns for tests, groups, shelving, resolution codes, windows and emergency plans;
maintenance windows learn who ended them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_DT = sa.DateTime(timezone=True)
_INCIDENT_COLUMNS = ("test", "test_id", "group_id", "shelved_until", "resolution_code",
                     "window_id", "plan")
_WINDOW_COLUMNS = ("created_at", "ended_at", "ended_by")
_TABLES = ("operation_signals", "shelvings", "silences", "walk_tests", "disablements")


def _operation() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", _DT, nullable=False),
        sa.Column("until", _DT, nullable=False),
        sa.Column("ended_at", _DT, nullable=True),
        sa.Column("ended_by", sa.String(128), nullable=True),
    ]


def _target() -> list[sa.Column[Any]]:
    return [
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("zone", sa.String(128), nullable=True),
        sa.Column("device_id", sa.String(64), nullable=True),
    ]


def upgrade() -> None:
    """Add the operations tables and columns."""
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("test", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("test_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("group_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("shelved_until", _DT, nullable=True))
        batch.add_column(sa.Column("resolution_code", sa.String(16), nullable=True))
        batch.add_column(sa.Column("window_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("plan", sa.String(64), nullable=True))
        batch.create_index("ix_incidents_group_id", ["group_id"])
    with op.batch_alter_table("maintenance_windows") as batch:
        batch.add_column(sa.Column("created_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("ended_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("ended_by", sa.String(128), nullable=True))
    op.create_table(
        "disablements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        *_target(),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("life_safety", sa.Boolean, nullable=False),
        sa.Column("impairment_ticket_id", sa.Integer, nullable=True),
        *_operation(),
        sa.Index("ix_disablements_ended_at", "ended_at"),
    )
    op.create_table(
        "walk_tests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        *_target(),
        sa.Column("note", sa.Text, nullable=False),
        *_operation(),
        sa.Index("ix_walk_tests_ended_at", "ended_at"),
    )
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=True),
        sa.Column("zone", sa.String(128), nullable=True),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("rule_id", sa.String(128), nullable=True),
        sa.Column("department", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column("comment", sa.Text, nullable=False),
        *_operation(),
        sa.Index("ix_silences_ended_at", "ended_at"),
    )
    op.create_table(
        "shelvings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        *_operation(),
        sa.Index("ix_shelvings_ended_at", "ended_at"),
    )
    op.create_table(
        "operation_signals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("operation_id", sa.Integer, nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("zone", sa.String(128), nullable=True),
        sa.Column("device_kind", sa.String(64), nullable=True),
        sa.Column("first_at", _DT, nullable=False),
        sa.Column("last_at", _DT, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("last_action", sa.String(8), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.UniqueConstraint(
            "operation", "operation_id", "rule_id", "device_id", name="uq_operation_signals"
        ),
    )


def downgrade() -> None:
    """Drop the operations tables and columns."""
    for table in _TABLES:
        op.drop_table(table)
    with op.batch_alter_table("maintenance_windows") as batch:
        for column in _WINDOW_COLUMNS:
            batch.drop_column(column)
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index("ix_incidents_group_id")
        for column in _INCIDENT_COLUMNS:
            batch.drop_column(column)

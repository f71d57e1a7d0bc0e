"""Signal outbox: rule signals committed with the rule state that made them; keys of
unregistered devices (`id@site`) fit rule_state.device_id and incidents.open_key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import re

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
    _lengths(device_id=140, open_key=300)


def downgrade() -> None:
    """Drop the signal_outbox table; the two columns back to their old lengths."""
    _lengths(device_id=64, open_key=200)
    op.drop_index("ix_signal_outbox_applied_at", "signal_outbox")
    op.drop_index("ux_signal_outbox_key", "signal_outbox")
    op.drop_table("signal_outbox")


def _lengths(device_id: int, open_key: int) -> None:
    """rule_state.device_id and incidents.open_key to these lengths.

    PostgreSQL alters them in place. SQLite does not enforce VARCHAR lengths, and its batch
    mode would copy and drop `incidents`, which with foreign keys on cascades to the timeline:
    so there the lengths are rewritten in the schema text only (what reflection reads).
    """
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("rule_state", "device_id", type_=sa.String(device_id))
        op.alter_column("incidents", "open_key", type_=sa.String(open_key))
        return
    conn = op.get_bind()
    conn.exec_driver_sql("PRAGMA writable_schema=ON")
    for table, column, new in (("rule_state", "device_id", device_id),
                               ("incidents", "open_key", open_key)):
        sql = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (table,)
        ).scalar_one()
        changed = re.sub(rf"({column} VARCHAR\()\d+(\))", rf"\g<1>{new}\g<2>", sql, count=1)
        conn.exec_driver_sql(
            "UPDATE sqlite_master SET sql=? WHERE type='table' AND name=?", (changed, table)
        )
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    conn.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema=OFF")

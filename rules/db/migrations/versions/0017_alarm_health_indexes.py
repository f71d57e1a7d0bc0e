"""Alarm-health indexes (SPEC §8.7): the report reads alerts from narrow indexes, not the table.

(kind, test, opened_at) serves the 10-minute counts, (kind, test, rule_id, device_id,
opened_at) hands the (rule, device) pairs over in time order for the top 10 and the
chattering window without a sort, and (resolution_code, opened_at) finds false and unwanted
alarms. On PostgreSQL the first two are read index-only (bench/alarm_report.py).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three indexes."""
    op.create_index("ix_incidents_alert_opened", "incidents", ["kind", "test", "opened_at"])
    op.create_index("ix_incidents_alert_pairs", "incidents",
                    ["kind", "test", "rule_id", "device_id", "opened_at"])
    op.create_index("ix_incidents_resolution_code", "incidents",
                    ["resolution_code", "opened_at"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_incidents_resolution_code", "incidents")
    op.drop_index("ix_incidents_alert_pairs", "incidents")
    op.drop_index("ix_incidents_alert_opened", "incidents")

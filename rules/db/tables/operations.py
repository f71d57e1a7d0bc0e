"""Operations (SPEC §8.1-§8.3; rules/operations/): maintenance windows, disablements, walk
tests, silences, shelvings, and the signals a disablement hid or a walk test saw."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from rules.db.tables.base import UtcDateTime, metadata

maintenance_windows = sa.Table(
    "maintenance_windows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("site", sa.String(64), nullable=True),  # None: any site
    sa.Column("zone", sa.String(64), nullable=True),
    sa.Column("device_id", sa.String(64), nullable=True),
    sa.Column("start_at", sa.Float, nullable=False),  # Unix seconds, inclusive
    sa.Column("end_at", sa.Float, nullable=False),  # Unix seconds, exclusive
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Index("ix_maintenance_windows_end_at", "end_at"),
)
for _column in (
    sa.Column("created_at", sa.Float, nullable=True),  # Unix seconds
    sa.Column("ended_at", sa.Float, nullable=True),  # Unix seconds it was ended (early or at end)
    sa.Column("ended_by", sa.String(128), nullable=True),  # who ended it; "system" at its end
):
    maintenance_windows.append_column(_column)


def _operation_columns() -> list[sa.Column[Any]]:
    """Who made it and why, and who ended it when: what the audit log reads."""
    return [
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("until", UtcDateTime, nullable=False),  # ends by itself here
        sa.Column("ended_at", UtcDateTime, nullable=True),
        sa.Column("ended_by", sa.String(128), nullable=True),  # "system" when `until` came
    ]


def _target_columns() -> list[sa.Column[Any]]:
    """A target: a site, optionally narrowed to a zone or one device."""
    return [
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("zone", sa.String(128), nullable=True),
        sa.Column("device_id", sa.String(64), nullable=True),
    ]


disablements = sa.Table(
    "disablements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    *_target_columns(),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("life_safety", sa.Boolean, nullable=False),  # the target holds fire devices
    sa.Column("impairment_ticket_id", sa.Integer, nullable=True),  # "fire protection impaired"
    *_operation_columns(),
    sa.Index("ix_disablements_ended_at", "ended_at"),
)

walk_tests = sa.Table(
    "walk_tests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    *_target_columns(),
    sa.Column("note", sa.Text, nullable=False),
    *_operation_columns(),
    sa.Index("ix_walk_tests_ended_at", "ended_at"),
)

silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("site", sa.String(64), nullable=True),  # matchers: None matches anything
    sa.Column("zone", sa.String(128), nullable=True),
    sa.Column("device_id", sa.String(64), nullable=True),
    sa.Column("rule_id", sa.String(128), nullable=True),
    sa.Column("department", sa.String(32), nullable=True),
    sa.Column("kind", sa.String(16), nullable=True),
    sa.Column("comment", sa.Text, nullable=False),
    *_operation_columns(),
    sa.Index("ix_silences_ended_at", "ended_at"),
)

shelvings = sa.Table(
    "shelvings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    *_operation_columns(),
    sa.Index("ix_shelvings_ended_at", "ended_at"),
)

# What a disablement hid, and what a walk test saw: one row per (operation, rule, device).
operation_signals = sa.Table(
    "operation_signals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("operation", sa.String(16), nullable=False),  # disablement | test
    sa.Column("operation_id", sa.Integer, nullable=False),
    sa.Column("rule_id", sa.String(128), nullable=False),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("zone", sa.String(128), nullable=True),
    sa.Column("device_kind", sa.String(64), nullable=True),
    sa.Column("first_at", UtcDateTime, nullable=False),
    sa.Column("last_at", UtcDateTime, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("last_action", sa.String(8), nullable=False),  # fire | clear
    sa.Column("message", sa.Text, nullable=False),
    sa.UniqueConstraint(
        "operation", "operation_id", "rule_id", "device_id", name="uq_operation_signals"
    ),
)

"""Every relational table: incidents and their timeline, rule state, API tokens, device states,
notification deliveries and cursor, maintenance windows, schedule runs.

The Alembic chain in rules/db/migrations/ creates exactly these; tests compare the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite hands back naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Store UTC; SQLite keeps no zone, so it gets the naive UTC value."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        """Read back as aware UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


incidents = sa.Table(
    "incidents",
    metadata,
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
    sa.Column("opened_at", UtcDateTime, nullable=False),
    sa.Column("last_seen_at", UtcDateTime, nullable=False),
    sa.Column("acknowledged_at", UtcDateTime, nullable=True),
    sa.Column("resolved_at", UtcDateTime, nullable=True),
    sa.Column("assignee", sa.String(128), nullable=True),
    sa.Column("respond_by", UtcDateTime, nullable=True),
    sa.Column("resolve_by", UtcDateTime, nullable=True),
    sa.Column("respond_breached", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("resolve_breached", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_escalation_at", UtcDateTime, nullable=True),
    sa.Column(
        "linked_incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", name="fk_incidents_linked", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("opened_by", sa.String(128), nullable=False),
    # "<rule_id>|<device_id>" while open, NULL once closed: the unique index below lets the
    # database refuse a second open incident for one (rule, device), whoever races.
    sa.Column("open_key", sa.String(200), nullable=True),
    sa.Index("ux_incidents_open_key", "open_key", unique=True),
    sa.Index("ix_incidents_opened_at", "opened_at"),
    sa.Index("ix_incidents_kind_state", "kind", "state"),
    sa.Index("ix_incidents_device_id", "device_id"),
    sa.Index("ix_incidents_resolve_by", "resolve_by"),
    sa.Index("ix_incidents_next_escalation_at", "next_escalation_at"),
)

incident_timeline = sa.Table(
    "incident_timeline",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", name="fk_timeline_incident", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("from_state", sa.String(16), nullable=True),
    sa.Column("to_state", sa.String(16), nullable=True),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_incident_timeline_incident_id", "incident_id"),
)

rule_state = sa.Table(
    "rule_state",
    metadata,
    sa.Column("rule_id", sa.String(128), primary_key=True),
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("since", sa.Float, nullable=False),  # Unix seconds the phase began
    sa.Column("memo", sa.JSON, nullable=False),
    sa.Column("site", sa.String(64), nullable=False, server_default=""),
    sa.Column("zone", sa.String(128), nullable=True),
    sa.Column("device_kind", sa.String(64), nullable=True),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_used_at", UtcDateTime, nullable=True),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
)

# One row per device: the liveness a restart must not forget (rules/db/device_states.py).
device_states = sa.Table(
    "device_states",
    metadata,
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("zone", sa.String(128), nullable=True),
    sa.Column("kind", sa.String(64), nullable=True),
    sa.Column("registered", sa.Boolean, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=True),  # Unix seconds of the last sign of life
    sa.Column("online_since", sa.Float, nullable=True),  # Unix seconds the current run began
    sa.Column("offline_since", sa.Float, nullable=True),  # Unix seconds of an `offline` status
    sa.Column("latest", sa.JSON, nullable=False),  # metric -> [ts Unix seconds, value]
    sa.Column("updated_at", sa.Float, nullable=False),  # Unix seconds of the last save
)


deliveries = sa.Table(
    "notification_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("route", sa.String(100), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("timeline_id", sa.Integer, nullable=False),
    sa.Column("incident_id", sa.Integer, nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # pending | delivered | failed | muted
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("payload", sa.Text, nullable=False),  # the exact JSON body, resent unchanged
    sa.Column("created_at", sa.Float, nullable=False),  # Unix seconds
    sa.Column("next_attempt_at", sa.Float, nullable=True),  # Unix seconds; None once settled
    sa.Column("delivered_at", sa.Float, nullable=True),  # Unix seconds
    sa.Index("ix_notification_deliveries_status_next", "status", "next_attempt_at"),
    sa.Index("ix_notification_deliveries_incident_id", "incident_id"),
)


notify_cursor = sa.Table(
    "notification_cursor",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("last_timeline_id", sa.Integer, nullable=False),  # every entry up to it is logged
)


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


schedule_runs = sa.Table(
    "schedule_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("schedule_id", sa.String(64), nullable=False),
    # device:<id> | zone:<site>/<zone> | site:<site>
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("slot", sa.String(64), nullable=False),  # ISO fire time, meter multiple, or "start"
    sa.Column("slot_value", sa.Float, nullable=False),  # Unix seconds, or the meter multiple
    sa.Column("incident_id", sa.Integer, nullable=True),  # the ticket; None for the baseline
    sa.Column("created_at", sa.Float, nullable=False),  # Unix seconds
    sa.UniqueConstraint("schedule_id", "target", "slot", name="uq_schedule_runs_slot"),
)


# Calendar links (GET /api/v1/schedules.ics?calendar_token=...): read-only, one purpose,
# revocable, apart from API tokens so a calendar app never holds an API credential.
calendar_tokens = sa.Table(
    "calendar_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
)

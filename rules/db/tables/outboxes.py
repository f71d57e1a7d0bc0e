"""Rule state, and the two outboxes that carry a change out of its transaction: rule signals
on their way to incidents, incident changes on their way to people (notification deliveries
and the cursor over the timeline)."""

from __future__ import annotations

import sqlalchemy as sa

from rules.db.tables.base import metadata

rule_state = sa.Table(
    "rule_state",
    metadata,
    sa.Column("rule_id", sa.String(128), primary_key=True),
    # 140 since 0004: an unregistered device's state is keyed `id@site` (64 + 1 + 64)
    sa.Column("device_id", sa.String(140), primary_key=True),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("since", sa.Float, nullable=False),  # Unix seconds the phase began
    sa.Column("memo", sa.JSON, nullable=False),
    sa.Column("site", sa.String(64), nullable=False, server_default=""),
    sa.Column("zone", sa.String(128), nullable=True),
    sa.Column("device_kind", sa.String(64), nullable=True),
)


# Rule signals committed in the transaction that saved the rule state which made them, and
# applied to incidents from here exactly once (rules/db/outbox.py; applied_at set in the
# incident's own transaction). signal_key is unique: a batch evaluated twice adds nothing.
signal_outbox = sa.Table(
    "signal_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("signal_key", sa.String(400), nullable=False),
    sa.Column("lane", sa.String(16), nullable=False),  # life_safety | telemetry | tick
    sa.Column("rule_id", sa.String(128), nullable=False),
    sa.Column("action", sa.String(8), nullable=False),  # fire | clear
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("device_id", sa.String(140), nullable=False),
    sa.Column("zone", sa.String(128), nullable=True),
    sa.Column("device_kind", sa.String(64), nullable=True),
    sa.Column("at", sa.Float, nullable=False),  # Unix seconds the evaluator decided
    sa.Column("value", sa.JSON, nullable=True),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),  # Unix seconds of the commit
    sa.Column("applied_at", sa.Float, nullable=True),  # Unix seconds; NULL while pending
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index("ux_signal_outbox_key", "signal_key", unique=True),
    sa.Index("ix_signal_outbox_applied_at", "applied_at"),
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
    # Sending order within a route: 0 critical alert .. 6 P4 ticket (rules/notify/routes.py)
    sa.Column("rank", sa.Integer, nullable=False, server_default="9"),
    sa.Index("ix_notification_deliveries_status_next", "status", "next_attempt_at"),
    sa.Index("ix_notification_deliveries_route_due", "route", "status", "rank", "id"),
    sa.Index("ix_notification_deliveries_incident_id", "incident_id"),
)


notify_cursor = sa.Table(
    "notification_cursor",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("last_timeline_id", sa.Integer, nullable=False),  # every entry up to it is logged
)

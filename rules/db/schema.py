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
    sa.Column("open_key", sa.String(300), nullable=True),  # 300 since 0004: `id@site` keys
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
    # api_tokens.id of the token that acted (a name may be reused once revoked); NULL: rule/system
    sa.Column("actor_token_id", sa.Integer, nullable=True),
    sa.Index("ix_incident_timeline_incident_id", "incident_id"),
)

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

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False),  # unique among live tokens (below)
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_used_at", UtcDateTime, nullable=True),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
    sa.Column("sites", sa.String(1024), nullable=True),  # "a,b": only these sites; NULL: all
    sa.Column("expires_at", UtcDateTime, nullable=True),  # NULL: never
)
# A revoked token's name may be given to a new token; timelines keep them apart by token id.
sa.Index(
    "ux_api_tokens_live_name", api_tokens.c.name, unique=True,
    sqlite_where=api_tokens.c.revoked_at.is_(None),
    postgresql_where=api_tokens.c.revoked_at.is_(None),
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


resolve_rechecks = sa.Table(
    "resolve_rechecks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, nullable=False),  # the ticket resolved by force
    sa.Column("rule_id", sa.String(128), nullable=False),
    sa.Column("device_id", sa.String(200), nullable=False),
    sa.Column("due_at", sa.Float, nullable=False),  # Unix seconds: resolve time + grace
    sa.Column("done_at", sa.Float, nullable=True),  # Unix seconds the check ran; None: pending
    sa.Index("ix_resolve_rechecks_due", "done_at", "due_at"),
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


# --- operations (SPEC §8.1-§8.3, §6 resolution codes; rules/operations/) ---------------------
# New incident columns, appended so the table above stays as it was written.
for _column in (
    sa.Column("test", sa.Boolean, nullable=False, server_default=sa.false()),  # walk-test alert
    sa.Column("test_id", sa.Integer, nullable=True),  # the walk test that opened it
    sa.Column("group_id", sa.Integer, nullable=True),  # §8.2: the group head's id (itself alone)
    sa.Column("shelved_until", UtcDateTime, nullable=True),  # shelved: off the active list
    sa.Column("resolution_code", sa.String(16), nullable=True),  # real | false_alarm | ...
    sa.Column("window_id", sa.Integer, nullable=True),  # maintenance window it opened inside
    sa.Column("plan", sa.String(64), nullable=True),  # declared emergency: the plan's id
):
    incidents.append_column(_column)
incidents.append_constraint(sa.Index("ix_incidents_group_id", "group_id"))
# Alarm health (SPEC §8.7, migration 0017): the report reads these instead of the table.
incidents.append_constraint(sa.Index("ix_incidents_alert_opened", "kind", "test", "opened_at"))
incidents.append_constraint(sa.Index(
    "ix_incidents_alert_pairs", "kind", "test", "rule_id", "device_id", "opened_at"))
incidents.append_constraint(sa.Index(
    "ix_incidents_resolution_code", "resolution_code", "opened_at"))
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


# The device registry kept in the database (SPEC §10): SITEWATCH_DEVICES is imported into it at
# start, the API creates, updates and retires devices; a retired device keeps its row (and its
# history in the stores) with `retired_at` set.
registry_devices = sa.Table(
    "registry_devices",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("zone", sa.String(128), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("interval_s", sa.Float, nullable=True),  # overrides the kind's interval, seconds
    sa.Column("retired_at", sa.Float, nullable=True),  # Unix seconds; None: in service
    sa.Column("created_at", sa.Float, nullable=False),  # Unix seconds
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),  # Unix seconds
    sa.Column("updated_by", sa.String(100), nullable=False),
)


registry_zones = sa.Table(
    "registry_zones",
    metadata,
    sa.Column("zone", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),  # Unix seconds
    sa.Column("updated_by", sa.String(100), nullable=False),
)


# One row per change to the device registry (who, when, what): the audit log reads these.
device_changes = sa.Table(
    "device_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),  # Unix seconds
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),  # create | update | retire
    sa.Column("changes", sa.JSON, nullable=False),  # field -> [before, after]
    sa.Index("ix_device_changes_device_id", "device_id"),
)


# One row per rules reload that took effect (who, when, which rules changed): for the audit log.
rule_reloads = sa.Table(
    "rule_reloads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),  # Unix seconds
    sa.Column("actor", sa.String(100), nullable=False),  # token name, or SIGHUP
    sa.Column("source", sa.Text, nullable=False),  # the rules file
    sa.Column("added", sa.JSON, nullable=False),  # rule ids
    sa.Column("changed", sa.JSON, nullable=False),
    sa.Column("removed", sa.JSON, nullable=False),
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


# Where a device sits on its floor plan (the console's site map; registry floor, x, y).
for _column in (
    sa.Column("floor", sa.String(64), nullable=True),
    sa.Column("x", sa.Float, nullable=True),  # % of the plan's width, from the left
    sa.Column("y", sa.Float, nullable=True),  # % of the plan's height, from the top
):
    registry_devices.append_column(_column)


# A ticket's checklist (SPEC §8.4): its rule's steps, its schedule's inspection items or items
# given by hand, answered one by one; a ticket resolves only when every item has a result.
incident_checklist_items = sa.Table(
    "incident_checklist_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", name="fk_checklist_incident", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("position", sa.Integer, nullable=False),  # 1, 2, ...: the item's number in the API
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("result", sa.String(16), nullable=True),  # done | failed | n/a; NULL: unanswered
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("answered_by", sa.String(128), nullable=True),
    sa.Column("answered_at", UtcDateTime, nullable=True),
    # the follow-up ticket a failed item opened (at most one per item)
    sa.Column("follow_up_incident_id", sa.Integer, nullable=True),
    sa.UniqueConstraint("incident_id", "position", name="uq_checklist_items_position"),
)


# People (SPEC §8.4, §8.5; rules/people/): the signing secret of links when
# SITEWATCH_LINK_SECRET is unset (made once, so every instance agrees), each link used once,
# the on-call chain's pages per incident, ticket requesters and their ratings.
link_secrets = sa.Table(
    "link_secrets",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("secret", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)
link_uses = sa.Table(
    "link_uses",
    metadata,
    sa.Column("link_id", sa.String(64), primary_key=True),  # the signed link's random id
    sa.Column("purpose", sa.String(20), nullable=False),  # ack | rate
    sa.Column("incident_id", sa.Integer, nullable=False),
    sa.Column("used_by", sa.String(200), nullable=False),
    sa.Column("used_at", UtcDateTime, nullable=False),
)
oncall_pages = sa.Table(
    "oncall_pages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, nullable=False),
    sa.Column("level", sa.Integer, nullable=False),  # 1 = the person on duty
    sa.Column("person_id", sa.String(128), nullable=True),  # None: nobody on duty to page
    sa.Column("timeline_id", sa.Integer, nullable=True),
    sa.Column("paged_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("incident_id", "level", name="uq_oncall_pages_incident_level"),
)
ticket_requesters = sa.Table(
    "ticket_requesters",
    metadata,
    sa.Column("incident_id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("webhook", sa.String(2000), nullable=True),
    sa.Column("survey_sent_at", UtcDateTime, nullable=True),  # the rating link went out
)
ratings = sa.Table(
    "ticket_ratings",
    metadata,
    sa.Column("incident_id", sa.Integer, primary_key=True),  # one rating per ticket
    sa.Column("department", sa.String(64), nullable=False),
    sa.Column("site", sa.String(128), nullable=True),
    sa.Column("score", sa.Integer, nullable=False),  # 1..5
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("rated_at", UtcDateTime, nullable=False),
    sa.Index("ix_ticket_ratings_rated_at", "rated_at"),
)


# Every change a person made through the API or the CLI (SPEC §8.6), written in the change's
# own transaction. Append-only: the migration adds triggers that refuse UPDATE and DELETE.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),  # token name, or cli:<os user>, SIGHUP
    sa.Column("actor_token_id", sa.Integer, nullable=True),  # api_tokens.id; NULL: no token
    sa.Column("action", sa.String(64), nullable=False),  # e.g. incident.acknowledge
    sa.Column("target", sa.String(300), nullable=False),  # e.g. incident:42, token:alice
    sa.Column("site", sa.String(64), nullable=True),
    sa.Column("detail", sa.JSON, nullable=False),  # what changed
    sa.Index("ix_audit_log_at", "at"),
    sa.Index("ix_audit_log_target", "target"),
)


# SITEWATCH_SITES=auto (SPEC §11, docs/SCALING.md): who served each site last, and the
# messages a site's new owner got redelivered from a dead owner's session, held until that
# owner (back with its data folder) says which of them its own log already has.
site_owners = sa.Table(
    "site_owners",
    metadata,
    sa.Column("site", sa.String(64), primary_key=True),
    sa.Column("instance", sa.String(64), nullable=True),  # None: handed over cleanly
    sa.Column("boot", sa.String(32), nullable=True),  # that instance's process run
    sa.Column("since", sa.Float, nullable=False),  # Unix seconds
)
site_redeliveries = sa.Table(
    "site_redeliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("prev_instance", sa.String(64), nullable=False),  # the owner that died
    sa.Column("prev_boot", sa.String(32), nullable=False),
    sa.Column("mid", sa.Integer, nullable=False),  # packet id: the same on each redelivery
    sa.Column("digest", sa.String(64), nullable=False),  # of the reading, receive time aside
    sa.Column("body", sa.Text, nullable=False),  # the reading as the durable log encodes it
    sa.Column("parked_at", sa.Float, nullable=False),  # Unix seconds
    sa.UniqueConstraint("site", "mid", "digest", name="uq_site_redeliveries_message"),
    sa.Index("ix_site_redeliveries_prev", "prev_instance"),
)

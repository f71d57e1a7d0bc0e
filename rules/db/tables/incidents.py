"""Incidents and what hangs on one: its timeline, its checklist, the rechecks of a ticket
resolved by force, and the runs of preventive-maintenance schedules that open tickets."""

from __future__ import annotations

import sqlalchemy as sa

from rules.db.tables.base import UtcDateTime, metadata

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
# Operations' columns (SPEC §8.1-§8.3, §6 resolution codes; rules/operations/), appended so
# the table above stays as it was written.
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

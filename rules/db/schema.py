"""Every relational table: incidents and their timeline, rule state, API tokens, device states,
notification deliveries and cursor, maintenance windows, schedule runs.

The Alembic chain in rules/db/migrations/ creates exactly these; tests compare the two. The
tables are written by area in rules/db/tables/; this module gathers them, one `metadata`, so
importers and the migrations' env.py read every table from here.
"""

from __future__ import annotations

from rules.db.tables.base import (
    UtcDateTime,
    metadata,
)
from rules.db.tables.devices import (
    device_changes,
    device_states,
    registry_devices,
    registry_zones,
    site_owners,
    site_redeliveries,
)
from rules.db.tables.incidents import (
    incident_checklist_items,
    incident_timeline,
    incidents,
    resolve_rechecks,
    schedule_runs,
)
from rules.db.tables.operations import (
    disablements,
    maintenance_windows,
    operation_signals,
    shelvings,
    silences,
    walk_tests,
)
from rules.db.tables.outboxes import (
    deliveries,
    notify_cursor,
    rule_state,
    signal_outbox,
)
from rules.db.tables.people import (
    api_tokens,
    audit_log,
    calendar_tokens,
    link_secrets,
    link_uses,
    oncall_pages,
    ratings,
    rule_reloads,
    ticket_requesters,
)

__all__ = [
    "UtcDateTime",
    "api_tokens",
    "audit_log",
    "calendar_tokens",
    "deliveries",
    "device_changes",
    "device_states",
    "disablements",
    "incident_checklist_items",
    "incident_timeline",
    "incidents",
    "link_secrets",
    "link_uses",
    "maintenance_windows",
    "metadata",
    "notify_cursor",
    "oncall_pages",
    "operation_signals",
    "ratings",
    "registry_devices",
    "registry_zones",
    "resolve_rechecks",
    "rule_reloads",
    "rule_state",
    "schedule_runs",
    "shelvings",
    "signal_outbox",
    "silences",
    "site_owners",
    "site_redeliveries",
    "ticket_requesters",
    "walk_tests",
]

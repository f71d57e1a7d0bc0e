"""People and the audit log: API and calendar tokens, signed links and their uses, on-call
pages, ticket requesters and their ratings, every change a person made, rules reloads."""

from __future__ import annotations

import sqlalchemy as sa

from rules.db.tables.base import UtcDateTime, metadata

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

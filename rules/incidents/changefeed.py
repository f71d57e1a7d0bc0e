"""The incident change feed: timeline ids are handed out in commit order, so a reader that
asks for `id > last` never skips a change that commits later with a lower id.

SQLite has one writer at a time, so its ids are in commit order already. On PostgreSQL a
sequence value is taken at insert and the transaction may commit much later, after a racer
with a higher id: every transaction that writes timeline entries therefore takes one
transaction-scoped advisory lock before its first entry and keeps it until commit or rollback
(PostgreSQL releases locks only after the commit is visible). Ids are thus taken and made
visible one transaction at a time: once id N is visible, every lower id is visible or rolled
back for good (a gap that never fills is fine: it was never a change).
"""

from __future__ import annotations

import sqlalchemy as sa

from rules.db.schema import incident_timeline

# Key of the advisory lock that orders timeline writers (any constant unique to Sitewatch).
FEED_LOCK_KEY = 0x5173_7761_7463_68  # "Sqwatch": fits a signed 64-bit bigint


def hold_feed_lock(conn: sa.Connection) -> None:
    """Take the feed lock for the rest of this transaction (PostgreSQL; reentrant; SQLite: no-op).

    Take it first in a write transaction (before row locks) so no two writers can deadlock on it.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": FEED_LOCK_KEY})


def head(conn: sa.Connection) -> int:
    """The highest timeline id committed so far (0 when there is none)."""
    newest = conn.scalar(sa.select(sa.func.max(incident_timeline.c.id)))
    return int(newest or 0)

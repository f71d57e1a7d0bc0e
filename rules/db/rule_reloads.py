"""The record of rules reloads: who reloaded which file when, and what it changed."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from rules.audit import log as audit
from rules.db.database import WRITE
from rules.db.schema import rule_reloads
from rules.engine.reload import ReloadResult


class ReloadLog:
    """Writes and reads `rule_reloads` rows."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        self._clock = clock

    def record(self, actor: str, result: ReloadResult) -> None:
        """One row for a reload that took effect."""
        c = result.changes
        at = self._clock()
        with self._writer.begin() as conn:
            conn.execute(rule_reloads.insert().values(
                at=at, actor=actor, source=result.source, added=c.added,
                changed=c.changed, removed=c.removed))
            audit.record(conn, actor=actor, action="rules.reload", target="rules:pack",
                         at=datetime.fromtimestamp(at, UTC),
                         detail={"source": result.source, "added": c.added,
                                 "changed": c.changed, "removed": c.removed})

    def all(self) -> list[dict[str, Any]]:
        """Every reload, oldest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(rule_reloads).order_by(rule_reloads.c.id)).all()
        return [dict(r._mapping) for r in rows]

"""Rule evaluation state kept in the relational database, so a restart resumes hold timers."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from rules.db.database import WRITE
from rules.db.schema import rule_state
from rules.engine.state import RuleState, StateKey, StateUnavailable

_VALUE_COLUMNS = ("phase", "since", "memo", "site", "zone", "device_kind")


class SqlStateStore:
    """StateStore on the `rule_state` table: one row per (rule, device), upserted on save."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def load_all(self) -> dict[StateKey, RuleState]:
        """Every saved state, at start."""
        try:
            with self._engine.connect() as conn:
                found = conn.execute(sa.select(rule_state)).all()
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise StateUnavailable(str(exc.orig or exc).strip().splitlines()[0]) from exc
        return {
            (row.rule_id, row.device_id): RuleState(
                phase=row.phase,
                since=float(row.since),
                memo=dict(row.memo or {}),
                site=row.site,
                zone=row.zone,
                device_kind=row.device_kind,
            )
            for row in found
        }

    def save(self, key: StateKey, state: RuleState) -> None:
        """Insert or replace the state of one (rule, device)."""
        values: dict[str, Any] = {
            "rule_id": key[0],
            "device_id": key[1],
            "phase": state.phase,
            "since": state.since,
            "memo": state.memo,
            "site": state.site,
            "zone": state.zone,
            "device_kind": state.device_kind,
        }
        with self._engine.connect() as conn:
            conn.execution_options(**WRITE)
            with conn.begin():
                conn.execute(self._upsert(conn.dialect.name, values))

    def delete(self, key: StateKey) -> None:
        """Forget the state of one (rule, device), if any."""
        with self._engine.connect() as conn:
            conn.execution_options(**WRITE)
            with conn.begin():
                conn.execute(
                    sa.delete(rule_state).where(
                        rule_state.c.rule_id == key[0], rule_state.c.device_id == key[1]
                    )
                )

    @staticmethod
    def _upsert(dialect: str, values: dict[str, Any]) -> sa.Executable:
        keys = [rule_state.c.rule_id, rule_state.c.device_id]
        if dialect == "postgresql":
            pg = postgresql.insert(rule_state).values(**values)
            update = {name: pg.excluded[name] for name in _VALUE_COLUMNS}
            return pg.on_conflict_do_update(index_elements=keys, set_=update)
        if dialect == "sqlite":
            lite = sqlite.insert(rule_state).values(**values)
            update = {name: lite.excluded[name] for name in _VALUE_COLUMNS}
            return lite.on_conflict_do_update(index_elements=keys, set_=update)
        # rules.db.database.create_engine admits no other backend.
        raise AssertionError(f"rule state upsert on {dialect}: not SQLite or PostgreSQL")

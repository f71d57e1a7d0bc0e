"""The signal outbox: rule state and the signals it emitted, committed in one transaction.

The rules worker evaluates a log batch in memory, then `commit()`s every rule state the batch
touched together with its signals; if that transaction fails, the batch is not marked
evaluated (the log cursor stays) and the evaluator reloads its state, so nothing the batch
decided is lost or half-kept. Signals are then applied to incidents from here, each in the
incident's own transaction that also sets its `applied_at` (`mark_applied`), so a signal opens
its incident exactly once across crash, restart and outage. A `signal_key` names the reading
(or tick) that caused a signal: a batch evaluated twice adds no second row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from rules.db.database import WRITE
from rules.db.rule_state import SqlStateStore
from rules.db.schema import rule_state, signal_outbox
from rules.engine.signals import Signal
from rules.engine.state import RuleState, StateKey, StateUnavailable

_STATE_VALUES = ("phase", "since", "memo", "site", "zone", "device_kind")
ERROR_TEXT_MAX = 500  # characters of a failed apply's error kept on its row


@dataclass(frozen=True, slots=True)
class KeyedSignal:
    """A signal with the key that makes it unique, and the lane it came from."""

    key: str
    lane: str  # life_safety | telemetry | tick
    signal: Signal


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A committed signal not yet applied to incidents."""

    id: int
    key: str
    lane: str
    signal: Signal
    attempts: int
    created_at: float  # Unix seconds


# What a database outage raises (connection refused or cut, locked): retry later. Anything
# else (a value too long, a constraint) is a bug to see, not an outage to wait out.
OUTAGE = (sa.exc.OperationalError, sa.exc.InterfaceError)


def unavailable(exc: sa.exc.DBAPIError) -> StateUnavailable:
    return StateUnavailable(str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc))


class AlreadyApplied(Exception):
    """Another instance applied this outbox row first (its transaction is rolled back)."""


def _of_sites(sites: Collection[str] | None) -> list[sa.ColumnElement[bool]]:
    """The where-clause of rows at these sites (SITEWATCH_SITES, SPEC §11); none: all."""
    return [] if sites is None else [signal_outbox.c.site.in_(sorted(sites))]


class SqlSignalOutbox:
    """Rule state and signals in the relational database (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock
        self.states = SqlStateStore(engine)  # what the evaluator loads at start and reload

    def commit(
        self, states: Mapping[StateKey, RuleState | None], signals: Sequence[KeyedSignal]
    ) -> None:
        """Save `states` (None: delete) and add `signals`, all or nothing (StateUnavailable)."""
        if not states and not signals:
            return
        now = self._clock()
        rows = [_signal_values(ks, now) for ks in signals]
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**WRITE)
                with conn.begin():
                    _save_states(conn, states)
                    if rows:
                        conn.execute(_insert_signals(conn.dialect.name), rows)
        except OUTAGE as exc:
            raise unavailable(exc) from exc

    def commit_applied(
        self, conn: sa.Connection, states: Mapping[StateKey, RuleState | None],
        signals: Sequence[KeyedSignal],
    ) -> list[bool]:
        """What `commit` writes, inside the caller's write transaction, each row marked applied
        already: the caller applies the signals in that same transaction (the life-safety
        lane), so they are applied exactly when the rows exist. Per signal, whether its row
        is new (False: its key is in the outbox already, from a batch evaluated again after a
        crash, and that row is applied from the outbox as before)."""
        _save_states(conn, states)
        now = self._clock()
        insert = _insert_signals(conn.dialect.name).returning(signal_outbox.c.id)
        return [
            conn.execute(insert, {**_signal_values(ks, now), "applied_at": now}).first()
            is not None
            for ks in signals
        ]

    def pending(
        self, limit: int = 200, sites: Collection[str] | None = None,  # None: every site
    ) -> list[OutboxRow]:
        """Signals not applied yet, life-safety first, then in commit order."""
        t = signal_outbox
        life_first = sa.case((t.c.lane == "life_safety", 0), else_=1)
        query = (sa.select(t).where(t.c.applied_at.is_(None), *_of_sites(sites))
                 .order_by(life_first, t.c.id).limit(limit))
        try:
            with self._engine.connect() as conn:
                found = conn.execute(query).all()
        except OUTAGE as exc:
            raise unavailable(exc) from exc
        return [
            OutboxRow(r.id, r.signal_key, r.lane, Signal(
                r.rule_id, r.action, r.site, r.device_id, float(r.at), r.zone, r.device_kind,
                r.value, r.message,
            ), r.attempts, float(r.created_at))
            for r in found
        ]

    def mark_applied(self, conn: sa.Connection, row_id: int) -> None:
        """Set the row applied, inside the transaction that applied it to incidents.

        AlreadyApplied (rolling that transaction back) when another instance applied it
        first: two instances draining around a site handover apply each signal once."""
        done = conn.execute(sa.update(signal_outbox).where(
            signal_outbox.c.id == row_id, signal_outbox.c.applied_at.is_(None),
        ).values(applied_at=self._clock()))
        if done.rowcount == 0:
            raise AlreadyApplied(row_id)

    def record_failure(self, row_id: int, error: str, give_up: bool) -> None:
        """Count a failed apply; `give_up` parks the row (applied_at set, error kept)."""
        values: dict[str, Any] = {
            "attempts": signal_outbox.c.attempts + 1, "last_error": error[:ERROR_TEXT_MAX],
        }
        if give_up:
            values["applied_at"] = self._clock()
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**WRITE)
                with conn.begin():
                    conn.execute(sa.update(signal_outbox)
                                 .where(signal_outbox.c.id == row_id).values(**values))
        except OUTAGE as exc:
            raise unavailable(exc) from exc

    def prune(self, applied_before: float) -> int:
        """Delete rows applied before `applied_before` (Unix seconds); how many went.

        Their keys only guard against a batch evaluated again after a crash, which happens
        within seconds; a day of them is kept for reading.
        """
        t = signal_outbox
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**WRITE)
                with conn.begin():
                    gone = conn.execute(sa.delete(t).where(
                        t.c.applied_at.is_not(None), t.c.applied_at < applied_before))
        except OUTAGE as exc:
            raise unavailable(exc) from exc
        return int(gone.rowcount or 0)

    def backlog(self, sites: Collection[str] | None = None) -> tuple[int, float | None]:
        """(signals not applied, Unix seconds the oldest of them was committed or None)."""
        t = signal_outbox
        query = sa.select(sa.func.count(), sa.func.min(t.c.created_at)).where(
            t.c.applied_at.is_(None), *_of_sites(sites))
        try:
            with self._engine.connect() as conn:
                n, oldest = conn.execute(query).one()
        except OUTAGE as exc:
            raise unavailable(exc) from exc
        return int(n), (float(oldest) if oldest is not None else None)


def _save_states(conn: sa.Connection, states: Mapping[StateKey, RuleState | None]) -> None:
    """Upsert the states, delete those that are None."""
    saves = [_state_values(k, s) for k, s in states.items() if s is not None]
    if saves:
        conn.execute(_upsert_states(conn.dialect.name), saves)
    for rule_id, device_id in (k for k, s in states.items() if s is None):
        conn.execute(sa.delete(rule_state).where(
            rule_state.c.rule_id == rule_id, rule_state.c.device_id == device_id))


def _state_values(key: StateKey, st: RuleState) -> dict[str, Any]:
    return {
        "rule_id": key[0], "device_id": key[1], "phase": st.phase, "since": st.since,
        # A copy: the evaluator goes on mutating its memo lists after the batch.
        "memo": {k: (list(v) if isinstance(v, list) else v) for k, v in st.memo.items()},
        "site": st.site, "zone": st.zone, "device_kind": st.device_kind,
    }


def _signal_values(ks: KeyedSignal, now: float) -> dict[str, Any]:
    s = ks.signal
    return {
        "signal_key": ks.key, "lane": ks.lane, "rule_id": s.rule_id, "action": s.action,
        "site": s.site, "device_id": s.device_id, "zone": s.zone, "device_kind": s.device_kind,
        "at": s.at, "value": s.value, "message": s.message, "created_at": now,
        "attempts": 0,
    }


def _upsert_states(dialect: str) -> sa.Executable:
    keys = [rule_state.c.rule_id, rule_state.c.device_id]
    ins = postgresql.insert(rule_state) if dialect == "postgresql" else sqlite.insert(rule_state)
    return ins.on_conflict_do_update(
        index_elements=keys, set_={name: ins.excluded[name] for name in _STATE_VALUES}
    )


def _insert_signals(dialect: str) -> sa.Insert:
    t = signal_outbox
    ins = postgresql.insert(t) if dialect == "postgresql" else sqlite.insert(t)
    return ins.on_conflict_do_nothing(index_elements=[t.c.signal_key])

"""Device liveness kept in the relational database, so a restart remembers every device."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from devices.liveness import DeviceLiveness
from devices.reading import MetricValue
from devices.snapshot import DeviceSnapshot
from rules.db.database import WRITE
from rules.db.schema import device_states

LAST_SEEN_EVERY_S = 60.0  # a reporting device's last seen is saved at most this often
CHUNK_ROWS = 100  # device rows per transaction (a few milliseconds of write lock each)
_UPDATED = (
    "site", "zone", "kind", "registered", "last_seen", "online_since", "offline_since",
    "latest", "updated_at",
)


class DeviceStateStore:
    """Saves and loads DeviceSnapshots in the `device_states` table, one row per device."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)  # SQLite: BEGIN IMMEDIATE
        self._clock = clock

    def save(self, snapshots: Iterable[DeviceSnapshot]) -> int:
        """Insert or replace each device's row, CHUNK_ROWS to a transaction; returns rows
        written. Short transactions: the incidents share this database, and an alert must
        not wait behind the whole site's liveness for its write lock."""
        now = self._clock()
        rows = [_row(s, now) for s in snapshots]
        for start in range(0, len(rows), CHUNK_ROWS):
            self._save_rows(rows[start : start + CHUNK_ROWS])
        return len(rows)

    def _save_rows(self, rows: list[dict[str, Any]]) -> None:
        with self._writer.begin() as conn:
            name = conn.dialect.name
            if name in ("sqlite", "postgresql"):
                insert = (sqlite.insert if name == "sqlite" else postgresql.insert)(device_states)
                stmt = insert.on_conflict_do_update(
                    index_elements=[device_states.c.device_id],
                    set_={c: insert.excluded[c] for c in _UPDATED},
                )
                conn.execute(stmt, rows)
            else:  # no portable upsert: replace the rows inside the same transaction
                ids = [r["device_id"] for r in rows]
                conn.execute(device_states.delete().where(device_states.c.device_id.in_(ids)))
                conn.execute(device_states.insert(), rows)

    def load(self) -> list[DeviceSnapshot]:
        """Every saved device state, ordered by device id."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(device_states).order_by(device_states.c.device_id)
            ).mappings()
            return [_snapshot(r) for r in rows]


class DeviceStateSaver:
    """Saves what liveness changed since the last successful save; a failed save is retried
    by the next one, since the cursor only moves once the rows are committed.

    The periodic job throttles: a device whose only news is a later last seen (it simply
    keeps reporting) is written at most every LAST_SEEN_EVERY_S; a change of state (online
    since, offline) is written at once. Writing every reporting device every few seconds
    cost the rules thread the GIL and the database's write lock (alert p99 48 -> 130 ms in
    bench/). The final save at stop writes every device exactly.
    """

    def __init__(self, liveness: DeviceLiveness, store: DeviceStateStore) -> None:
        self._liveness = liveness
        self._store = store
        self._cursor = 0  # largest liveness change number looked at so far
        self._saved: dict[str, tuple[float | None, float | None, float | None]] = {}
        self._lock = threading.Lock()  # the scheduler's run and the final save on stop

    def save_changed(self, throttle_s: float = 0.0) -> int:
        """Save devices changed since the last save (last-seen-only news at most every
        `throttle_s` seconds per device); returns how many were saved."""
        with self._lock:
            changed = self._liveness.snapshot(self._cursor)
            due = [s for s in changed if self._due(s, throttle_s)]
            self._write(due)
            self._cursor = max((s.change for s in changed), default=self._cursor)
            return len(due)

    def save_all(self, sites: Collection[str] | None = None) -> int:
        """Save every known device (at `sites`; None: all) exactly (at stop); returns how many
        were saved. Another instance's sites are its to save (SITEWATCH_SITES, SPEC §11): this
        instance's copy of them is only what it last read back."""
        with self._lock:
            every = self._liveness.snapshot(None)
            mine = [s for s in every if sites is None or s.site in sites]
            self._write(mine)
            self._cursor = max((s.change for s in every), default=self._cursor)
            return len(mine)

    def _due(self, s: DeviceSnapshot, throttle_s: float) -> bool:
        saved = self._saved.get(s.device_id)
        if saved is None or throttle_s <= 0:
            return True
        last_seen, online_since, offline_since = saved
        if (online_since, offline_since) != (s.online_since, s.offline_since):
            return True
        return (s.last_seen or 0.0) - (last_seen or 0.0) >= throttle_s

    def _write(self, snapshots: list[DeviceSnapshot]) -> None:
        self._store.save(snapshots)
        for s in snapshots:
            self._saved[s.device_id] = (s.last_seen, s.online_since, s.offline_since)



def _row(s: DeviceSnapshot, now: float) -> dict[str, Any]:
    return {
        "device_id": s.device_id, "site": s.site, "zone": s.zone, "kind": s.kind,
        "registered": s.registered, "last_seen": s.last_seen, "online_since": s.online_since,
        "offline_since": s.offline_since,
        "latest": {m: [ts, v] for m, (ts, v) in s.latest.items()}, "updated_at": now,
    }


def _snapshot(r: sa.RowMapping) -> DeviceSnapshot:
    latest: dict[str, tuple[float, MetricValue]] = {
        m: (float(ts), _value(v)) for m, (ts, v) in (r["latest"] or {}).items()
    }
    return DeviceSnapshot(
        r["device_id"], r["site"], r["zone"], r["kind"], bool(r["registered"]), r["last_seen"],
        r["online_since"], r["offline_since"], latest,
    )


def _value(v: Any) -> MetricValue:
    # JSON writes 22.0 back as 22.0, but a whole number a reading held as int comes back int.
    if isinstance(v, bool | str | float):
        return v
    return float(v)

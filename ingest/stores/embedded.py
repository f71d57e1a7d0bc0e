"""The embedded store: telemetry, events and status in one SQLite file, no server needed."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from devices.columns import DeviceColumns, ValuesWanted
from devices.reading import Reading
from ingest.stores.base import (
    EVENTS_PAGE_MAX,
    BadData,
    Sample,
    StoredEvent,
    StoreUnavailable,
    every_us,
)
from ingest.stores.embedded_replay import METRICS_JSON, device_columns, device_readings
from ingest.stores.embedded_schema import (
    PRUNE,
    SCHEMA,
    SERIES_BACKFILL,
    SERIES_SCHEMA,
    Series,
    time_span,
    typed,
    untyped,
    us,
)
from ingest.stores.lineprotocol import event_json
from ingest.stores.replay import (
    ROWS_PER_FETCH,
    event_data,
    event_reading,
    merged,
    status_reading,
    telemetry_reading,
)

PRUNE_SERIES_PER_TRANSACTION = 200  # series per hold of the lock: writes wait at most this long


class EmbeddedStore:
    """Telemetry in SQLite (WAL), idempotent per (device, metric, microsecond) like InfluxDB."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        # One connection shared by all threads, serialised by a lock: SQLite has one writer anyway.
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a batch the caller saw confirmed survives a power cut, not just a process crash.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(SCHEMA)
            had_series = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'series'"
            ).fetchone()
            self._conn.executescript(SERIES_SCHEMA)
            if not had_series:  # a store from before retention: list what it already holds
                self._conn.executescript(SERIES_BACKFILL)
            self._types = dict(self._conn.execute("SELECT metric, vtype FROM metric_types"))
            self._series: set[Series] = set(self._conn.execute("SELECT * FROM series"))
        self.pruned_total = 0  # points deleted by retention since start

    def write(self, batch: Sequence[Reading]) -> None:
        """Store the batch in one transaction; a value of the wrong type refuses it as BadData."""
        with self._lock:
            types = dict(self._types)
            new_series: set[Series] = set()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for r in batch:
                        self._write_one(r, types)
                        new_series.update(self._series_of(r))
                    new_series -= self._series
                    self._conn.executemany(
                        "INSERT OR IGNORE INTO series VALUES (?, ?, ?)", sorted(new_series)
                    )
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as e:  # locked, disk full, I/O error
                raise StoreUnavailable(f"embedded store {self._path}: {e}") from e
            self._types = types
            self._series |= new_series

    @staticmethod
    def _series_of(r: Reading) -> list[Series]:
        if r.channel == "telemetry":
            return [("telemetry", r.device_id, m) for m in r.metrics]
        if r.channel == "event":
            return [("events", r.device_id, r.event or "")]
        return [("device_status", r.device_id, "")]

    def prune(self, before: float) -> int:
        """Delete every point older than `before` (Unix seconds); how many were deleted.

        A few hundred series per transaction, so writers never wait long (retention runs in
        the background while readings keep arriving)."""
        with self._lock:
            series = sorted(self._series)
        cutoff, removed = us(before), 0
        for start in range(0, len(series), PRUNE_SERIES_PER_TRANSACTION):
            chunk = series[start : start + PRUNE_SERIES_PER_TRANSACTION]
            with self._lock:
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    for table, device_id, name in chunk:
                        cur = self._conn.execute(PRUNE[table], (device_id, name, cutoff))
                        removed += max(cur.rowcount, 0)
                    self._conn.execute("COMMIT")
                except sqlite3.OperationalError as e:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise StoreUnavailable(f"embedded store {self._path}: {e}") from e
        with self._lock:
            self.pruned_total += removed
        return removed

    def _write_one(self, r: Reading, types: dict[str, str]) -> None:
        tags = (r.site, r.zone, r.kind)
        t = us(r.ts)
        if r.channel == "telemetry":
            for metric, raw in r.metrics.items():
                vtype, value = typed(metric, raw)
                known = types.setdefault(metric, vtype)
                if known != vtype:
                    raise BadData(f"metric {metric!r} is {known}, refused a {vtype} value")
                if metric not in self._types:
                    self._conn.execute(
                        "INSERT OR IGNORE INTO metric_types VALUES (?, ?)", (metric, vtype)
                    )
                self._conn.execute(
                    "INSERT OR REPLACE INTO telemetry VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (r.device_id, metric, t, *tags, vtype, value),
                )
        elif r.channel == "event":
            if not r.event:
                raise BadData(f"event reading from {r.device_id!r} has no event name")
            data = event_json(r)
            self._conn.execute(
                "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (r.device_id, r.event, t, *tags, data, r.seq),
            )
        elif r.channel == "status":
            if r.status not in ("online", "offline"):
                raise BadData(f"status reading with state {r.status!r}")
            self._conn.execute(
                "INSERT OR REPLACE INTO device_status VALUES (?, ?, ?, ?, ?, ?)",
                (r.device_id, t, *tags, r.status),
            )
        else:
            raise BadData(f"unknown channel {r.channel!r}")

    def query(
        self,
        device_id: str,
        metric: str,
        start: float,
        end: float,
        every_s: float | None = None,
        limit: int = 10_000,
    ) -> list[Sample]:
        """A metric's samples in [start, end), oldest first; averaged per `every_s` if given.

        Buckets start at multiples of `every_s` since the epoch, as InfluxDB's GROUP BY time.
        Averaging a boolean or string metric raises BadData, as InfluxDB refuses mean() there.
        """
        args: dict[str, object] = {
            "d": device_id, "m": metric, "s": us(start), "e": us(end), "n": int(limit),
        }
        span = "device_id = :d AND metric = :m AND ts_us >= :s AND ts_us < :e"
        if every_s is None:
            sql = f"SELECT ts_us, vtype, value FROM telemetry WHERE {span} ORDER BY ts_us LIMIT :n"
            with self._lock:
                rows = self._conn.execute(sql, args).fetchall()
            return [Sample(t / 1_000_000, untyped(vt, v)) for t, vt, v in rows]
        if self._types.get(metric, "number") != "number":
            raise BadData(f"metric {metric!r} is {self._types[metric]}: it cannot be averaged")
        args["w"] = every_us(every_s)
        # Floor division that also holds before 1970 (SQLite's `/` truncates toward zero).
        bucket = "(ts_us - ((ts_us % :w) + :w) % :w)"
        sql = (
            f"SELECT {bucket} AS b, AVG(value) FROM telemetry WHERE {span}"
            " GROUP BY b ORDER BY b LIMIT :n"
        )
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [Sample(b / 1_000_000, float(v)) for b, v in rows]

    def latest(self, device_id: str) -> dict[str, Sample]:
        """The most recent value of each of the device's metrics."""
        # SQLite takes the bare columns of a MAX() aggregate from the row holding the maximum.
        sql = (
            "SELECT metric, MAX(ts_us), vtype, value FROM telemetry"
            " WHERE device_id = ? GROUP BY metric"
        )
        with self._lock:
            rows = self._conn.execute(sql, (device_id,)).fetchall()
        return {m: Sample(t / 1_000_000, untyped(vt, v)) for m, t, vt, v in rows}

    def events(
        self,
        device_id: str,
        start: float,
        end: float,
        event: str | None = None,
        limit: int = EVENTS_PAGE_MAX,
        offset: int = 0,
    ) -> list[StoredEvent]:
        """The device's events in [start, end), oldest first (ties by name), one page."""
        sql = "SELECT ts_us, event, data, seq FROM events WHERE device_id = ?"
        args: list[object] = [device_id]
        if event is not None:
            sql += " AND event = ?"
            args.append(event)
        sql += " AND ts_us >= ? AND ts_us < ? ORDER BY ts_us, event LIMIT ? OFFSET ?"
        args += [us(start), us(end), int(limit), int(offset)]
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [StoredEvent(t / 1_000_000, e, event_data(d), q) for t, e, d, q in rows]

    def readings(self, start: float, end: float, site: str | None = None) -> Iterator[Reading]:
        """Every reading in [start, end) (of one site if given), in time order, streamed from
        a read-only connection of its own, so writers are not held up meanwhile."""
        conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, check_same_thread=False)
        try:
            yield from merged(self._telemetry(conn, start, end, site),
                              self._scan(conn, "events", start, end, site),
                              self._scan(conn, "device_status", start, end, site))
        finally:
            conn.close()

    def reading_devices(self, start: float, end: float, site: str | None = None) -> list[str]:
        """Every device the store holds anything of (some may have nothing in the period)."""
        with self._lock:
            return sorted({device_id for _, device_id, _ in self._series})

    def device_readings(self, device_id: str, start: float, end: float,
                        site: str | None = None) -> Iterator[Reading]:
        """One device's readings in [start, end) (of one site if given), in time order as
        readings() gives them (telemetry, then events, then status at one ts)."""
        with self._lock:
            series = [s for s in self._series if s[1] == device_id]
        return device_readings(self._path, series, device_id, start, end, site)

    def device_columns(self, device_id: str, start: float, end: float,
                       site: str | None = None, wanted: ValuesWanted | None = None
                       ) -> DeviceColumns | None:
        """device_readings() as columns (None: the device's rows differ in site, zone or kind);
        values of the `wanted` metrics only (None: all), the others' times alone."""
        with self._lock:
            series = [s for s in self._series if s[1] == device_id]
            types = dict(self._types)
        return device_columns(self._path, series, types, device_id, start, end, site, wanted)

    @staticmethod
    def _rows(conn: sqlite3.Connection, sql: str, args: list[object]) -> Iterator[Any]:
        cur = conn.execute(sql, args)
        while rows := cur.fetchmany(ROWS_PER_FETCH):
            yield from rows

    def _telemetry(self, conn: sqlite3.Connection, start: float, end: float,
                   site: str | None) -> Iterator[Reading]:
        where, args = time_span(start, end, site)
        sql = (f"SELECT ts_us, device_id, site, zone, kind, {METRICS_JSON} FROM telemetry"
               f" WHERE {where} GROUP BY ts_us, device_id ORDER BY ts_us, device_id")
        loads = orjson.loads
        for t, dev, st, zone, kind, metrics in self._rows(conn, sql, args):
            yield telemetry_reading(st, dev, t / 1e6, zone, kind, loads(metrics))

    def _scan(self, conn: sqlite3.Connection, table: str, start: float, end: float,
              site: str | None) -> Iterator[Reading]:
        where, args = time_span(start, end, site)
        if table == "events":
            sql = ("SELECT ts_us, device_id, site, zone, kind, event, data, seq FROM events"
                   f" WHERE {where} ORDER BY ts_us, device_id, event")
            for t, dev, st, zone, kind, name, data, seq in self._rows(conn, sql, args):
                yield event_reading(st, dev, t / 1e6, zone, kind, name, data, seq)
            return
        sql = ("SELECT ts_us, device_id, site, zone, kind, state FROM device_status"
               f" WHERE {where} ORDER BY ts_us, device_id")
        for t, dev, st, zone, kind, state in self._rows(conn, sql, args):
            yield status_reading(st, dev, t / 1e6, zone, kind, state)

    def ping(self) -> bool:
        """True if the database file answers."""
        try:
            with self._lock:
                self._conn.execute("SELECT 1").fetchone()
            return True
        except sqlite3.Error:
            return False

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()



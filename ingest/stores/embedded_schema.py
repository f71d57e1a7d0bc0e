"""The embedded store's SQLite tables, and how values and times go in and out of them."""

from __future__ import annotations

import math

from devices.reading import MetricValue
from ingest.stores.base import BadData

SCHEMA = """
CREATE TABLE IF NOT EXISTS telemetry (
    device_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    ts_us INTEGER NOT NULL,          -- Unix microseconds, as InfluxDB's precision `u`
    site TEXT NOT NULL,
    zone TEXT,
    kind TEXT,
    vtype TEXT NOT NULL,             -- 'number' (REAL), 'bool' (0/1), 'string' (TEXT)
    value,
    PRIMARY KEY (device_id, metric, ts_us)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metric_types (
    metric TEXT PRIMARY KEY,         -- a metric keeps its first type, as an InfluxDB field does
    vtype TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    device_id TEXT NOT NULL,
    event TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    site TEXT NOT NULL,
    zone TEXT,
    kind TEXT,
    data TEXT NOT NULL,              -- JSON object
    seq INTEGER,
    PRIMARY KEY (device_id, event, ts_us)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS device_status (
    device_id TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    site TEXT NOT NULL,
    zone TEXT,
    kind TEXT,
    state TEXT NOT NULL,             -- 'online' or 'offline'
    PRIMARY KEY (device_id, ts_us)
) WITHOUT ROWID;
"""
# Every series a table holds, so retention deletes by primary-key range per series instead of
# scanning whole tables (an index on time alone would slow every write).
SERIES_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    tbl TEXT NOT NULL,               -- 'telemetry' (name: metric), 'events' (name: event),
    device_id TEXT NOT NULL,         -- 'device_status' (name: '')
    name TEXT NOT NULL,
    PRIMARY KEY (tbl, device_id, name)
) WITHOUT ROWID;
"""
SERIES_BACKFILL = """
INSERT OR IGNORE INTO series SELECT DISTINCT 'telemetry', device_id, metric FROM telemetry;
INSERT OR IGNORE INTO series SELECT DISTINCT 'events', device_id, event FROM events;
INSERT OR IGNORE INTO series SELECT DISTINCT 'device_status', device_id, '' FROM device_status;
"""
PRUNE = {  # table -> DELETE of one series' points before :t
    "telemetry": "DELETE FROM telemetry WHERE device_id = ? AND metric = ? AND ts_us < ?",
    "events": "DELETE FROM events WHERE device_id = ? AND event = ? AND ts_us < ?",
    "device_status": "DELETE FROM device_status WHERE device_id = ? AND ? = '' AND ts_us < ?",
}
Series = tuple[str, str, str]  # (table, device id, metric / event / '')


def us(ts: float) -> int:
    """Unix seconds as the integer microseconds the tables key on."""
    return round(ts * 1_000_000)


def typed(metric: str, value: object) -> tuple[str, MetricValue]:
    """(vtype, value to store) of a metric value; BadData for what no column type holds."""
    if isinstance(value, bool):
        return "bool", value
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise BadData(f"metric {metric!r}: non-finite number {value!r}")
        return "number", number
    if isinstance(value, str):
        return "string", value
    raise BadData(f"metric {metric!r}: unsupported value type {type(value).__name__}")


def time_span(start: float, end: float, site: str | None) -> tuple[str, list[object]]:
    """WHERE clause and arguments of [start, end) (of one site if given)."""
    where = "ts_us >= ? AND ts_us < ?"
    args: list[object] = [us(start), us(end)]
    if site is not None:
        where += " AND site = ?"
        args.append(site)
    return where, args


def untyped(vtype: str, value: object) -> MetricValue:
    """A stored value back as the type it was written with."""
    if vtype == "bool":
        return bool(value)
    if vtype == "number":
        return float(value)  # type: ignore[arg-type]
    return str(value)

"""One device's readings from the embedded store, for a backtest that replays device by device.

Every query seeks the primary-key ranges of the device's own series (the `series` table's
names), so neither the whole table is scanned nor the whole period sorted: SQLite only sorts
one device's rows by time to gather a reading's metrics (device_readings), or not at all when
each metric comes back as its own pair of columns (device_columns).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from devices.columns import DeviceColumns, ValuesWanted
from devices.reading import MetricValue, Reading
from ingest.stores.embedded_schema import Series, time_span
from ingest.stores.replay import (
    ROWS_PER_FETCH,
    event_reading,
    merged,
    merged_few,
    status_reading,
    telemetry_reading,
)

# A stored value as JSON. Numbers with 17 significant digits: SQLite's own JSON keeps 15, which
# changes a value such as 21.123456789012345 (17 give the same double back; checked on 600,000
# values, random bit patterns included, for every magnitude below 1e100). Booleans are 0/1.
VALUE_JSON = ("CASE vtype WHEN 'number' THEN json(printf('%!.17g', value))"
              " WHEN 'bool' THEN json(CASE value WHEN 0 THEN 'false' ELSE 'true' END)"
              " ELSE value END")
# One reading's metrics gathered into a JSON object by SQLite (in C): a third of the Python
# work of reading one row per metric.
METRICS_JSON = f"json_group_object(metric, {VALUE_JSON})"
def device_readings(path: Path, series: list[Series], device_id: str, start: float, end: float,
                    site: str | None) -> Iterator[Reading]:
    """The device's readings in [start, end) (of one site if given) in time order; at one ts
    telemetry, then events, then status. `series`: the device's rows of the series table.
    Read from a read-only connection of its own, so writers are not held up meanwhile."""
    metrics = [name for table, _, name in series if table == "telemetry"]
    events = [name for table, _, name in series if table == "events"]
    where, args = time_span(start, end, site)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    try:
        few = list(merged(_events(conn, device_id, events, where, args),
                          _status(conn, device_id, where, args)))
        yield from merged_few(_telemetry(conn, device_id, metrics, where, args), few)
    finally:
        conn.close()


def device_columns(path: Path, series: list[Series], types: dict[str, str], device_id: str,
                   start: float, end: float, site: str | None,
                   wanted: ValuesWanted | None = None) -> DeviceColumns | None:
    """The device's readings in [start, end) (of one site if given) as columns: one query per
    metric on its key range, already in time order (no sort, no grouping), values exact as
    the cursor gives them. None when the device's telemetry rows differ in site, zone or kind
    (device_readings() gives each row its own). `types`: metric -> vtype. `wanted`: the
    metrics whose values to read (the others' times alone, in `unread`); None: all."""
    metrics = [name for table, _, name in series if table == "telemetry"]
    events = [name for table, _, name in series if table == "events"]
    where, args = time_span(start, end, site)
    marks = ", ".join("?" * len(metrics))
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    try:
        first = conn.execute(f"SELECT site, zone, kind FROM telemetry WHERE device_id = ?"
                             f" AND metric IN ({marks}) AND {where} LIMIT 1",
                             [device_id, *metrics, *args]).fetchone() if metrics else None
        facts: tuple[Any, ...] = tuple(first) if first is not None else ()
        read = set(metrics) if wanted is None or not facts else set(
            wanted(device_id, facts[0], facts[1] or None, facts[2] or None))
        columns = {}
        unread: list[list[int]] = []
        for metric in metrics if facts else ():
            if metric not in read:  # its times alone, gathered by SQLite
                times_json, moved = conn.execute(
                    "SELECT json_group_array(ts_us), max(site IS NOT ? OR zone IS NOT ?"
                    f" OR kind IS NOT ?) FROM telemetry WHERE device_id = ? AND metric = ?"
                    f" AND {where}", [*facts, device_id, metric, *args]).fetchone()
                if moved:
                    return None
                if moved is not None:
                    unread.append(_ascending(orjson.loads(times_json)))
                continue
            times: list[int] = []
            values: list[MetricValue] = []
            add_time, add_value = times.append, values.append
            # Row by row: each row's tuple is freed at once (a fetchall() of them all makes
            # the garbage collector walk them again and again: a third more time).
            for t, v, moved in conn.execute(
                    "SELECT ts_us, value, site IS NOT ? OR zone IS NOT ? OR kind IS NOT ?"
                    f" FROM telemetry WHERE device_id = ? AND metric = ? AND {where}"
                    " ORDER BY ts_us", [*facts, device_id, metric, *args]):
                if moved:
                    return None
                add_time(t)
                add_value(v)
            if times:
                columns[metric] = (times, _typed(types.get(metric), values))
        others = list(merged(_events(conn, device_id, events, where, args),
                             _status(conn, device_id, where, args)))
    finally:
        conn.close()
    st, zone, kind = facts if facts else ("", None, None)
    return DeviceColumns(device_id, st, zone or None, kind or None, columns, others, unread)


def _ascending(times: list[int]) -> list[int]:
    """An aggregate keeps the scan's (key) order; SQLite does not promise it, so check."""
    return times if times == sorted(times) else sorted(times)


def _typed(vtype: str | None, values: list[MetricValue]) -> list[MetricValue]:
    """Stored values back as the type they were written with: booleans are kept as 0/1."""
    return [bool(v) for v in values] if vtype == "bool" else values


def _telemetry(conn: sqlite3.Connection, device_id: str, metrics: list[str], where: str,
               args: list[object]) -> Iterator[Reading]:
    if not metrics:
        return
    marks = ", ".join("?" * len(metrics))
    sql = (f"SELECT ts_us, site, zone, kind, {METRICS_JSON} FROM telemetry"
           f" WHERE device_id = ? AND metric IN ({marks}) AND {where}"
           " GROUP BY ts_us ORDER BY ts_us")
    loads, reading = orjson.loads, telemetry_reading
    cur = conn.execute(sql, [device_id, *metrics, *args])
    while rows := cur.fetchmany(ROWS_PER_FETCH):
        for t, st, zone, kind, metrics_json in rows:
            yield reading(st, device_id, t / 1e6, zone, kind, loads(metrics_json))


def _events(conn: sqlite3.Connection, device_id: str, events: list[str], where: str,
            args: list[object]) -> Iterator[Reading]:
    if not events:
        return
    marks = ", ".join("?" * len(events))
    sql = ("SELECT ts_us, site, zone, kind, event, data, seq FROM events"
           f" WHERE device_id = ? AND event IN ({marks}) AND {where} ORDER BY ts_us, event")
    cur = conn.execute(sql, [device_id, *events, *args])
    while rows := cur.fetchmany(ROWS_PER_FETCH):
        for t, st, zone, kind, name, data, seq in rows:
            yield event_reading(st, device_id, t / 1e6, zone, kind, name, data, seq)


def _status(conn: sqlite3.Connection, device_id: str, where: str, args: list[object]
            ) -> Iterator[Reading]:
    sql = ("SELECT ts_us, site, zone, kind, state FROM device_status"
           f" WHERE device_id = ? AND {where} ORDER BY ts_us")
    cur = conn.execute(sql, [device_id, *args])
    while rows := cur.fetchmany(ROWS_PER_FETCH):
        for t, st, zone, kind, state in rows:
            yield status_reading(st, device_id, t / 1e6, zone, kind, state)

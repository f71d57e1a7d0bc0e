"""One device's telemetry from InfluxDB 1.x as columns (devices/columns.py), for the backtest's
fast path: the rows of the device's chunked `SELECT *` go into one (times, values) pair per
field, with no Reading and no dict per row."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from devices.columns import DeviceColumns
from devices.reading import MetricValue, Reading

TAGS = frozenset({"time", "device_id", "site", "zone", "kind"})  # columns that are not metrics


def device_columns(device_id: str, chunks: Iterable[tuple[list[str], list[list[Any]]]],
                   others: list[Reading]) -> DeviceColumns | None:
    """The columns of `chunks` (the device's telemetry query, epoch=u, in time order); None
    when its rows differ in site, zone or kind (each row then needs a Reading of its own)."""
    series: dict[str, tuple[list[int], list[MetricValue]]] = {}
    facts: set[tuple[Any, Any, Any]] = set()
    for columns, rows in chunks:
        if not rows:
            continue
        col = {c: i for i, c in enumerate(columns)}
        by_column = list(zip(*rows, strict=True))  # transposed in C: a tuple per column
        nothing = (None,) * len(rows)
        facts |= set(zip(*(by_column[col[tag]] if tag in col else nothing
                           for tag in ("site", "zone", "kind")), strict=True))
        if len(facts) > 1:
            return None
        at = by_column[col["time"]]
        for name, i in col.items():
            column = by_column[i]
            nulls = column.count(None)
            if name in TAGS or nulls == len(column):
                continue
            times, values = series.setdefault(name, ([], []))
            # InfluxDB's JSON writes the float 22.0 as 22; every stored number is a float.
            if nulls == 0:
                times += at
                values += [float(v) if type(v) is int else v for v in column]
                continue
            for t, v in zip(at, column, strict=True):
                if v is not None:
                    times.append(t)
                    values.append(float(v) if type(v) is int else v)
    series = {name: cols for name, cols in series.items() if cols[0]}
    site, zone_, kind_ = facts.pop() if facts else ("", None, None)
    return DeviceColumns(device_id, site, zone_ or None, kind_ or None, series, others)

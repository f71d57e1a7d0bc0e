"""One device's telemetry from InfluxDB 1.x as columns (devices/columns.py), for the backtest's
fast path: the rows of the device's chunked `SELECT *` go into one (times, values) pair per
field, with no Reading and no dict per row.

InfluxV1Columns is a mixin of ingest/stores/influx_v1.py's store (base.ColumnReplay), kept
apart so that module holds the store's HTTP and row reading and this one the columnar read.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any

from devices.columns import DeviceColumns, ValuesWanted
from devices.reading import MetricValue, Reading
from ingest.stores.influxql import select_all
from ingest.stores.lineprotocol import DEVICE_STATUS, EVENTS, TELEMETRY
from ingest.stores.replay import merged

TAGS = frozenset({"time", "device_id", "site", "zone", "kind"})  # columns that are not metrics
Chunk = tuple[list[str], list[list[Any]]]  # (columns, rows) of a chunked query's series


class InfluxV1Columns(ABC):
    """device_columns() of the InfluxDB 1.x store, over its query streams."""

    @abstractmethod
    def _stream(self, measurement: str, start: float, end: float,
                site: str | None, device_id: str | None = None) -> Iterator[Reading]:
        """The store's: a measurement's rows in [start, end) as Readings, in time order."""

    @abstractmethod
    def _chunks(self, q: str) -> Iterator[Chunk]:
        """The store's: (columns, rows) per chunk of a chunked query."""

    def device_columns(self, device_id: str, start: float, end: float,
                       site: str | None = None, wanted: ValuesWanted | None = None
                       ) -> DeviceColumns | None:
        """device_readings() as columns (None: the device's rows differ in site, zone or kind).
        Every field's values (`wanted` is not used: `SELECT *` returns them anyway)."""
        few = self._others(device_id, start, end, site)
        q = select_all(TELEMETRY, start, end, site, device_id)
        return columns_of(device_id, self._chunks(q), few)

    def _others(self, device_id: str, start: float, end: float,
                site: str | None) -> list[Reading]:
        """The device's events and statuses in [start, end), merged in time order."""
        return list(merged(self._stream(EVENTS, start, end, site, device_id),
                           self._stream(DEVICE_STATUS, start, end, site, device_id)))


def columns_of(device_id: str, chunks: Iterable[Chunk],
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

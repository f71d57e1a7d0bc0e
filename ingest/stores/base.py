"""The TelemetryStore protocol and the two errors every store translates its failures into."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from devices.columns import DeviceColumns, ValuesWanted
from devices.reading import MetricValue, Reading


class StoreUnavailable(Exception):
    """The store cannot take or answer this now (down, timeout, 5xx): retry later."""


class BadData(Exception):
    """The store refused these points as invalid (e.g. a field type conflict): drop and count."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one metric at one time."""

    ts: float  # Unix seconds
    value: MetricValue


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One stored event of one device."""

    ts: float  # Unix seconds
    event: str
    data: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None


EVENTS_PAGE_MAX = 500  # events per page at most (SPEC §7: lists are paged, 500 at most)


class TelemetryStore(Protocol):
    """Where readings are kept as time series (SPEC §3; the schema is in the README)."""

    def write(self, batch: Sequence[Reading]) -> None:
        """Store telemetry, events and status changes. Idempotent per (device, channel, ts).

        Raises StoreUnavailable (retry the same batch later) or BadData (the batch holds a
        point the store refuses; the caller splits the batch to find it).
        """
        ...

    def query(
        self,
        device_id: str,
        metric: str,
        start: float,
        end: float,
        every_s: float | None = None,
        limit: int = 10_000,
    ) -> list[Sample]:
        """A metric's samples in [start, end), oldest first; averaged per `every_s` if given."""
        ...

    def latest(self, device_id: str) -> dict[str, Sample]:
        """The most recent value of each of the device's metrics."""
        ...

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
        ...

    def readings(self, start: float, end: float, site: str | None = None) -> Iterator[Reading]:
        """Every telemetry, event and status reading in [start, end) (of one site if given),
        in time order, streamed: what a backtest replays. `received_at` is the reading's ts."""
        ...

    def ping(self) -> bool:
        """True if the store answers now."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class DeviceReplay(Protocol):
    """A store that gives a backtest one device's readings at a time (rules/engine/backtest.py
    replay_devices): per-device queries on the store's own order, no merge of the devices."""

    def reading_devices(self, start: float, end: float, site: str | None = None) -> list[str]:
        """Ids of the devices that may have readings in [start, end) (of one site if given)."""
        ...

    def device_readings(self, device_id: str, start: float, end: float,
                        site: str | None = None) -> Iterator[Reading]:
        """One device's readings in [start, end) (of one site if given) in time order, as
        readings() would give them: at one ts, telemetry first, then events, then status."""
        ...


@runtime_checkable
class ColumnReplay(Protocol):
    """A DeviceReplay that can also give one device's period as columns (devices/columns.py),
    for the backtest's fast path."""

    def device_columns(self, device_id: str, start: float, end: float,
                       site: str | None = None, wanted: ValuesWanted | None = None
                       ) -> DeviceColumns | None:
        """device_readings() as columns; None when this device's rows need one each (its
        telemetry rows differ in site, zone or kind). Values of the `wanted` metrics (None:
        all); a store may give more, and gives the times of the others (`unread`)."""
        ...


def every_us(every_s: float) -> int:
    """An aggregation window in whole microseconds (the stores' time unit); at least one."""
    every = round(every_s * 1_000_000)
    if every < 1:
        raise ValueError(f"every_s must be at least one microsecond, got {every_s}")
    return every

"""One device's readings of a period as columns: what a store hands a backtest instead of a
`Reading` per row, when every telemetry row of the device carries the same site, zone and kind.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from devices.reading import MetricValue, Reading

# (device id, site, zone, kind) -> the metrics whose values a reader needs; the others' times
# alone are read (a backtest needs them only as signs of life)
ValuesWanted = Callable[[str, str, str | None, str | None], Collection[str]]


@dataclass(slots=True)
class DeviceColumns:
    """The device's telemetry, one column pair per metric, plus its few events and statuses.

    A telemetry reading at `t` (Unix microseconds) is every metric whose `times` hold `t`,
    as the stores group them (one reading per device and microsecond). `site`, `zone` and
    `kind` are every telemetry row's (empty zone or kind read as None, as replayed Readings).
    """

    device_id: str
    site: str
    zone: str | None
    kind: str | None
    # metric -> (Unix microseconds, ascending and distinct; the values at those times)
    series: dict[str, tuple[list[int], list[MetricValue]]] = field(default_factory=dict)
    others: list[Reading] = field(default_factory=list)  # events and statuses in time order
    unread: list[list[int]] = field(default_factory=list)  # times of metrics read without values

    def times(self) -> list[int]:
        """Every telemetry reading's time (Unix microseconds), ascending."""
        columns = [ts for ts, _ in self.series.values()] + self.unread
        if not columns:
            return []
        first = columns[0]
        if all(ts == first for ts in columns):  # the usual case: every metric every time
            return first
        return sorted(set().union(*columns))

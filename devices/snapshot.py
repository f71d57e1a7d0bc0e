"""A device's liveness as it is saved and restored across restarts."""

from __future__ import annotations

from dataclasses import dataclass, field

from devices.reading import MetricValue


@dataclass(frozen=True, slots=True)
class DeviceSnapshot:
    """What liveness must remember of one device: when heard, since when, latest metrics."""

    device_id: str
    site: str
    zone: str | None
    kind: str | None
    registered: bool
    last_seen: float | None  # Unix seconds of the last sign of life; None if never heard
    online_since: float | None  # Unix seconds the current unbroken run of messages began
    offline_since: float | None  # Unix seconds of an `offline` status, None when not offline
    latest: dict[str, tuple[float, MetricValue]] = field(default_factory=dict)  # metric -> (ts, v)
    change: int = 0  # liveness change number of this state: the cursor for the next snapshot

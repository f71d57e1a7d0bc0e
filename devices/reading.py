"""A decoded message from a device: telemetry, an event or a status change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Channel = Literal["telemetry", "event", "status"]
MetricValue = float | bool | str


@dataclass(frozen=True, slots=True)
class Reading:
    """One accepted message, already validated, with the device's registry facts attached.

    `kind` and `zone` are None for a device that is not in the registry: such readings are
    still stored and evaluated (a fire alarm from an unknown detector is never dropped).
    """

    site: str
    device_id: str
    channel: Channel
    ts: float  # Unix seconds: the payload's `ts`, else the receive time
    received_at: float  # Unix seconds at which ingest took the message from the broker
    seq: int | None = None
    kind: str | None = None  # device kind from the registry, None when unregistered
    zone: str | None = None
    metrics: Mapping[str, MetricValue] = field(default_factory=dict)  # telemetry only
    event: str | None = None  # event only: the event name
    data: Mapping[str, Any] = field(default_factory=dict)  # event only: extra fields
    status: str | None = None  # status only: "online" or "offline"

"""Caps on what one device can make the service remember (issue 15, item 12).

Each new device id heard becomes an unregistered device, and each new metric name a new
series: a device (or one stolen password) could otherwise grow both without bound. Past a
cap, telemetry and statuses of new unregistered devices are refused and counted, but their
events still pass (SPEC §2: a fire alarm from an unknown detector is never dropped); a
device's metric names past its cap are dropped from the reading and counted.
"""

from __future__ import annotations

import dataclasses

from devices.reading import Reading
from devices.registry import Registry
from ingest.rejected import Rejected

UNREGISTERED_MAX = 1_000  # unregistered device ids remembered; later new ones are refused
UNKNOWN_METRICS_MAX = 32  # metric names outside a device's kind (or of an unregistered one)


class DeviceCaps:
    """Applies both caps to decoded readings; one instance per ingest thread."""

    def __init__(
        self, registry: Registry, unregistered_max: int = UNREGISTERED_MAX,
        unknown_metrics_max: int = UNKNOWN_METRICS_MAX,
    ) -> None:
        self._registry = registry
        self._unregistered_max = unregistered_max
        self._unknown_max = unknown_metrics_max
        self._unregistered: set[str] = set()  # at most unregistered_max ids
        self._unknown: dict[str, set[str]] = {}  # device id -> metric names beyond its kind

    def __call__(self, reading: Reading) -> Reading:
        """The reading, trimmed of metric names past the cap; Rejected past the device cap."""
        registered = reading.kind is not None
        if not registered and reading.device_id not in self._unregistered:
            if len(self._unregistered) >= self._unregistered_max:
                if reading.channel != "event":
                    raise Rejected(
                        "unregistered_cap",
                        f"{self._unregistered_max} unregistered devices already heard; "
                        f"{reading.device_id!r} is refused until it is registered",
                    )
            else:
                self._unregistered.add(reading.device_id)
        if not reading.metrics:
            return reading
        return self._trim(reading)

    def _trim(self, reading: Reading) -> Reading:
        device = self._registry.devices.get(reading.device_id) if reading.kind else None
        known = device.spec.metrics if device is not None else {}
        if reading.metrics.keys() <= known.keys():
            return reading  # the common case: only its kind's metrics, nothing to count
        seen = self._unknown.get(reading.device_id)
        if seen is None:
            seen = self._unknown[reading.device_id] = set()
        kept = {}
        for name, value in reading.metrics.items():
            if name in known or name in seen:
                kept[name] = value
            elif len(seen) < self._unknown_max:
                seen.add(name)
                kept[name] = value
        if len(kept) == len(reading.metrics):
            return reading
        if not kept:
            raise Rejected(
                "unknown_metric_cap",
                f"{reading.device_id!r} already sent {self._unknown_max} metric names "
                "outside its kind; these are refused",
            )
        return dataclasses.replace(reading, metrics=kept)

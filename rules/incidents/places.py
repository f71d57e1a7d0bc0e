"""Where the danger is: the zone an event reports, and readable names from the registry.

A fire panel or a door controller sits in one zone (the plant room) but reports alarms for
others (`data.zone = hall-a`): the incident must send the guard to the alarm's zone, not the
panel's (SPEC §6), and say it in words a guard reads (zone and device names)."""

from __future__ import annotations

import dataclasses
import re

from devices.registry import Registry
from rules.engine.signals import Signal

_ZONE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # as registry zone ids are written


def reported_zone(signal: Signal) -> str | None:
    """The zone an event's data names (`data.zone`), when it is a plausible zone id."""
    value = signal.value
    if not isinstance(value, dict):
        return None
    data = value.get("data")
    zone = data.get("zone") if isinstance(data, dict) else None
    return zone if isinstance(zone, str) and _ZONE_RE.match(zone) else None


def located(signal: Signal, registry: Registry | None) -> tuple[Signal, str | None]:
    """The signal with the danger's zone, and a readable location line (None without names).

    The line reads e.g. "Consulting hall A - Main fire panel (fp-01, in Plant room)".
    """
    zone = reported_zone(signal) or signal.zone
    if zone != signal.zone:
        signal = dataclasses.replace(signal, zone=zone)
    if registry is None:
        return signal, None
    device = registry.get(signal.site, signal.device_id)
    zone_name = registry.zones.get(zone, zone) if zone else None
    if device is None:
        who = f"unregistered device {signal.device_id}"
    else:
        who = f"{device.name or device.id} ({device.id}"
        if device.zone != zone:
            who += f", in {registry.zones.get(device.zone, device.zone)}"
        who += ")"
    return signal, f"{zone_name} - {who}" if zone_name else who

"""Scripted faults for the simulator: the `--fault` syntax, what each fault does, the demo script.

Syntax: `NAME[:DEVICE_ID][@TIME]`, TIME in wall seconds after the simulator starts, written
`90`, `90s`, `1.5m` or `500ms` (default 0). Without DEVICE_ID the fault picks a device of the
right kind from the registry, one no other fault uses while there are such. Examples:
`fire_alarm@60s`, `door_held:door-08@40s`, `clogged_filter`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from devices.registry import Device, Registry
from devices.sim.signals import CLOG_RAMP_S, HOT_ZONE_RAMP_S, SMOKE_ALARM_PCT_PER_M, DeviceModel

# fault name -> device kinds it can target (the first listed is preferred for defaults)
FAULT_TARGETS: dict[str, tuple[str, ...]] = {
    "fire_alarm": ("smoke_detector",),
    "call_point": ("manual_call_point",),
    "door_forced": ("door",),
    "door_held": ("door",),
    "access_denied_burst": ("door",),
    "clogged_filter": ("air_handler",),
    "hot_zone": ("zone_sensor",),
    "silent_detector": ("smoke_detector", "heat_detector"),
}
DOOR_HELD_S = 45.0  # a held door stays open this long; its held-open event comes at 31 s
DOOR_FORCED_OPEN_S = 8.0  # a forced door swings shut after this long
DENIED_BURST = 6  # access_denied events in a burst, one every DENIED_EVERY_S
DENIED_EVERY_S = 5.0

_FAULT_RE = re.compile(
    r"^(?P<name>[a-z_]+)(?::(?P<device>[A-Za-z0-9][A-Za-z0-9_.-]{0,63}))?"
    r"(?:@(?P<at>\d+(?:\.\d+)?)(?P<unit>ms|s|m)?)?$"
)
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}

EventOut = tuple[str, dict[str, Any]]  # (event name, data) to publish on the event topic
Action = Callable[[DeviceModel, float], list[EventOut]]  # (model, elapsed wall s) -> events


class FaultError(ValueError):
    """A fault flag is malformed or names a device the registry cannot supply."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted fault: what, when (wall seconds after start) and on which device."""

    name: str
    at_s: float = 0.0
    device_id: str | None = None  # None: pick a device of the right kind

    def __str__(self) -> str:
        device = f":{self.device_id}" if self.device_id else ""
        return f"{self.name}{device}@{self.at_s:g}s"


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted change to one device at a wall time; `report` publishes telemetry after."""

    at_s: float
    device_id: str
    action: Action
    report: bool = True


def parse_fault(text: str) -> Fault:
    """Parse `NAME[:DEVICE_ID][@TIME]`, or raise FaultError naming what is wrong."""
    m = _FAULT_RE.match(text.strip())
    if not m:
        raise FaultError(f"fault {text!r} is not NAME[:DEVICE_ID][@SECONDS], e.g. fire_alarm@60s")
    if m["name"] not in FAULT_TARGETS:
        raise FaultError(f"unknown fault {m['name']!r}; known: {', '.join(sorted(FAULT_TARGETS))}")
    at = float(m["at"]) * _UNIT_S[m["unit"]] if m["at"] else 0.0
    return Fault(m["name"], at, m["device"])


def demo_scenario() -> list[Fault]:
    """The faults `sitewatch demo` plays on the built-in sample site, all in the first 2 min."""
    return [
        Fault("clogged_filter", 20.0, "ahu-02"),
        Fault("door_forced", 30.0, "door-07"),
        Fault("door_held", 40.0, "door-08"),
        Fault("fire_alarm", 45.0, "sd-06"),
        Fault("access_denied_burst", 50.0, "door-01"),
        Fault("hot_zone", 60.0, "zs-05"),
        Fault("silent_detector", 90.0, "sd-11"),
    ]


# A generated site repeats this 20-device mix; one fire panel per FLEET_PANEL_EVERY devices.
FLEET_MIX = (
    ["smoke_detector"] * 7 + ["heat_detector"] * 2 + ["manual_call_point"] * 2
    + ["air_handler"] + ["zone_sensor"] * 4 + ["door"] * 4
)
FLEET_PANEL_EVERY = 500
FLEET_ZONE_SIZE = 25  # devices per generated zone
_ABBREV = {"smoke_detector": "sd", "heat_detector": "hd", "fire_panel": "fp",
           "manual_call_point": "mcp", "air_handler": "ahu", "zone_sensor": "zs", "door": "door"}


def generate_site(count: int, site: str = "sim") -> Registry:
    """A registry of `count` devices across all kinds, for load runs (`--count`)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    devices = []
    for i in range(count):
        kind = "fire_panel" if i % FLEET_PANEL_EVERY == 0 else FLEET_MIX[i % len(FLEET_MIX)]
        zone = f"zone-{i // FLEET_ZONE_SIZE + 1:03d}"
        device_id = f"{_ABBREV[kind]}-{i + 1:05d}"
        devices.append(Device(id=device_id, kind=kind, site=site, zone=zone, name=device_id))
    zones = {d.zone: d.zone.replace("-", " ").title() for d in devices}
    return Registry.from_devices(devices, zones)


def plan(faults: Sequence[Fault], devices: Sequence[Device]) -> list[Step]:
    """Resolve faults to devices and expand each into its timed steps, in time order."""
    by_id = {d.id: d for d in devices}
    taken = {f.device_id for f in faults if f.device_id is not None}  # explicit picks first
    steps: list[Step] = []
    for fault in faults:
        kinds = FAULT_TARGETS[fault.name]
        if fault.device_id is not None:
            device = by_id.get(fault.device_id)
            if device is None:
                raise FaultError(f"fault {fault}: no device {fault.device_id!r} in the registry")
            if device.kind not in kinds:
                raise FaultError(f"fault {fault}: {device.id} is a {device.kind}, not {kinds}")
        else:
            candidates = [d for k in kinds for d in devices if d.kind == k]
            if not candidates:
                raise FaultError(f"fault {fault}: the registry has no {' or '.join(kinds)}")
            free = [d for d in candidates if d.id not in taken]
            device = free[0] if free else candidates[len(taken) % len(candidates)]
            taken.add(device.id)
        steps.extend(_expand(fault.name, fault.at_s, device, devices))
    return sorted(steps, key=lambda s: s.at_s)


def _expand(name: str, t: float, device: Device, devices: Sequence[Device]) -> list[Step]:
    d, zone = device.id, device.zone
    if name == "fire_alarm":
        steps = [
            Step(t, d, lambda m, e: _set(m, smoke_from=e)),
            Step(t + 1.5, d, lambda m, e: []),  # the detector reports its obscuration rising
            Step(t + 3, d, lambda m, e: [("alarm", {"zone": zone, "obscuration_pct_per_m":
                                                    SMOKE_ALARM_PCT_PER_M})]),
        ]
        panel = next((p for p in devices if p.kind == "fire_panel" and p.site == device.site), None)
        if panel is not None:
            steps.append(Step(t + 4, panel.id, lambda m, e: _panel_alarm(m, zone, d)))
        return steps
    if name == "call_point":
        return [Step(t, d, lambda m, e: [("activated", {"zone": zone})], report=False)]
    if name == "door_forced":
        return [
            Step(t, d, lambda m, e: _door(m, True, [("door_forced_open", {"reader": "R1"})])),
            Step(t + DOOR_FORCED_OPEN_S, d, lambda m, e: _door(m, False, [])),
        ]
    if name == "door_held":
        granted = ("access_granted", {"reader": "R1", "card": "C-4711"})
        return [
            Step(t, d, lambda m, e: _door(m, True, [granted])),
            Step(t + 15, d, lambda m, e: []),  # the door reports it is still open
            Step(t + 31, d, lambda m, e: [("door_held_open", {"reader": "R1", "open_s": 31})]),
            Step(t + DOOR_HELD_S, d, lambda m, e: _door(m, False, [])),
        ]
    if name == "access_denied_burst":
        return [
            Step(t + i * DENIED_EVERY_S, d, _denied(f"C-9{i:03d}"), report=False)
            for i in range(DENIED_BURST)
        ]
    if name == "clogged_filter":
        return [
            Step(t, d, lambda m, e: _set(m, clog_from=e, clog_start_loading=m.filter_loading)),
            Step(t + CLOG_RAMP_S, d, lambda m, e: []),  # report once the clog has built up
        ]
    if name == "hot_zone":
        return [
            Step(t, d, lambda m, e: _set(m, hot_from=e)),
            Step(t + HOT_ZONE_RAMP_S, d, lambda m, e: []),
        ]
    if name == "silent_detector":
        return [Step(t, d, lambda m, e: _set(m, silent=True), report=False)]
    raise FaultError(f"unknown fault {name!r}")


def _set(model: DeviceModel, **changes: Any) -> list[EventOut]:
    for key, value in changes.items():
        setattr(model, key, value)
    return []


def _denied(card: str) -> Action:
    data = {"reader": "R1", "card": card, "reason": "unknown_card"}
    return lambda m, e: [("access_denied", data)]


def _door(model: DeviceModel, is_open: bool, events: list[EventOut]) -> list[EventOut]:
    model.door_open = is_open
    model.door_pinned = is_open  # while scripted open, normal traffic must not close it
    return events


def _panel_alarm(model: DeviceModel, zone: str, detector: str) -> list[EventOut]:
    model.zones_in_alarm += 1
    return [("fire_alarm", {"zone": zone, "device_id": detector})]

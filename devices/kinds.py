"""Device kinds of SPEC §2 as data: metrics with units and ranges, events, reporting interval."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MetricType = Literal["number", "bool", "string"]
Family = Literal["fire", "hvac", "access"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric a kind reports: unit and the physically plausible range."""

    name: str
    unit: str
    type: MetricType = "number"
    low: float | None = None  # plausible minimum, in `unit`
    high: float | None = None  # plausible maximum, in `unit`


@dataclass(frozen=True, slots=True)
class DeviceKind:
    """A kind of device: its family, metrics, events and expected reporting interval."""

    name: str
    family: Family
    metrics: dict[str, MetricSpec]
    events: frozenset[str]
    interval_s: float  # expected seconds between telemetry messages
    life_safety: bool = field(default=False)  # a silent one is a P1 matter

    @property
    def stale_after_s(self) -> float:
        """Silence, in seconds, after which a device of this kind is stale (three intervals)."""
        return 3 * self.interval_s


def _m(*specs: MetricSpec) -> dict[str, MetricSpec]:
    return {s.name: s for s in specs}


_BATTERY = MetricSpec("battery_pct", "%", low=0, high=100)
_TEMP = MetricSpec("temperature_c", "°C", low=-40, high=1200)  # a fire is hot: never refuse it

KINDS: dict[str, DeviceKind] = {
    k.name: k
    for k in (
        DeviceKind(
            "smoke_detector",
            "fire",
            _m(MetricSpec("smoke_obscuration_pct_per_m", "%/m", low=0, high=100), _TEMP, _BATTERY),
            frozenset({"alarm", "trouble", "tamper"}),
            interval_s=60,
            life_safety=True,
        ),
        DeviceKind(
            "heat_detector",
            "fire",
            _m(_TEMP, _BATTERY),
            frozenset({"alarm", "trouble"}),
            interval_s=60,
            life_safety=True,
        ),
        DeviceKind(
            "fire_panel",
            "fire",
            _m(
                MetricSpec("zones_in_alarm", "zones", low=0, high=10_000),
                MetricSpec("mains_ok", "", type="bool"),
            ),
            frozenset({"fire_alarm", "supervisory", "trouble", "reset"}),
            interval_s=30,
            life_safety=True,
        ),
        DeviceKind(
            "manual_call_point",
            "fire",
            _m(_BATTERY),
            frozenset({"activated"}),
            interval_s=300,
            life_safety=True,
        ),
        DeviceKind(
            "air_handler",
            "hvac",
            _m(
                MetricSpec("supply_air_temp_c", "°C", low=-40, high=100),
                MetricSpec("return_air_temp_c", "°C", low=-40, high=100),
                MetricSpec("setpoint_c", "°C", low=0, high=50),
                MetricSpec("filter_dp_pa", "Pa", low=0, high=5000),
                MetricSpec("fan_running", "", type="bool"),
                MetricSpec("compressor_current_a", "A", low=0, high=1000),
                MetricSpec("runtime_hours", "h", low=0, high=1_000_000),
            ),
            frozenset({"fault"}),
            interval_s=30,
        ),
        DeviceKind(
            "zone_sensor",
            "hvac",
            _m(
                MetricSpec("temperature_c", "°C", low=-40, high=85),
                MetricSpec("humidity_pct", "%", low=0, high=100),
                MetricSpec("co2_ppm", "ppm", low=0, high=40_000),
            ),
            frozenset(),
            interval_s=60,
        ),
        DeviceKind(
            "door",
            "access",
            _m(MetricSpec("door_open", "", type="bool")),
            frozenset(
                {"access_granted", "access_denied", "door_forced_open", "door_held_open", "tamper"}
            ),
            interval_s=60,
        ),
    )
}

FAMILIES: frozenset[str] = frozenset(k.family for k in KINDS.values())

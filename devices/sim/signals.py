"""Simulated physical signals: what each kind of device would measure at a given site time.

Site time (`sim_ts`, Unix seconds) may run faster than the wall clock so that a day's
temperature swing or weeks of filter loading fit in minutes; fault ramps run on wall seconds
since the simulator started (`elapsed_s`) so a scripted scenario keeps its timing.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

from devices.reading import MetricValue
from devices.registry import Device

BATTERY_DECAY_PCT_PER_S = 1.0 / (30 * 86_400)  # a detector battery loses ~1 % per month
FILTER_LIFE_S = 10 * 7 * 86_400  # a clean filter loads fully in ~10 weeks of fan running
FILTER_REPLACED_AT = 0.9  # loading at which maintenance swaps the filter (keeps dp < 250 Pa)
CO2_OUTDOOR_PPM = 420.0
CO2_PER_OCCUPANCY_PPM = 650.0  # extra CO2 at full occupancy
CO2_TIME_CONSTANT_S = 1_800.0  # a zone's CO2 settles in ~30 min (site time)
SMOKE_RISE_PCT_PER_M_PER_S = 4.0  # obscuration climb during a scripted fire, per wall second
SMOKE_ALARM_PCT_PER_M = 12.0  # where a scripted fire's obscuration levels off
HOT_ZONE_OFFSET_C = 9.0  # a scripted hot zone sits ~9 °C over its normal temperature
HOT_ZONE_RAMP_S = 20.0  # wall seconds for a hot zone to reach its offset
CLOGGED_LOADING = 1.6  # filter loading of a scripted clogged filter (~380 Pa at full airflow)
CLOG_RAMP_S = 30.0  # wall seconds for a scripted clog to build up


def local_hours(sim_ts: float) -> tuple[float, bool]:
    """Local hour of day (0..24) and whether it is a working day (Mon-Fri) at site time."""
    t = time.localtime(sim_ts)
    return t.tm_hour + t.tm_min / 60 + t.tm_sec / 3600, t.tm_wday < 5


def occupancy(sim_ts: float) -> float:
    """Share of the building's people present (0..1): office hours with a lunch dip."""
    hour, workday = local_hours(sim_ts)
    if not workday:
        return 0.05
    if hour < 7.5 or hour >= 19.0:
        return 0.0
    if hour < 9.0:
        return (hour - 7.5) / 1.5
    if hour >= 17.0:
        return max(0.0, (19.0 - hour) / 2.0)
    if 12.0 <= hour < 13.5:
        return 0.6  # lunch: many leave the building
    return 1.0


def daily_swing(sim_ts: float) -> float:
    """Outdoor temperature shape (-1..1): coldest near 03:00, warmest near 15:00."""
    hour, _ = local_hours(sim_ts)
    return math.cos(2 * math.pi * (hour - 15.0) / 24.0)


@dataclass
class DeviceModel:
    """The simulated state of one device, advanced each time it reports."""

    device: Device
    rng: random.Random
    bias_c: float = 0.0  # this spot runs a little warmer or colder than the building
    battery_pct: float = 100.0
    filter_loading: float = 0.2  # 0 clean .. 1 fully loaded
    runtime_hours: float = 0.0
    setpoint_c: float = 21.0
    co2_ppm: float | None = None  # None until the first report
    door_open: bool = False
    door_pinned: bool = False  # a scripted fault holds the door; traffic leaves it alone
    silent: bool = False  # a scripted fault: stop reporting, stay connected
    zones_in_alarm: int = 0
    smoke_from: float | None = None  # wall seconds when a scripted fire began
    hot_from: float | None = None  # wall seconds when a scripted hot zone began
    clog_from: float | None = None  # wall seconds when a scripted clog began
    clog_start_loading: float = 0.0
    last_sim_ts: float | None = field(default=None, repr=False)

    @classmethod
    def create(cls, device: Device, seed: int) -> DeviceModel:
        """A device in a plausible, seeded starting state (battery, filter, runtime)."""
        rng = random.Random(f"{seed}/{device.site}/{device.id}")
        return cls(
            device=device,
            rng=rng,
            bias_c=rng.uniform(-0.6, 0.8),
            battery_pct=rng.uniform(70.0, 100.0),
            filter_loading=rng.uniform(0.05, 0.5),
            runtime_hours=round(rng.uniform(500.0, 20_000.0), 1),
            setpoint_c=rng.choice((21.0, 21.5, 22.0)),
        )

    def zone_temp_c(self, elapsed_s: float, sim_ts: float) -> float:
        """Indoor air temperature at this device: daily swing, people, noise, scripted heat."""
        t = 21.8 + self.bias_c + 1.2 * daily_swing(sim_ts) + 1.0 * occupancy(sim_ts)
        if self.hot_from is not None:
            t += HOT_ZONE_OFFSET_C * min(1.0, max(0.0, elapsed_s - self.hot_from) / HOT_ZONE_RAMP_S)
        return t + self.rng.gauss(0.0, 0.15)

    def telemetry(self, elapsed_s: float, sim_ts: float) -> dict[str, MetricValue]:
        """The metrics this device reports now, per its kind (SPEC §2)."""
        dt = 0.0 if self.last_sim_ts is None else max(0.0, sim_ts - self.last_sim_ts)
        self.last_sim_ts = sim_ts
        self.battery_pct = max(0.0, self.battery_pct - dt * BATTERY_DECAY_PCT_PER_S)
        kind = self.device.kind
        if kind == "smoke_detector":
            return {
                "smoke_obscuration_pct_per_m": round(self._obscuration(elapsed_s), 3),
                "temperature_c": round(self.zone_temp_c(elapsed_s, sim_ts), 2),
                "battery_pct": round(self.battery_pct, 2),
            }
        if kind == "heat_detector":
            return {
                "temperature_c": round(self.zone_temp_c(elapsed_s, sim_ts), 2),
                "battery_pct": round(self.battery_pct, 2),
            }
        if kind == "fire_panel":
            return {"zones_in_alarm": self.zones_in_alarm, "mains_ok": True}
        if kind == "manual_call_point":
            return {"battery_pct": round(self.battery_pct, 2)}
        if kind == "air_handler":
            return self._air_handler(dt, elapsed_s, sim_ts)
        if kind == "zone_sensor":
            return self._zone_sensor(dt, elapsed_s, sim_ts)
        if kind == "door":
            return {"door_open": self.door_open}
        raise ValueError(f"no signal model for kind {kind!r}")

    def _obscuration(self, elapsed_s: float) -> float:
        base = abs(self.rng.gauss(0.02, 0.01))  # clean air: a few hundredths of a %/m
        if self.smoke_from is None:
            return base
        rise = SMOKE_RISE_PCT_PER_M_PER_S * max(0.0, elapsed_s - self.smoke_from)
        return min(SMOKE_ALARM_PCT_PER_M, base + rise) + self.rng.gauss(0.0, 0.2) * (rise > 0)

    def _air_handler(self, dt: float, elapsed_s: float, sim_ts: float) -> dict[str, MetricValue]:
        # The fan runs day and night; the night setback lowers airflow, hence filter dp.
        hour, workday = local_hours(sim_ts)
        daytime = workday and 6.0 <= hour < 20.0
        airflow = 1.0 if daytime else 0.85  # share of design airflow
        self.runtime_hours += dt / 3600.0  # counts while the fan runs, i.e. always here
        self.filter_loading += dt / FILTER_LIFE_S * airflow
        if self.filter_loading >= FILTER_REPLACED_AT and self.clog_from is None:
            self.filter_loading = 0.05  # maintenance changed the filter
        loading = self.filter_loading
        if self.clog_from is not None:
            share = min(1.0, max(0.0, elapsed_s - self.clog_from) / CLOG_RAMP_S)
            loading = self.clog_start_loading + share * (CLOGGED_LOADING - self.clog_start_loading)
        load = 0.4 + 0.3 * daily_swing(sim_ts) + 0.3 * occupancy(sim_ts)  # cooling demand 0..1
        return_c = self.zone_temp_c(elapsed_s, sim_ts) + 0.8
        return {
            "supply_air_temp_c": round(self.setpoint_c - 7.5 * load + self.rng.gauss(0, 0.2), 2),
            "return_air_temp_c": round(return_c, 2),
            "setpoint_c": self.setpoint_c,
            "filter_dp_pa": round((60.0 + 200.0 * loading) * airflow**2 + self.rng.gauss(0, 2), 1),
            "fan_running": True,
            "compressor_current_a": round(max(0.0, 4.0 + 11.0 * load + self.rng.gauss(0, 0.3)), 2),
            "runtime_hours": round(self.runtime_hours, 3),
        }

    def _zone_sensor(self, dt: float, elapsed_s: float, sim_ts: float) -> dict[str, MetricValue]:
        occ = occupancy(sim_ts)
        target = CO2_OUTDOOR_PPM + CO2_PER_OCCUPANCY_PPM * occ
        if self.co2_ppm is None:
            self.co2_ppm = target  # first report: the zone has been at this occupancy a while
        self.co2_ppm += (target - self.co2_ppm) * (1.0 - math.exp(-dt / CO2_TIME_CONSTANT_S))
        humidity = 42.0 - 4.0 * daily_swing(sim_ts) + 5.0 * occ + self.rng.gauss(0, 0.5)
        return {
            "temperature_c": round(self.zone_temp_c(elapsed_s, sim_ts), 2),
            "humidity_pct": round(min(100.0, max(0.0, humidity)), 1),
            "co2_ppm": round(max(CO2_OUTDOOR_PPM - 30, self.co2_ppm + self.rng.gauss(0, 8)), 0),
        }

    def door_arrival_rate(self, sim_ts: float, speed: float) -> float:
        """People arriving at this door per wall second (for door traffic), capped at 0.1/s."""
        per_site_hour = 40.0 * occupancy(sim_ts)  # passages per hour of site time at full use
        return min(0.1, per_site_hour / 3600.0 * speed)

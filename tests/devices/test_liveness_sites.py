"""Unregistered devices are keyed by (site, device): one id at two sites is two devices."""

from __future__ import annotations

from devices.liveness import DeviceLiveness
from devices.reading import Reading
from devices.registry import parse_registry

REGISTRY = parse_registry("devices:\n  - {id: sd-1, kind: smoke_detector, site: hq, zone: hall}\n")
T0 = 1_800_000_000.0


def heard(site: str, at: float, pct: float) -> Reading:
    return Reading(site, "x-9", "telemetry", at, at, metrics={"smoke_obscuration_pct_per_m": pct})


def test_one_unregistered_id_at_two_sites_is_two_devices_across_a_restart() -> None:
    live = DeviceLiveness(REGISTRY, started_at=T0)
    live.observe(heard("north", T0 + 1, 0.1))
    live.observe(heard("south", T0 + 5, 0.2))
    states = {(d.site, d.device_id): d for d in live.states(T0 + 6)}
    assert set(states) == {("hq", "sd-1"), ("north", "x-9"), ("south", "x-9")}
    assert states[("north", "x-9")].latest["smoke_obscuration_pct_per_m"][1] == 0.1
    assert states[("south", "x-9")].last_seen == T0 + 5
    assert live.counts(T0 + 6)[("online", False)] == 2
    found = live.state("x-9", T0 + 6)  # by plain id: the site heard last
    assert found is not None and found.site == "south"

    again = DeviceLiveness(REGISTRY, started_at=T0 + 100)
    again.restore(live.snapshot(None))
    restored = {(d.site, d.device_id) for d in again.states(T0 + 101)}
    assert {("north", "x-9"), ("south", "x-9")} <= restored

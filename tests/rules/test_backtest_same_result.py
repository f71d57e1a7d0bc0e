"""A backtest gives the same incidents and diff however it reads and ticks: the plain replay
(one merged stream, a tick every second of data time: the first version's loop, kept here as
the reference), replay() with its skipped ticks, and replay_devices() one device at a time
from the store, over a seeded period that fires every kind of rule of the built-in pack."""

from __future__ import annotations

from ingest.stores.base import DeviceReplay, TelemetryStore
from rules.engine.backtest import Recorded, diff, replay, replay_devices
from rules.engine.loader import load_rules
from tests.rules.backtest_period import HOURS, REGISTRY, T0, first_version, opened, seeded_period


def test_by_device_and_skipped_ticks_give_the_first_versions_incidents_and_diff(
    replay_store: TelemetryStore,
) -> None:
    pack = load_rules()
    readings = seeded_period(20)
    replay_store.write(readings)
    start, end = T0, T0 + HOURS * 3600
    reference = first_version(pack, replay_store.readings(start, end), start, end, REGISTRY)
    fired = {rule for rule, *_ in reference}
    assert fired >= {"smoke_obscuration", "heat_rise", "heat_fixed", "detector_low_battery",
                     "fire_panel_mains_lost", "life_safety_stale", "door_held_open",
                     "door_open_too_long", "access_denied_burst", "filter_clogged",
                     "zone_overheat", "unregistered_fire_alarm", "device_offline"}, fired
    assert any(resolved is not None for *_, resolved in reference)
    assert ("life_safety_stale", "smoke-quiet", T0 + 180, None) in reference

    merged = replay(pack, replay_store.readings(start, end), start, end, REGISTRY)
    assert isinstance(replay_store, DeviceReplay)
    by_device = replay_devices(pack, replay_store.reading_devices(start, end),
                               lambda d: replay_store.device_readings(d, start, end), start, end,
                               REGISTRY)
    assert merged.readings == by_device.readings == len(readings)
    assert opened(merged) == opened(by_device) == reference

    # The diff too: one recorded as opened, one a minute later, one the replay never opens.
    w0, w1 = merged.would_open[0], merged.would_open[1]
    recorded = [Recorded(1, w0.rule, w0.device_id, w0.opened_at, None),
                Recorded(2, w1.rule, w1.device_id, w1.opened_at + 60, None),
                Recorded(3, "zone_overheat", "nowhere", T0 + 5, None)]
    a = diff(merged, recorded).as_json()
    b = diff(by_device, recorded).as_json()
    assert a == b
    assert (len(a["diff"]["moved"]), len(a["diff"]["gone"])) == (1, 1)
    assert len(a["diff"]["new"]) == len(reference) - 2

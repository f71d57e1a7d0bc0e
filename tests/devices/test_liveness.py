"""Liveness snapshots and restore: what a restart must not forget, with a fake clock."""

from __future__ import annotations

from devices.liveness import DeviceLiveness
from devices.reading import Reading
from devices.registry import parse_registry
from devices.snapshot import DeviceSnapshot

REGISTRY = parse_registry(
    """
devices:
  - {id: sd-1, kind: smoke_detector, site: hq, zone: hall, interval_s: 10}
  - {id: door-1, kind: door, site: hq, zone: hall, interval_s: 10}
"""
)
T0 = 1_800_000_000.0  # Unix seconds: the first run's start
STALE_S = 30.0  # three 10 s intervals


def telemetry(device_id: str, at: float, kind: str | None = "smoke_detector",
              **metrics: float | bool | str) -> Reading:
    return Reading("hq", device_id, "telemetry", at, at, kind=kind, zone="hall", metrics=metrics)


def status(device_id: str, at: float, state: str) -> Reading:
    return Reading("hq", device_id, "status", at, at, kind="door", zone="hall", status=state)


def test_a_first_snapshot_holds_every_device_and_a_later_one_only_those_changed_since() -> None:
    live = DeviceLiveness(REGISTRY, started_at=T0)
    live.observe(telemetry("sd-1", T0 + 1, battery_pct=90.0))
    everything = live.snapshot(None)
    assert {s.device_id for s in everything} == {"sd-1", "door-1"}
    cursor = max(s.change for s in everything)
    assert live.snapshot(cursor) == []

    live.observe(status("door-1", T0 + 2, "offline"))
    changed = live.snapshot(cursor)
    assert [(s.device_id, s.offline_since, s.last_seen) for s in changed] == [
        ("door-1", T0 + 2, None)
    ]


def test_a_snapshot_carries_last_seen_since_and_latest_metrics() -> None:
    live = DeviceLiveness(REGISTRY, started_at=T0)
    live.observe(telemetry("sd-1", T0 + 1, battery_pct=90.0))
    live.observe(telemetry("sd-1", T0 + 5, battery_pct=89.0, smoke_alarm=False))
    live.observe(telemetry("ghost", T0 + 6, kind=None, temperature_c=30.5))
    by_id = {s.device_id: s for s in live.snapshot(0)}
    assert set(by_id) == {"sd-1", "ghost"}  # door-1 was never heard: nothing to save
    sd = by_id["sd-1"]
    assert (sd.registered, sd.kind, sd.zone, sd.last_seen, sd.online_since, sd.offline_since) == (
        True, "smoke_detector", "hall", T0 + 5, T0 + 1, None
    )
    assert sd.latest == {"battery_pct": (T0 + 5, 89.0), "smoke_alarm": (T0 + 5, False)}
    assert (by_id["ghost"].registered, by_id["ghost"].kind) == (False, None)


def test_a_restored_device_keeps_its_last_seen_and_goes_stale_three_intervals_after_it() -> None:
    before = DeviceLiveness(REGISTRY, started_at=T0)
    before.observe(telemetry("sd-1", T0 + 1, battery_pct=90.0))
    saved = before.snapshot(0)

    restart = T0 + 20  # ten seconds short of stale, counted from the last message
    after = DeviceLiveness(REGISTRY, started_at=restart)
    after.restore(saved)
    online = after.state("sd-1", restart)
    assert online is not None
    assert (online.state, online.since, online.last_seen) == ("online", T0 + 1, T0 + 1)
    assert online.latest == {"battery_pct": (T0 + 1, 90.0)}
    stale = after.state("sd-1", T0 + 1 + STALE_S)
    assert stale is not None
    assert (stale.state, stale.since) == ("stale", T0 + 1 + STALE_S)  # not restart + 30 s
    assert after.last_seen()["sd-1"] == T0 + 1


def test_a_device_never_heard_keeps_its_grace_from_start_and_a_null_last_seen() -> None:
    live = DeviceLiveness(REGISTRY, started_at=T0)
    live.restore([])
    grace = live.state("door-1", T0 + STALE_S - 1)
    assert grace is not None
    assert (grace.state, grace.since, grace.last_seen) == ("unknown", T0, None)  # not online
    stale = live.state("door-1", T0 + STALE_S)
    assert stale is not None
    assert (stale.state, stale.since, stale.last_seen) == ("stale", T0 + STALE_S, None)


def test_restore_brings_back_offline_and_unregistered_devices_but_not_vanished_silent_ones() -> (
    None
):
    saved = [
        DeviceSnapshot("door-1", "hq", "hall", "door", True, T0 + 1, T0, T0 + 2),
        DeviceSnapshot("ghost", "hq", None, None, False, T0 + 3, T0 + 3, None,
                       {"temperature_c": (T0 + 3, 30.5)}),
        DeviceSnapshot("gone", "hq", "hall", "door", True, None, None, None),
    ]
    live = DeviceLiveness(REGISTRY, started_at=T0 + 100)
    live.restore(saved)
    door, ghost = live.state("door-1", T0 + 100), live.state("ghost", T0 + 100)
    assert door is not None and (door.state, door.since) == ("offline", T0 + 2)
    assert ghost is not None and (ghost.registered, ghost.last_seen) == (False, T0 + 3)
    assert live.state("gone", T0 + 100) is None
    assert live.snapshot(0) == []  # restored states are already saved


def test_a_device_heard_before_restore_keeps_what_it_heard() -> None:
    live = DeviceLiveness(REGISTRY, started_at=T0 + 100)
    live.observe(telemetry("sd-1", T0 + 101, battery_pct=80.0))
    live.restore([DeviceSnapshot("sd-1", "hq", "hall", "smoke_detector", True, T0, T0, None,
                                 {"battery_pct": (T0, 95.0)})])
    s = live.state("sd-1", T0 + 101)
    assert s is not None
    assert (s.last_seen, s.latest) == (T0 + 101, {"battery_pct": (T0 + 101, 80.0)})


def test_a_retained_online_status_is_no_sign_of_life_but_clears_offline() -> None:
    live = DeviceLiveness(REGISTRY, started_at=T0)
    live.observe(telemetry("sd-1", T0 + 1))
    live.observe(status("sd-1", T0 + 5, "offline"))
    assert live.state("sd-1", T0 + 6).state == "offline"  # type: ignore[union-attr]
    live.observe(status("sd-1", T0 + 40, "online"))  # e.g. redelivered at a resubscribe
    state = live.state("sd-1", T0 + 41)
    assert state is not None
    assert (state.state, state.last_seen) == ("stale", T0 + 1)

"""The simulator: signal shapes on a fake clock, the fault script, and real MQTT to Mosquitto."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from devices.kinds import KINDS
from devices.registry import NAME_RE, Device, Registry, load_registry
from devices.sim.scenario import (
    FAULT_TARGETS,
    Fault,
    FaultError,
    demo_scenario,
    generate_site,
    parse_fault,
    plan,
)
from devices.sim.signals import DeviceModel, occupancy
from devices.sim.simulator import Simulator, SimulatorError, parse_broker_url, rfc3339
from ingest.decode import decode
from tests.servers import Server, free_port

REPO = Path(__file__).resolve().parents[2]
MONDAY_10H = datetime(2026, 11, 23, 10, 0).timestamp()  # local time, a working day
SUNDAY_3H = datetime(2026, 11, 29, 3, 0).timestamp()


def one_of_each() -> Registry:
    """A small site with one device of every kind."""
    return Registry.from_devices(
        [Device(id=f"{k[:4]}-1", kind=k, site="hq", zone="z1") for k in KINDS]
    )


# -- signals, on a fake clock -----------------------------------------------------------


def test_every_kind_reports_exactly_its_metrics_within_plausible_ranges_for_a_week() -> None:
    for device in one_of_each().devices.values():
        model = DeviceModel.create(device, seed=7)
        for hour in range(7 * 24):
            metrics = model.telemetry(elapsed_s=hour, sim_ts=MONDAY_10H + hour * 3600)
            assert set(metrics) == set(device.spec.metrics), device.kind
            for name, value in metrics.items():
                spec = device.spec.metrics[name]
                if spec.type == "bool":
                    assert isinstance(value, bool)
                    continue
                assert isinstance(value, int | float) and not isinstance(value, bool)
                assert spec.low is not None and spec.high is not None
                assert spec.low <= value <= spec.high, (device.kind, name, value)


def test_meters_advance_with_site_time_and_the_battery_decays() -> None:
    ahu = DeviceModel.create(Device(id="a", kind="air_handler", site="s", zone="z"), seed=1)
    sd = DeviceModel.create(Device(id="d", kind="smoke_detector", site="s", zone="z"), seed=1)
    first_runtime = ahu.telemetry(0, MONDAY_10H)["runtime_hours"]
    first_battery = sd.telemetry(0, MONDAY_10H)["battery_pct"]
    later = MONDAY_10H + 10 * 86_400
    assert ahu.telemetry(1, later)["runtime_hours"] == pytest.approx(first_runtime + 240, abs=0.01)
    assert sd.telemetry(1, later)["battery_pct"] < first_battery - 0.2


def test_filter_pressure_drifts_up_over_weeks_but_stays_under_250_pa_without_a_fault() -> None:
    ahu = DeviceModel.create(Device(id="a", kind="air_handler", site="s", zone="z"), seed=3)
    readings = [ahu.telemetry(0, MONDAY_10H + day * 86_400)["filter_dp_pa"] for day in range(140)]
    assert max(readings) < 250
    assert max(readings) - min(readings) > 60  # it does load up (and gets replaced)


def test_co2_follows_occupancy_high_in_office_hours_low_at_night() -> None:
    zs = DeviceModel.create(Device(id="z", kind="zone_sensor", site="s", zone="z"), seed=2)
    office = zs.telemetry(0, MONDAY_10H)["co2_ppm"]
    night = zs.telemetry(0, SUNDAY_3H)["co2_ppm"]
    assert occupancy(MONDAY_10H) == 1.0 and occupancy(SUNDAY_3H) < 0.1
    assert isinstance(office, float) and isinstance(night, float)
    assert office > 900 > 500 > night


def test_door_traffic_happens_in_office_hours_only() -> None:
    door = DeviceModel.create(Device(id="d", kind="door", site="s", zone="z"), seed=1)
    assert door.door_arrival_rate(MONDAY_10H, speed=1.0) > 0
    assert door.door_arrival_rate(SUNDAY_3H, speed=1.0) < door.door_arrival_rate(
        MONDAY_10H, speed=1.0
    ) / 10


# -- the fault script -------------------------------------------------------------------


def test_fault_flags_parse_name_device_and_time_in_several_units() -> None:
    assert parse_fault("fire_alarm@60s") == Fault("fire_alarm", 60.0, None)
    assert parse_fault("door_held:door-08@1.5m") == Fault("door_held", 90.0, "door-08")
    assert parse_fault("silent_detector@500ms") == Fault("silent_detector", 0.5, None)
    assert parse_fault("clogged_filter") == Fault("clogged_filter", 0.0, None)
    assert parse_fault(str(Fault("hot_zone", 12.0, "zs-05"))) == Fault("hot_zone", 12.0, "zs-05")


@pytest.mark.parametrize(
    "text", ["earthquake@10s", "fire_alarm@soon", "fire_alarm:bad/id@1s", "fire_alarm@-1", ""]
)
def test_malformed_fault_flags_are_refused(text: str) -> None:
    with pytest.raises(FaultError):
        parse_fault(text)


def test_faults_without_a_device_pick_different_devices_of_the_right_kind() -> None:
    site = load_registry()
    faults = [Fault("door_forced", 1), Fault("door_held", 2), Fault("door_forced", 3),
              Fault("fire_alarm", 4, "sd-01"), Fault("silent_detector", 5)]
    steps = plan(faults, list(site.devices.values()))
    first = {s.at_s: s.device_id for s in reversed(steps)}  # each fault's first step
    assert len({first[1], first[2], first[3]}) == 3
    assert all(site.devices[first[t]].kind == "door" for t in (1, 2, 3))
    assert first[5] != "sd-01" and site.devices[first[5]].kind == "smoke_detector"


def test_a_fault_on_a_device_of_the_wrong_kind_or_an_unknown_device_is_refused() -> None:
    devices = list(load_registry().devices.values())
    with pytest.raises(FaultError, match="sd-01 is a smoke_detector"):
        plan([Fault("door_forced", 1, "sd-01")], devices)
    with pytest.raises(FaultError, match="no device 'nope'"):
        plan([Fault("hot_zone", 1, "nope")], devices)


def play(steps_for: list[Fault], registry: Registry) -> tuple[dict[str, DeviceModel], list]:
    """Apply a plan's steps to fresh models in time order; return models and (t, id, event)."""
    models = {d.id: DeviceModel.create(d, 1) for d in registry.devices.values()}
    events = []
    for step in plan(steps_for, list(registry.devices.values())):
        for name, data in step.action(models[step.device_id], step.at_s):
            events.append((step.at_s, step.device_id, name, data))
    return models, events


def test_demo_scenario_fits_in_two_minutes_on_the_sample_site_and_covers_every_demo_fault() -> None:
    scenario = demo_scenario()
    assert all(0 < f.at_s <= 120 for f in scenario)
    assert {f.name for f in scenario} >= {
        "fire_alarm", "door_forced", "door_held", "clogged_filter", "hot_zone", "silent_detector"
    }
    models, events = play(scenario, load_registry())
    names = {(device, name) for _, device, name, _ in events}
    assert {("sd-06", "alarm"), ("fp-01", "fire_alarm"), ("door-07", "door_forced_open"),
            ("door-08", "door_held_open")} <= names
    assert models["sd-11"].silent
    hot = models["zs-05"]
    assert hot.hot_from is not None
    assert hot.telemetry(hot.hot_from + 30, MONDAY_10H)["temperature_c"] > 28  # type: ignore[operator]
    assert hot.telemetry(hot.hot_from + 600, SUNDAY_3H)["temperature_c"] > 28  # type: ignore[operator]
    ahu = models["ahu-02"]
    assert ahu.clog_from is not None
    for when in (MONDAY_10H, SUNDAY_3H):  # day airflow and night setback alike
        assert ahu.telemetry(ahu.clog_from + 60, when)["filter_dp_pa"] > 250  # type: ignore[operator]


def test_a_held_door_stays_open_past_30_seconds_before_its_held_open_event() -> None:
    registry = Registry.from_devices([Device(id="d1", kind="door", site="s", zone="z")])
    models = {"d1": DeviceModel.create(registry.devices["d1"], 1)}
    opened_at = held_at = closed_at = None
    for step in plan([Fault("door_held", 10)], list(registry.devices.values())):
        events = step.action(models["d1"], step.at_s)
        if models["d1"].door_open and opened_at is None:
            opened_at = step.at_s
        if any(name == "door_held_open" for name, _ in events):
            held_at = step.at_s
            assert models["d1"].door_open
        if opened_at is not None and not models["d1"].door_open and closed_at is None:
            closed_at = step.at_s
    assert opened_at == 10 and held_at is not None and closed_at is not None
    assert held_at - opened_at > 30 and closed_at > held_at


def test_a_generated_site_has_every_kind_unique_valid_ids_and_a_panel_per_500_devices() -> None:
    site = generate_site(1200, "campus")
    assert len(site) == 1200
    assert {d.kind for d in site.devices.values()} == set(KINDS)
    assert sum(d.kind == "fire_panel" for d in site.devices.values()) == 3
    assert all(NAME_RE.fullmatch(i) for i in site.devices)


def test_timestamps_are_rfc3339_utc_with_milliseconds_and_broker_urls_parse() -> None:
    assert rfc3339(1795773600.25) == "2026-11-27T10:00:00.250Z"  # SPEC §2's example instant
    a = parse_broker_url("mqtts://sim%40x:p%3Ass@broker.example:8884")
    assert (a.host, a.port, a.tls, a.username, a.password) == (
        "broker.example", 8884, True, "sim@x", "p:ss")
    assert parse_broker_url("mqtt://10.0.0.5").port == 1883
    with pytest.raises(ValueError):
        parse_broker_url("http://broker:1883")


# -- against the real Mosquitto ---------------------------------------------------------


@dataclass
class Got:
    """One message a test subscriber received."""

    topic: str
    payload: bytes
    retain: bool
    at: float


class Listener:
    """A subscriber that records everything under a topic filter (test helper)."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[Got] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        assert self._subscribed.wait(5)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Got(msg.topic, msg.payload, bool(msg.retain), time.time()))

    def on(self, topic: str) -> list[Got]:
        """Messages received on exactly this topic so far."""
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, topic: str, payload: bytes, timeout: float = 10.0) -> Got:
        """Block until `payload` arrives on `topic`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.on(topic):
                if m.payload == payload:
                    return m
            time.sleep(0.02)
        got = [m.payload for m in self.on(topic)]
        raise AssertionError(f"no {payload!r} on {topic}; got {got}")

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def listen(mosquitto: Server, topic_prefix: str) -> Iterator[Listener]:
    """Everything published under this test's prefix."""
    listener = Listener(mosquitto.port, f"{topic_prefix}/#")
    yield listener
    listener.close()


def run_for(sim: Simulator) -> threading.Thread:
    """Start `sim.run()` in a thread; join it to wait for its duration."""
    thread = threading.Thread(target=sim.run, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.parametrize("per_device_clients", [True, False])
def test_every_device_publishes_messages_the_ingest_accepts_then_goes_offline_on_stop(
    mosquitto: Server, topic_prefix: str, listen: Listener, per_device_clients: bool
) -> None:
    registry = one_of_each()
    url = f"mqtt://127.0.0.1:{mosquitto.port}"
    sim = Simulator(registry, url, prefix=topic_prefix, rate=30.0, duration_s=2.5, seed=4,
                    per_device_clients=per_device_clients)
    run_for(sim).join(20)
    for d in registry.devices.values():
        listen.wait_for(f"{topic_prefix}/hq/{d.id}/status", b"offline")
    seqs: dict[str, list[int]] = {}
    for m in listen.messages:
        reading = decode(m.topic, m.payload, time.time(), registry, prefix=topic_prefix)
        if reading.channel == "telemetry":
            assert set(reading.metrics) == set(KINDS[reading.kind or ""].metrics)
        if reading.seq is not None:
            seqs.setdefault(reading.device_id, []).append(reading.seq)
    assert set(seqs) == set(registry.devices)
    assert all(s == sorted(s) and len(set(s)) == len(s) for s in seqs.values())
    for d in registry.devices.values():
        statuses = [m.payload for m in listen.on(f"{topic_prefix}/hq/{d.id}/status")]
        assert statuses[0] == b"online" and statuses[-1] == b"offline"
    assert sim.stats.telemetry >= 50 and sim.stats.refused == 0


@pytest.mark.slow
def test_scripted_faults_publish_their_events_and_a_silent_detector_stops_but_stays_online(
    mosquitto: Server, topic_prefix: str, listen: Listener
) -> None:
    registry = one_of_each()
    faults = ["fire_alarm@0.2s", "silent_detector:heat-1@1s", parse_fault("door_forced@0.5s")]
    sim = Simulator(registry, f"mqtt://127.0.0.1:{mosquitto.port}", prefix=topic_prefix,
                    rate=40.0, duration_s=5.5, seed=5, faults=faults)  # panel at 4.2 s
    started = time.time()
    run_for(sim).join(20)
    base = f"{topic_prefix}/hq"
    events = {(m.topic.split("/")[2], decode(m.topic, m.payload, time.time(), registry,
                                              prefix=topic_prefix).event)
              for m in listen.messages if m.topic.endswith("/event")}
    assert {("smok-1", "alarm"), ("fire-1", "fire_alarm"), ("door-1", "door_forced_open")} <= events
    smoke = [decode(m.topic, m.payload, time.time(), registry, prefix=topic_prefix).metrics
             for m in listen.on(f"{base}/smok-1/telemetry")]
    assert max(float(s["smoke_obscuration_pct_per_m"]) for s in smoke) > 10
    heat = listen.on(f"{base}/heat-1/telemetry")
    assert heat and max(m.at for m in heat) < started + 2.0  # nothing after the 1 s mark
    heat_status = [m.payload for m in listen.on(f"{base}/heat-1/status")]
    assert heat_status == [b"online", b"offline"]  # offline only at the simulator's stop


@pytest.mark.slow
def test_killing_the_simulator_makes_the_broker_publish_each_device_last_will_retained(
    mosquitto: Server, topic_prefix: str, listen: Listener, tmp_path: Path
) -> None:
    devices = tmp_path / "site.yaml"
    devices.write_text(
        "devices:\n"
        "  - {id: sd-1, kind: smoke_detector, site: hq, zone: z}\n"
        "  - {id: door-1, kind: door, site: hq, zone: z}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "devices.sim.cli", "--broker",
         f"mqtt://127.0.0.1:{mosquitto.port}", "--prefix", topic_prefix, "--devices",
         str(devices), "--rate", "5"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        for d in ("sd-1", "door-1"):
            listen.wait_for(f"{topic_prefix}/hq/{d}/status", b"online", timeout=20)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        for d in ("sd-1", "door-1"):
            listen.wait_for(f"{topic_prefix}/hq/{d}/status", b"offline")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    late = Listener(mosquitto.port, f"{topic_prefix}/hq/+/status")  # a newcomer sees the will
    try:
        got = late.wait_for(f"{topic_prefix}/hq/sd-1/status", b"offline")
        assert got.retain
    finally:
        late.close()


@pytest.mark.slow
def test_sigterm_stops_the_cli_cleanly_and_publishes_offline(
    mosquitto: Server, topic_prefix: str, listen: Listener
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "devices.sim.cli", "--broker",
         f"mqtt://127.0.0.1:{mosquitto.port}", "--prefix", topic_prefix, "--rate", "10"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        listen.wait_for(f"{topic_prefix}/hq/sd-01/status", b"online", timeout=20)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    listen.wait_for(f"{topic_prefix}/hq/door-08/status", b"offline")
    assert [m.payload for m in listen.on(f"{topic_prefix}/hq/sd-01/status")][-1] == b"offline"


@pytest.mark.slow
def test_an_unreachable_broker_is_reported_instead_of_hanging() -> None:
    sim = Simulator(one_of_each(), f"mqtt://127.0.0.1:{free_port()}", duration_s=1,
                    connect_timeout_s=1.0)
    with pytest.raises(SimulatorError, match="no answer from the MQTT broker"):
        sim.run()


def test_every_fault_name_has_a_target_kind_that_exists() -> None:
    assert all(set(kinds) <= set(KINDS) for kinds in FAULT_TARGETS.values())

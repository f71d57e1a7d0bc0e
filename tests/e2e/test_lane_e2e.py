"""Issue 11, the life-safety lane: a fire alarm queued behind telemetry opens first.

The service runs once (both persistent sessions exist at the broker) and stops; 20,000 QoS 1
readings and then a fire alarm are queued at the broker while it is down. Started again, the
alert opens within a few seconds while the readings are still being stored.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from api.service import Service
from tests.e2e.conftest import Services
from tests.e2e.helpers import one_incident, poll
from tests.ingest.helpers import Publisher
from tests.servers import Server, free_port

BACKLOG = 20_000  # readings queued ahead of the fire alarm
DEVICES = 100
ALERT_BOUND_S = 5.0  # from the service started (sessions connected) to the alert; goal 1 s


def _registry(path: Path) -> Path:
    lines = ["devices:", "  - {id: fp-01, kind: fire_panel, site: hq, zone: plant}"]
    lines += [f"  - {{id: zs-{i:03d}, kind: zone_sensor, site: hq, zone: z{i % 10}}}"
              for i in range(DEVICES)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_a_fire_alarm_behind_twenty_thousand_readings_opens_before_the_backlog_is_stored(
    services: Services, mosquitto: Server, topic_prefix: str, tmp_path: Path
) -> None:
    devices = _registry(tmp_path / "devices.yaml")
    services.stop(services.start(devices=devices))  # the broker now queues for both sessions
    pub = Publisher(mosquitto.port, f"{topic_prefix}-backlog")
    for seq in range(BACKLOG // DEVICES):
        for i in range(DEVICES):
            body = {"ts": 1_790_000_000 + seq * 10 + i / 1000, "seq": seq,
                    "metrics": {"temperature_c": 22.0, "humidity_pct": 45.0}}
            pub.publish(f"{topic_prefix}/hq/zs-{i:03d}/telemetry", json.dumps(body))
    pub.publish(f"{topic_prefix}/hq/fp-01/event",
                json.dumps({"ts": time.time(), "seq": 1, "event": "fire_alarm"}))
    pub.close()

    service = services.start(devices=devices)
    started = time.monotonic()
    alert = poll(lambda: one_incident(service, "fire_alarm", "fp-01"), ALERT_BOUND_S, "alert")
    took = time.monotonic() - started
    stored = service.counters.snapshot()["handled"].get("store", 0)
    assert alert.severity == "critical"
    assert stored < BACKLOG, f"the alert ({took:.2f} s) waited for the whole backlog to be stored"
    poll(lambda: service.counters.snapshot()["handled"].get("store", 0) >= BACKLOG + 1, 60,
         "the whole backlog stored")


def test_on_a_first_start_the_telemetry_session_starts_only_once_the_lane_has_subscribed(
    services: Services,
) -> None:
    # Otherwise an event published before the lane's subscription existed could reach only
    # the telemetry session, which skips it as the lane's once the lane has subscribed.
    service = Service(services.settings())
    marker = service.settings.data_dir / "life_safety.subscribed"
    assert not marker.exists()  # a first start
    when: list[bool] = []
    connect = service.ingest.connect

    def telemetry_connect() -> None:
        when.append(marker.exists() and service.lane.subscribed_once())
        connect()

    service.ingest.connect = telemetry_connect  # type: ignore[method-assign]
    try:
        service.start()
        assert service.ingest.session.wait_connected(15), "no telemetry session"
        assert when == [True]
    finally:
        service.stop()


def test_with_the_broker_unreachable_at_start_every_thread_is_alive_meanwhile(
    services: Services,
) -> None:
    # the telemetry session waits for the lane's subscription; its writer does not, so the
    # compose healthcheck (liveness) does not restart a service that waits for its broker
    service = Service(services.settings(mqtt_url=f"mqtt://127.0.0.1:{free_port()}"))
    try:
        service.start()
        live = service.live()
        assert live["ok"] is True, live
        assert service.ingest.session.connected is False
    finally:
        service.stop()

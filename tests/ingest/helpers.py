"""Helpers for ingest tests: a small registry, a polling wait, a real QoS 1 publisher."""

from __future__ import annotations

import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from devices.registry import Device, Registry


def small_registry() -> Registry:
    """Three registered devices at site hq: a smoke detector, a zone sensor and a door."""
    return Registry.from_devices(
        [
            Device(id="sd-1", kind="smoke_detector", site="hq", zone="hall-a"),
            Device(id="zs-1", kind="zone_sensor", site="hq", zone="office-1"),
            Device(id="door-1", kind="door", site="hq", zone="reception"),
        ]
    )


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll `predicate` every 20 ms until it holds or `timeout` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return predicate()
        time.sleep(0.02)
    return True


class Publisher:
    """A QoS 1 test publisher on a real broker; `close()` waits until the broker has it all."""

    def __init__(self, port: int, client_id: str) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)  # unlimited: tests publish bursts
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self._sent: list[mqtt.MQTTMessageInfo] = []

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        """Queue one message."""
        self._sent.append(self.client.publish(topic, payload, qos=qos))

    def close(self, timeout: float = 60) -> None:
        """Wait until every message is acknowledged by the broker, then disconnect."""
        deadline = time.monotonic() + timeout
        for info in self._sent:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            assert info.is_published(), "the broker did not take every message"
        self.client.disconnect()
        self.client.loop_stop()

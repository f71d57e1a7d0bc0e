"""Incidents back onto MQTT, through a real Mosquitto: state retained per incident, every
timeline entry on `_events`, nothing lost across a broker restart, never taken as a device."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from api.service import Service
from tests.e2e.conftest import Services
from tests.e2e.helpers import Site, one_incident, poll
from tests.servers import Server

pytestmark = pytest.mark.slow


class Watcher:
    """A building system's subscriber: a persistent QoS 1 session on the incident topics."""

    def __init__(self, port: int, prefix: str, client_id: str) -> None:
        self.messages: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        self.sessions: list[bool] = []
        self.seen: set[tuple[str, bytes]] = set()
        self.redelivered = 0  # copies sent again (dup) of messages already taken
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False, protocol=mqtt.MQTTv311)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)
        self.prefix = prefix
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, c: Any, u: Any, m: mqtt.MQTTMessage) -> None:
        # QoS 1 is at least once: an ack the broker had not read when it stopped makes it send
        # the message again after its restart, marked dup. A subscriber takes it once.
        if m.dup and (m.topic, m.payload) in self.seen:
            self.redelivered += 1
            return
        self.seen.add((m.topic, m.payload))
        self.messages.put((m.topic, m.payload, m.retain))

    def _on_connect(self, c: Any, u: Any, flags: Any, reason: Any, props: Any) -> None:
        self.sessions.append(bool(flags.session_present))
        c.subscribe([(f"{self.prefix}/+/_events", 1), (f"{self.prefix}/+/_incidents/+", 1)])

    def next(self, topic_suffix: str, timeout: float = 10.0) -> tuple[bytes, bool]:
        """The next message whose topic ends with `topic_suffix` (others are skipped)."""
        def probe() -> tuple[bytes, bool] | None:
            try:
                topic, payload, retain = self.messages.get(timeout=0.2)
            except queue.Empty:
                return None
            return (payload, retain) if topic.endswith(topic_suffix) else None
        return poll(probe, timeout, f"a message on ...{topic_suffix}")

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def watcher(mosquitto: Server, topic_prefix: str) -> Iterator[Watcher]:
    """A subscriber to this test's incident topics."""
    w = Watcher(mosquitto.port, topic_prefix, f"{topic_prefix}-bms")
    poll(lambda: w.sessions or None, 10, "the watcher's connection")
    try:
        yield w
    finally:
        w.close()


def test_a_fire_alarm_is_published_as_a_retained_state_and_an_event_and_cleared_when_resolved(
    services: Services, site: Site, watcher: Watcher
) -> None:
    service = services.start(mqtt_publish_incidents=True)
    site.event("fp-01", "fire_alarm", zone="hall-a")
    alert = poll(lambda: one_incident(service, "fire_alarm", "fp-01"), 10, "the fire alert")
    event, retained = watcher.next("/_events")
    assert not retained
    body = json.loads(event)
    assert body["action"] == "opened" and body["incident"]["id"] == alert.id
    assert body["incident"]["severity"] == "critical" and body["incident"]["site"] == "hq"
    state, _ = watcher.next(f"/_incidents/{alert.id}")
    assert json.loads(state)["state"] == "active"
    service.incidents.transition(alert.id, "resolve", actor="guard", note="test")
    assert json.loads(watcher.next("/_events")[0])["action"] == "resolved"
    assert watcher.next(f"/_incidents/{alert.id}")[0] == b""  # the retained copy is cleared
    snapshot = service.counters.snapshot()
    assert snapshot["warnings"].get("own_output", 0) >= 2  # seen by ingest, never a device
    assert snapshot["rejected_total"] == 0 and service.liveness.state("_events", 0) is None


def test_changes_made_while_the_broker_is_down_arrive_once_it_is_back(
    services: Services, site: Site, watcher: Watcher, mosquitto: Server
) -> None:
    service: Service = services.start(mqtt_publish_incidents=True)
    ticket = service.incidents.open_ticket(
        title="Leak", description="", department="maintenance", priority="P3", actor="t",
        site="hq")
    assert json.loads(watcher.next("/_events")[0])["incident"]["id"] == ticket.id
    mosquitto.stop()
    try:
        for note in ("one", "two", "three"):
            service.incidents.transition(ticket.id, "comment", actor="tech", note=note)
    finally:
        mosquitto.start()
    poll(lambda: len(watcher.sessions) >= 2 or None, 20, "the watcher's reconnection")
    assert watcher.sessions[-1] is True  # the broker kept the watcher's session
    notes = [json.loads(watcher.next("/_events", 20)[0])["note"] for _ in range(3)]
    assert notes == ["one", "two", "three"]
    assert service.publisher is not None
    poll(lambda: service.publisher.backlog() == 0 or None, 10, "the publisher to catch up")

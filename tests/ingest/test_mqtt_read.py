"""The PUBLISH fast path of ingest/mqtt_read.py hands over exactly what paho's path does."""

from __future__ import annotations

import struct
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.exception import MalformedPacket

from ingest.mqtt_read import BufferedReadClient

Seen = tuple[str, bytes, int, int, bool, bool]


def _publish(topic: bytes, payload: bytes, qos: int, mid: int = 0, retain: bool = False,
             dup: bool = False) -> tuple[int, bytearray]:
    command = 0x30 | qos << 1 | int(retain) | int(dup) << 3
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", mid) if qos else b"")
    return command, bytearray(body + payload)


def _client() -> BufferedReadClient:
    return BufferedReadClient(mqtt.CallbackAPIVersion.VERSION2, client_id="t",
                              protocol=mqtt.MQTTv311, manual_ack=True)


def _handle(client: BufferedReadClient, command: int, packet: bytearray) -> mqtt.MQTTErrorCode:
    client._in_packet = {"command": command, "have_remaining": 1, "remaining_count": [],
                         "remaining_mult": 1, "remaining_length": len(packet),
                         "packet": packet, "to_process": 0, "pos": 0}
    return client._handle_publish()


def _fast(command: int, packet: bytearray) -> list[Seen]:
    client, seen = _client(), []
    client.on_publish_fast = lambda t, p, m, q, r, d: seen.append(
        (t.decode("utf-8", errors="replace"), p, m, q, r, d))
    client.on_message = lambda *a: pytest.fail("paho's path was taken")
    assert _handle(client, command, packet) == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
    return seen


def _paho(command: int, packet: bytearray) -> list[Seen]:
    client, seen = _client(), []

    def on_message(c: Any, u: Any, m: mqtt.MQTTMessage) -> None:
        try:
            topic = m.topic
        except UnicodeDecodeError:
            topic = m._topic.decode("utf-8", errors="replace")
        seen.append((topic, bytes(m.payload), m.mid, m.qos, bool(m.retain), bool(m.dup)))

    client.on_message = on_message
    _handle(client, command, packet)
    return seen


@pytest.mark.parametrize("message", [
    (b"sitewatch/hq/zs-001/telemetry", b'{"metrics": {"temperature_c": 21.5}}', 1, 7, False,
     False),
    (b"sitewatch/hq/fp-01/event", b'{"event": "fire_alarm"}', 1, 65535, True, True),
    (b"sitewatch/hq/d/status", b"online", 0, 0, True, False),
    ("sitewatch/大厅/温感-1/telemetry".encode(), b"", 1, 1, False, True),
    (b"sitewatch/hq/\xff\xfe/telemetry", b"\x00\x01binary", 1, 300, False, False),
])
def test_a_qos_0_or_1_publish_is_handed_over_as_paho_would(message: tuple[Any, ...]) -> None:
    topic, payload, qos, mid, retain, dup = message
    command, packet = _publish(topic, payload, qos, mid, retain, dup)
    fast = _fast(command, bytearray(packet))
    assert fast == _paho(command, bytearray(packet))
    assert fast[0][1:] == (payload, mid, qos, retain, dup) and type(fast[0][1]) is bytes


def test_qos_2_qos_3_an_empty_topic_and_a_cut_packet_go_through_paho() -> None:
    client, fast = _client(), []
    client.on_publish_fast = lambda *a: fast.append(a)
    got: list[str] = []
    client.on_message = lambda c, u, m: got.append(m.topic)
    _handle(client, *_publish(b"a/b", b"x", 2, 5))  # QoS 2: paho keeps it until PUBREL
    assert 5 in client._in_messages
    command, packet = _publish(b"a/b", b"x", 1, 6)
    assert _handle(client, command | 0x06, packet) == mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL  # QoS 3
    command, packet = _publish(b"", b"x", 1, 5)
    with pytest.raises(MalformedPacket):  # paho's refusal (a protocol error for the reader)
        _handle(client, command, packet)
    command, packet = _publish(b"a/b", b"", 1, 5)
    with pytest.raises(MalformedPacket):
        _handle(client, command, packet[:4])
    assert fast == [] and got == []

"""A hostile MQTT corpus against the real Mosquitto with the compose configuration, with
Sitewatch's ingest connected to it over mqtts:// exactly as the stack connects.

What a device account (one stolen password) or the building network can try: wildcards and
control characters in topics, oversized and deeply nested payloads, retained floods, taking
over the service's session, publishing under another site. The broker or Sitewatch must
refuse each, count what reaches Sitewatch, and keep the service running.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from devices.registry import Device, Registry
from devices.sim.broker_link import SimulatorError
from devices.sim.simulator import Simulator
from devices.tls import TlsFiles
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.log import ReadingLog
from ingest.pipeline import IngestPipeline
from tests.devices.deploy_broker import (
    DeployBroker,
    close,
    connect,
    make_certs,
    start_deploy_broker,
)
from tests.ingest.helpers import small_registry, wait_until

pytestmark = pytest.mark.slow  # a real broker and TLS handshakes


@pytest.fixture(scope="module")
def broker() -> Iterator[DeployBroker]:
    """The deploy broker with generated certificates."""
    yield from start_deploy_broker()


@dataclass
class Service:
    """Sitewatch's ingest, logged in as `sitewatch` over TLS like the compose stack."""

    ingest: IngestPipeline
    counters: IngestCounters
    log: ReadingLog

    def rejected(self, reason: str) -> int:
        return int(self.counters.snapshot()["rejected"].get(reason, 0))

    def warned(self, reason: str) -> int:
        return int(self.counters.snapshot()["warnings"].get(reason, 0))


@pytest.fixture
def service(broker: DeployBroker, tmp_path: Path) -> Iterator[Service]:
    """The ingest pipeline connected over mqtts:// with the generated CA."""
    log = ReadingLog(tmp_path / "log")
    counters = IngestCounters()
    ingest = IngestPipeline(
        f"mqtts://sitewatch:pw-service@localhost:{broker.tls}", "sitewatch-ingest", "sitewatch",
        small_registry(), log, counters, DeadLetters(100), 10_000,
        tls=TlsFiles(ca_file=broker.certs / "ca.crt"),
    )
    ingest.start()
    assert ingest.session.wait_connected(10), "Sitewatch did not connect over mqtts://"
    yield Service(ingest, counters, log)
    ingest.stop()
    log.close()


def simulator(broker: DeployBroker) -> mqtt.Client:
    """The `simulator` account (simulate profile): it may write anything under sitewatch/#."""
    client, answer = connect(broker.internal, "simulator", "pw-sim")
    assert answer == "Success"
    return client


def publish(client: mqtt.Client, topic: str, payload: bytes | str, retain: bool = False) -> None:
    info = client.publish(topic, payload, qos=1, retain=retain)
    info.wait_for_publish(5)


def _utf8(b: bytes) -> bytes:
    return len(b).to_bytes(2, "big") + b


def _packet(kind: int, body: bytes) -> bytes:
    length, size = b"", len(body)
    while True:  # MQTT's variable-length remaining length
        byte, size = size % 128, size // 128
        length += bytes([byte | (128 if size else 0)])
        if not size:
            return bytes([kind]) + length + body


def raw_device(broker: DeployBroker, user: str, password: str) -> ssl.SSLSocket:
    """A hand-made MQTT 3.1.1 session over TLS: it sends what paho would refuse to."""
    ctx = ssl.create_default_context(cafile=str(broker.certs / "ca.crt"))
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", broker.tls), timeout=5),
                           server_hostname="localhost")
    connect_body = (_utf8(b"MQTT") + b"\x04\xc2\x00\x3c" + _utf8(user.encode())
                    + _utf8(user.encode()) + _utf8(password.encode()))
    sock.sendall(_packet(0x10, connect_body))
    assert sock.recv(4) == b"\x20\x02\x00\x00", "CONNACK refused"
    return sock


def raw_publish(sock: ssl.SSLSocket, topic: bytes, payload: bytes) -> None:
    """PUBLISH at QoS 0 with any topic bytes; the broker may hang up (that is the point)."""
    with contextlib.suppress(OSError):
        sock.sendall(_packet(0x30, _utf8(topic) + payload))


def test_sitewatch_connects_over_mqtts_with_the_generated_ca_and_receives(
    broker: DeployBroker, service: Service
) -> None:
    sim = simulator(broker)
    publish(sim, "sitewatch/hq/zs-1/telemetry", json.dumps({"metrics": {"temperature_c": 21}}))
    close(sim)
    assert wait_until(lambda: service.counters.snapshot()["accepted"] >= 1, 10)


def test_a_wrong_ca_fails_with_one_line_naming_the_cause(
    broker: DeployBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = make_certs(tmp_path / "other-ca", "localhost")
    log = ReadingLog(tmp_path / "log")
    ingest = IngestPipeline(
        f"mqtts://sitewatch:pw-service@localhost:{broker.tls}", "sw-wrong-ca", "sitewatch",
        small_registry(), log, IngestCounters(), DeadLetters(10), 100,
        tls=TlsFiles(ca_file=other / "ca.crt"),
    )
    with caplog.at_level(logging.ERROR, logger="ingest.mqtt"):
        ingest.start()
        try:
            assert not ingest.session.wait_connected(3)
            assert wait_until(lambda: "not trusted" in caplog.text, 10)
        finally:
            ingest.stop()
            log.close()
    lines = [r.getMessage() for r in caplog.records if "not trusted" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "certificate" in lines[0].split("not trusted")[1]  # the verifier's own reason
    registry = Registry.from_devices([Device(id="d-1", kind="door", site="hq", zone="z")])
    sim = Simulator(registry, f"mqtts://simulator:pw-sim@localhost:{broker.tls}",
                    duration_s=1.0, connect_timeout_s=3, tls=TlsFiles(ca_file=other / "ca.crt"))
    with pytest.raises(SimulatorError, match="not trusted") as e:
        sim.run()
    assert "\n" not in str(e.value)


def test_a_device_cannot_take_over_the_services_session(
    broker: DeployBroker, service: Service
) -> None:
    ca = broker.certs / "ca.crt"
    for client_id in ("sitewatch-ingest", "sitewatch"):
        thief, answer = connect(broker.tls, "sd-01", "pw-sd-01", ca=ca, client_id=client_id,
                                clean=False)
        assert answer == "Success"  # it is connected, but under its own id `sd-01`
        time.sleep(0.5)
        assert service.ingest.session.connected, f"the device took {client_id!r}'s session"
        close(thief)
    sim = simulator(broker)
    publish(sim, "sitewatch/hq/zs-1/telemetry", json.dumps({"metrics": {"temperature_c": 20}}))
    close(sim)
    assert wait_until(lambda: service.counters.snapshot()["accepted"] >= 1, 10)
    assert service.ingest.session.connected


def test_a_device_publishing_under_another_site_or_with_wildcards_reaches_nothing(
    broker: DeployBroker, service: Service
) -> None:
    device, answer = connect(broker.tls, "ac-01", "pw-ac-01", ca=broker.certs / "ca.crt")
    assert answer == "Success"
    for topic in ("sitewatch/hq/ac-01/event", "sitewatch/hq/sd-01/event"):
        publish(device, topic, json.dumps({"event": "alarm"}))
    close(device)
    for topic in (b"sitewatch/annex/+/event", b"sitewatch/#", b"sitewatch/annex/ac-01\x00/event",
                  b"sitewatch/annex/ac-01/\xff\xfe"):  # wildcards, NUL, bad UTF-8
        raw = raw_device(broker, "ac-01", "pw-ac-01")
        raw_publish(raw, topic, b'{"event": "alarm"}')
        raw.close()
    device, _ = connect(broker.tls, "ac-01", "pw-ac-01", ca=broker.certs / "ca.crt")
    publish(device, "sitewatch/annex/ac-01/telemetry", json.dumps({"metrics": {"x": 1}}))
    close(device)
    assert wait_until(lambda: service.counters.snapshot()["received"] >= 1, 10)
    time.sleep(0.3)
    assert service.counters.snapshot()["received"] == 1  # only its own site's message


def publish_once(broker: DeployBroker, topic: str, payload: bytes) -> None:
    """One message on its own connection; the broker may hang up on it (and that is fine)."""
    sim = simulator(broker)
    with contextlib.suppress(RuntimeError, ValueError):  # the broker hung up on it
        sim.publish(topic, payload, qos=1).wait_for_publish(3)
    close(sim)


def test_hostile_topics_and_payloads_are_refused_and_counted_and_ingest_goes_on(
    broker: DeployBroker, service: Service
) -> None:
    ok = json.dumps({"metrics": {"temperature_c": 22}}).encode()
    t = "sitewatch/hq/zs-1/telemetry"
    refused_by_broker = [  # control characters in topics; a packet over 66 KiB
        ("sitewatch/hq/zs-1\x01/telemetry", ok), (t + "\n", ok), (t, b"y" * (80 * 1024)),
    ]
    refused_by_sitewatch = [
        ("sitewatch/hq/zs-1/telemetry/extra", ok, "bad_topic"),
        ("sitewatch/h q/zs-1/telemetry", ok, "bad_topic"),
        (t, b'{"metrics": {"note": "a\\nfake,x=1 y=2"}}', "bad_metric_value"),
        (t, b'{"metrics": {"t": ' + b"9" * 400 + b"}}", "bad_metric_value"),
        (t, b"x" * (65 * 1024), "too_large"),  # over 64 KiB, under the broker's 66 KiB
        (t, b'{"metrics": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", None),  # deeply nested
        (t, b'{"metrics": {"a": ' * 3_000 + b"1" + b"}" * 3_001, None),
    ]
    for topic, payload in refused_by_broker:
        publish_once(broker, topic, payload)
    for topic, payload, _ in refused_by_sitewatch:
        publish_once(broker, topic, payload)
    publish_once(broker, t, ok)
    expected = len(refused_by_sitewatch) + 1
    assert wait_until(lambda: service.counters.snapshot()["received"] >= expected, 10), (
        service.counters.snapshot())
    time.sleep(0.3)
    snap = service.counters.snapshot()
    assert (snap["received"], snap["accepted"]) == (expected, 1), snap
    assert sum(snap["rejected"].values()) == len(refused_by_sitewatch), snap["rejected"]
    for _, _, reason in refused_by_sitewatch:
        if reason is not None:
            assert service.rejected(reason) >= 1, (reason, snap["rejected"])
    assert service.rejected("decode_error") == 0  # the nested ones are refused by reason
    assert service.ingest.session.connected


def test_a_retained_flood_is_counted_as_retained_and_bounded_by_the_device_cap(
    broker: DeployBroker, service: Service
) -> None:
    sim = simulator(broker)
    for i in range(200):
        publish(sim, f"sitewatch/flood/fake-{i:03d}/status", "online", retain=True)
    close(sim)
    assert wait_until(lambda: service.counters.snapshot()["accepted"] >= 200, 20)
    service.ingest.session.reconnect()  # a resubscribe: the broker replays every retained one
    assert service.ingest.session.wait_connected(10)
    assert wait_until(lambda: service.warned("retained") >= 200, 20), service.counters.snapshot()
    sim = simulator(broker)
    for i in range(200):  # clean up: an empty retained message deletes it
        publish(sim, f"sitewatch/flood/fake-{i:03d}/status", b"", retain=True)
    close(sim)

"""Load generator: QoS 1 telemetry from thousands of devices, from several processes at once.

Payloads are built before the clock starts. Each worker process owns a slice of the devices,
publishes its messages either as fast as the broker acks them or paced to a rate, and reports
when it published its first message and when the broker had acked its last one.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt

T0 = 1_790_000_000.0  # Unix seconds: a fixed base so every reading has its own timestamp
INFLIGHT = 1000  # QoS 1 messages a publisher may have unacked (mosquitto allows 1000)


KIND_CYCLE = ("zone_sensor", "heat_detector", "smoke_detector")  # device i has KIND_CYCLE[i % 3]


def device_id(i: int) -> str:
    """The id of the i-th benchmark device."""
    return f"dev-{i:05d}"


def metrics(kind: str, seq: int) -> dict[str, float]:
    """Quiet readings of a kind: values barely move, so no threshold or rate rule fires."""
    temp = 22.0 + (seq % 3) / 10  # degC; 0.1 degC per 10 s is far below the 8 degC/min rule
    if kind == "zone_sensor":
        return {"temperature_c": temp, "humidity_pct": 45.0, "co2_ppm": 650.0}
    if kind == "heat_detector":
        return {"temperature_c": temp, "battery_pct": 90.0}
    return {"smoke_obscuration_pct_per_m": 0.1, "temperature_c": temp, "battery_pct": 90.0}


def registry_yaml(devices: int, site: str, extra: Sequence[tuple[str, str]] = ()) -> str:
    """Registry YAML of `devices` benchmark devices (kinds cycling) plus (id, kind) extras."""
    lines = ["devices:"]
    for i in range(devices):
        lines.append(f"  - {{id: {device_id(i)}, kind: {KIND_CYCLE[i % 3]}, site: {site}, "
                     f"zone: z{i % 50:02d}}}")
    for dev, kind in extra:
        lines.append(f"  - {{id: {dev}, kind: {kind}, site: {site}, zone: z00}}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Fleet:
    """Which benchmark devices publish (by index) at one site."""

    site: str
    indexes: tuple[int, ...]

    def telemetry(self, topic_prefix: str, per_device: int, seq0: int = 0) -> list[
        tuple[str, bytes]
    ]:
        """per_device readings of every device, round robin, each with its own ts and seq."""
        out: list[tuple[str, bytes]] = []
        for seq in range(seq0, seq0 + per_device):
            for i in self.indexes:
                body = {
                    "ts": T0 + seq * 10,  # seconds; 10 s apart per device, like a real sensor
                    "seq": seq,
                    "metrics": metrics(KIND_CYCLE[i % 3], seq),
                }
                out.append((f"{topic_prefix}/{self.site}/{device_id(i)}/telemetry",
                            json.dumps(body, separators=(",", ":")).encode()))
        return out


@dataclass(frozen=True)
class PublishResult:
    """One worker's run: messages, first publish and last broker ack (time.time seconds)."""

    sent: int
    first_at: float
    acked_at: float


def publish_all(port: int, client_id: str, messages: list[tuple[str, bytes]],
                rate: float | None = None) -> PublishResult:
    """Publish at QoS 1 (paced to `rate` messages/s if given); returns once all are acked."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(INFLIGHT)
    client.max_queued_messages_set(0)  # unlimited: the generator's own backlog, not the broker's
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = []
    first = time.time()
    for n, (topic, payload) in enumerate(messages):
        if rate is not None and n % 50 == 0:
            # Pace in steps of 50 messages (a sleep per message costs more than it waits).
            ahead = first + n / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
        infos.append(client.publish(topic, payload, qos=1))
    for info in infos:
        info.wait_for_publish(120)
    acked = time.time()
    if not all(info.is_published() for info in infos):
        raise RuntimeError(f"{client_id}: the broker did not ack every message")
    client.disconnect()
    client.loop_stop()
    return PublishResult(len(messages), first, acked)


def _packet(topic: str, payload: bytes, pid: int) -> bytes:
    """An MQTT 3.1.1 PUBLISH packet at QoS 1."""
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t + pid.to_bytes(2, "big") + payload
    n, length = len(body), bytearray()
    while True:  # remaining length: 7 bits per byte, high bit = more
        n, digit = divmod(n, 128)
        length.append(digit | (0x80 if n else 0))
        if not n:
            break
    return b"\x32" + bytes(length) + body


def _connect_packet(client_id: str) -> bytes:
    cid = client_id.encode()
    # protocol "MQTT" level 4, flags: clean session, keepalive 0 (off: we never idle)
    var = b"\x00\x04MQTT\x04\x02\x00\x00" + len(cid).to_bytes(2, "big") + cid
    return b"\x10" + bytes([len(var)]) + var


def raw_publish_all(port: int, client_id: str, messages: list[tuple[str, bytes]],
                    rate: float | None = None) -> PublishResult:
    """Publish at QoS 1 from pre-encoded packets on a plain socket; returns once all are acked.

    Same wire traffic as a paho publisher, without paho's per-message Python work, so the
    generator does not take the CPU the consumer under test needs. Acks are counted as
    PUBACKs (4 bytes each: the only packet the broker sends back on this connection).
    """
    chunk = 500 if rate is None else max(1, round(rate / 100))  # messages per send
    packets = [_packet(t, p, n % 65535 + 1) for n, (t, p) in enumerate(messages)]
    chunks = [b"".join(packets[i:i + chunk]) for i in range(0, len(packets), chunk)]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(_connect_packet(client_id))
    if sock.recv(4)[:1] != b"\x20":
        raise RuntimeError(f"{client_id}: no CONNACK")
    acked_at = [0.0]

    def count_acks() -> None:
        want, got = 4 * len(messages), 0
        while got < want:
            data = sock.recv(65536)
            if not data:
                raise RuntimeError(f"{client_id}: broker closed after {got // 4} acks")
            got += len(data)
        acked_at[0] = time.time()

    reader = threading.Thread(target=count_acks, daemon=True)
    reader.start()
    first = time.time()
    for n, data in enumerate(chunks):
        if rate is not None:
            ahead = first + n * chunk / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
        sock.sendall(data)
    reader.join(300)
    if not acked_at[0]:
        raise RuntimeError(f"{client_id}: not every message was acked")
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    return PublishResult(len(messages), first, acked_at[0])


def _worker(port: int, client_id: str, fleet: Fleet, topic_prefix: str, per_device: int,
            seq0: int, rate: float | None, go: mp.synchronize.Event,
            out: mp.Queue[PublishResult], paho: bool) -> None:
    messages = fleet.telemetry(topic_prefix, per_device, seq0)
    out.put(PublishResult(0, 0.0, 0.0))  # ready: payloads built
    go.wait()
    publish = publish_all if paho else raw_publish_all
    out.put(publish(port, client_id, messages, rate))


@dataclass(frozen=True)
class LoadRun:
    """All workers together: total messages, first publish, last ack, generator rate."""

    sent: int
    first_at: float
    acked_at: float

    @property
    def rate(self) -> float:
        """Messages per second the broker acked to the generators."""
        return self.sent / max(self.acked_at - self.first_at, 1e-9)


class Load:
    """Worker processes with payloads built, released together by `go()`."""

    def __init__(self, port: int, fleets: list[Fleet], topic_prefix: str, per_device: int,
                 seq0: int = 0, rate: float | None = None, name: str = "load",
                 paho: bool = False) -> None:
        ctx = mp.get_context("fork")
        self._go = ctx.Event()
        self._out: mp.Queue[PublishResult] = ctx.Queue()
        share = None if rate is None else rate / len(fleets)
        self._procs = [
            ctx.Process(target=_worker, daemon=True, args=(
                port, f"{name}-{i}-{time.time_ns()}", f, topic_prefix, per_device, seq0, share,
                self._go, self._out, paho))
            for i, f in enumerate(fleets)
        ]
        for p in self._procs:
            p.start()
        for _ in self._procs:
            self._out.get(timeout=120)

    def go(self) -> None:
        """Start publishing in every worker at once."""
        self._go.set()

    def wait(self) -> LoadRun:
        """Block until every worker is done; the combined result."""
        results = [self._out.get(timeout=600) for _ in self._procs]
        for p in self._procs:
            p.join(10)
        return LoadRun(sum(r.sent for r in results), min(r.first_at for r in results),
                       max(r.acked_at for r in results))


def split(site: str, devices: int, parts: int) -> list[Fleet]:
    """Benchmark devices 0..devices-1 cut into `parts` fleets of nearly equal size."""
    return [Fleet(site, tuple(range(k, devices, parts))) for k in range(parts)]

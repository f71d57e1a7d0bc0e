"""Ingest end to end through a real Mosquitto: exact counts, rejects counted, restarts lossless."""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.consumer import LogConsumer
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.disk import LogDiskGuard
from ingest.log import ReadingLog
from ingest.mqtt import Delivery, MqttSession
from ingest.pipeline import IngestPipeline
from tests.ingest.helpers import Publisher, small_registry, wait_until
from tests.ingest.memstore import MemoryStore

pytestmark = pytest.mark.slow  # every test here is a pipeline through the real broker

T0 = time.time() - 3600  # payload timestamps start an hour ago, one per second per device


@dataclass
class Chain:
    """Ingest -> log -> store consumer, as the service wires them."""

    ingest: IngestPipeline
    consumer: LogConsumer
    log: ReadingLog
    counters: IngestCounters
    dead: DeadLetters

    def stop(self) -> None:
        """Stop like the service does: ingest first, then the consumer, then close the log."""
        self.ingest.stop()
        self.consumer.stop()
        self.log.close()


def _chain(port: int, prefix: str, path: Path, store, queue_max: int = 10_000) -> Chain:
    log = ReadingLog(path)
    counters, dead = IngestCounters(), DeadLetters(1000)
    consumer = LogConsumer(log, "store", store.write, 500, counters, dead)
    ingest = IngestPipeline(
        f"mqtt://127.0.0.1:{port}",
        f"{prefix}-ingest",
        prefix,
        small_registry(),
        log,
        counters,
        dead,
        queue_max,
    )
    consumer.start()
    ingest.start()
    assert ingest.session.wait_connected(10)
    return Chain(ingest, consumer, log, counters, dead)


def _good(prefix: str, device: int, seq: int) -> tuple[str, str]:
    body = {
        "ts": round(T0 + seq, 3),
        "seq": seq,
        "metrics": {"temperature_c": device + seq / 1000, "fan_running": seq % 2 == 0},
    }
    return f"{prefix}/hq/dev-{device:03d}/telemetry", json.dumps(body)


def _assert_store_holds_exactly(store: MemoryStore, devices: int, per_device: int) -> None:
    assert len(store.points) == devices * per_device
    for d in range(devices):
        for s in range(per_device):
            r = store.points[("hq", f"dev-{d:03d}", "telemetry", round(T0 + s, 3))]
            assert r.metrics == {"temperature_c": d + s / 1000, "fan_running": s % 2 == 0}
            assert r.seq == s and r.kind is None


def _malformed(prefix: str) -> list[tuple[str, bytes | str, str]]:
    return [
        (f"{prefix}/hq/dev-000/telemetry", '{"metrics": {"t": NaN}}', "bad_json"),
        (f"{prefix}/hq/dev-000/telemetry", "{not json", "bad_json"),
        (f"{prefix}/hq/dev-001/telemetry", b"\xff\xfe\xfd", "not_utf8"),
        (
            f"{prefix}/hq/dev-002/telemetry",
            b'{"metrics": {"a": "' + b"x" * 70_000 + b'"}}',
            "too_large",
        ),
        (f"{prefix}/hq/../x/telemetry", '{"metrics": {"t": 1}}', "bad_topic"),
        (f"{prefix}/hq/dev-003/telemetry/extra", '{"metrics": {"t": 1}}', "bad_topic"),
        (
            f"{prefix}/hq/dev-004/telemetry",
            '{"ts": "2026-01-01T00:00:00", "metrics": {"t": 1}}',
            "bad_ts",
        ),
        (f"{prefix}/hq/dev-005/telemetry", '{"seq": true, "metrics": {"t": 1}}', "bad_seq"),
        (f"{prefix}/hq/dev-006/telemetry", '{"metrics": {}, "extra": 1}', "bad_metrics"),
        (f"{prefix}/hq/zs-1/telemetry", '{"metrics": {"humidity_pct": "wet"}}', "bad_metric_value"),
        (f"{prefix}/hq/dev-007/status", "maybe", "bad_status"),
        (f"{prefix}/hq/door-1/event", '{"event": 5}', "bad_event"),
    ]


def test_thousands_of_qos1_readings_arrive_exactly_while_malformed_ones_are_counted(
    mosquitto, topic_prefix, tmp_path
):
    store = MemoryStore()
    chain = _chain(mosquitto.port, topic_prefix, tmp_path / "log.sqlite3", store)
    devices, per_device = 50, 60
    bad = _malformed(topic_prefix) * 3
    try:
        pub = Publisher(mosquitto.port, f"{topic_prefix}-pub")
        for s in range(per_device):
            for d in range(devices):
                pub.publish(*_good(topic_prefix, d, s))
            if s % 5 == 0:  # bad traffic interleaved with the good
                for topic, payload, _ in bad[s // 5 * 3 : s // 5 * 3 + 3]:
                    pub.publish(topic, payload)
        pub.close()
        assert store.wait_for(devices * per_device, timeout=60) == devices * per_device
        assert wait_until(lambda: chain.counters.snapshot()["rejected_total"] == len(bad), 20)
    finally:
        chain.stop()
    _assert_store_holds_exactly(store, devices, per_device)
    snap = chain.counters.snapshot()
    expected: dict[str, int] = {}
    for _, _, reason in bad:
        expected[reason] = expected.get(reason, 0) + 1
    assert snap["rejected"] == expected
    assert snap["accepted"] == devices * per_device
    assert snap["received"] == devices * per_device + len(bad)
    assert snap["seq_lost_total"] == 0
    assert len(chain.dead.items()) == len(bad)
    assert {it["reason"] for it in chain.dead.items()} == set(expected)
    # Everything, rejected messages included, was acked: the session holds nothing to redeliver.
    got: queue.Queue[Delivery] = queue.Queue()
    session = MqttSession(
        f"mqtt://127.0.0.1:{mosquitto.port}", f"{topic_prefix}-ingest", f"{topic_prefix}/#", got.put
    )
    session.start()
    try:
        assert session.wait_connected(10)
        pub = Publisher(mosquitto.port, f"{topic_prefix}-pub")
        pub.publish(f"{topic_prefix}/hq/dev-000/status", "online")
        pub.close()
        assert got.get(timeout=10).payload == b"online"
    finally:
        session.stop()


def test_seq_gaps_on_the_wire_are_counted_per_device(mosquitto, topic_prefix, tmp_path):
    store = MemoryStore()
    chain = _chain(mosquitto.port, topic_prefix, tmp_path / "log.sqlite3", store)
    try:
        pub = Publisher(mosquitto.port, f"{topic_prefix}-pub")
        for s in (0, 1, 2, 6, 7, 10):  # 3, 4, 5 and 8, 9 never sent
            pub.publish(*_good(topic_prefix, 1, s))
        pub.close()
        assert store.wait_for(6, timeout=20) == 6
        assert wait_until(lambda: chain.log.depth("store") == 0, timeout=20)
        health = chain.ingest.health()
        assert health["connected"] is True
        assert (health["queue_depth"], health["log_depth"]) == (0, {"store": 0})
    finally:
        chain.stop()
    assert chain.counters.snapshot()["seq_lost"] == {"hq/dev-001": 5}


def test_a_full_queue_holds_the_broker_back_and_a_backlog_past_65535_is_stored_exactly_once(
    mosquitto, topic_prefix, tmp_path
):
    # More than 65,535 messages sent to one session: refusing on a full queue left the refused
    # ones in flight while later ones were acked, the broker's packet ids wrapped, and an ack
    # for a new message took an old refused one with the same id: lost (hundreds per burst)
    store = MemoryStore()
    path = tmp_path / "log.sqlite3"
    _chain(mosquitto.port, topic_prefix, path, store).stop()  # creates the persistent session
    devices, per_device = 100, 700  # 70,000
    for part in range(0, per_device, 100):  # all 70,000 wait at the broker for the burst
        pub = Publisher(mosquitto.port, f"{topic_prefix}-pub")
        for s in range(part, part + 100):
            for d in range(devices):
                pub.publish(*_good(topic_prefix, d, s))
        pub.close(timeout=120)
    chain = _chain(mosquitto.port, topic_prefix, path, store, queue_max=10)
    try:
        assert store.wait_for(devices * per_device, timeout=120) == devices * per_device
    finally:
        chain.stop()
    _assert_store_holds_exactly(store, devices, per_device)
    snapshot = chain.counters.snapshot()
    assert (snapshot["queue_refused"], snapshot["accepted"]) == (0, devices * per_device)


def test_a_restarted_ingest_with_the_same_client_id_and_log_loses_nothing(
    mosquitto, topic_prefix, tmp_path
):
    store = MemoryStore()
    path = tmp_path / "log.sqlite3"
    devices, per_device = 40, 75
    chain = _chain(mosquitto.port, topic_prefix, path, store)

    def publish_all() -> None:
        pub = Publisher(mosquitto.port, f"{topic_prefix}-pub")
        for s in range(per_device):
            for d in range(devices):
                pub.publish(*_good(topic_prefix, d, s))
            time.sleep(0.005)  # a stream, not one burst, so the stop lands mid-stream
        pub.close()

    publisher = threading.Thread(target=publish_all)
    publisher.start()
    try:
        assert wait_until(lambda: len(store.points) >= 600, timeout=30)
        chain.stop()  # mid-stream: whatever sits in the queue is dropped unacked
        stopped_at = len(store.points)
        chain = _chain(mosquitto.port, topic_prefix, path, store)
        publisher.join(60)
        assert store.wait_for(devices * per_device, timeout=60) == devices * per_device
    finally:
        publisher.join(60)
        chain.stop()
    assert stopped_at < devices * per_device
    _assert_store_holds_exactly(store, devices, per_device)


def test_readings_reach_a_real_influxdb_v1_with_their_values(
    mosquitto, influxdb, influx_db, topic_prefix, tmp_path
):
    from ingest.stores.influx_v1 import InfluxV1Store

    store = InfluxV1Store(f"http://127.0.0.1:{influxdb.port}", influx_db)
    chain = _chain(mosquitto.port, topic_prefix, tmp_path / "log.sqlite3", store)
    devices, per_device = 10, 50
    try:
        pub = Publisher(mosquitto.port, f"{topic_prefix}-pub")
        for s in range(per_device):
            for d in range(devices):
                pub.publish(*_good(topic_prefix, d, s))
        pub.close()
        assert wait_until(lambda: chain.counters.snapshot()["stored"] >= devices * per_device, 60)
    finally:
        chain.stop()
        store.close()
    store = InfluxV1Store(f"http://127.0.0.1:{influxdb.port}", influx_db)
    try:
        for d in range(devices):
            samples = store.query(f"dev-{d:03d}", "temperature_c", T0 - 1, T0 + per_device)
            assert [(round(x.ts, 3), x.value) for x in samples] == [
                (round(T0 + s, 3), d + s / 1000) for s in range(per_device)
            ]
    finally:
        store.close()


def test_past_the_hard_limit_an_event_the_life_safety_session_cannot_take_yet_is_still_taken(
    mosquitto, topic_prefix, tmp_path
):
    # First start: the life-safety session has not subscribed yet, so the telemetry session
    # takes events itself; with the log past its hard limit it refuses telemetry, never those.
    log, guard, counters, ingest = _past_the_hard_limit(mosquitto.port, topic_prefix, tmp_path,
                                                        lane_ready=False)
    try:
        pub = Publisher(mosquitto.port, f"{topic_prefix}-pub")
        pub.publish(*_good(topic_prefix, 1, 1))
        pub.publish(f"{topic_prefix}/hq/door-1/event",
                    json.dumps({"ts": T0, "event": "door_forced_open"}))
        pub.close()
        assert wait_until(lambda: log.depth("store") == 1, 10)  # the event, in the log
        assert wait_until(lambda: guard.refused >= 1, 10)  # the reading, left at the broker
        assert [r.event for _, r in log.read("store", 10, timeout=0)] == ["door_forced_open"]
    finally:
        ingest.stop()
        log.close()


def test_past_the_hard_limit_telemetry_is_held_at_the_broker_and_taken_once_when_room_is_back(
    mosquitto, topic_prefix, tmp_path
):
    # Held, not refused and taken again after a reconnect: refused messages left in flight
    # while others were acked is how a burst lost readings (see the queue test above).
    log, guard, counters, ingest = _past_the_hard_limit(mosquitto.port, topic_prefix, tmp_path,
                                                        lane_ready=True)
    try:
        pub = Publisher(mosquitto.port, f"{topic_prefix}-pub")
        for s in range(300):
            pub.publish(*_good(topic_prefix, 1, s))
        pub.close()
        assert wait_until(lambda: guard.refused >= 1, 10)
        time.sleep(1)  # the writer measures the log at most once a second
        assert log.depth("store") == 0  # nothing taken past the limit
        guard.hard_bytes = 1 << 40  # room again
        assert wait_until(lambda: log.depth("store") == 300, 20)
        snapshot = counters.snapshot()
        # each message received once: none refused and redelivered
        assert (snapshot["received"], snapshot["accepted"], guard.refused) == (300, 300, 1)
        assert [r.seq for _, r in log.read("store", 500, timeout=0)] == list(range(300))
    finally:
        ingest.stop()
        log.close()


def _past_the_hard_limit(port: int, prefix: str, path: Path, lane_ready: bool) -> tuple[
    ReadingLog, LogDiskGuard, IngestCounters, IngestPipeline
]:
    """A telemetry session (events are another session's once `lane_ready`), connected, whose
    log is past its disk hard limit (an empty file is over one byte)."""
    log = ReadingLog(path / "log.sqlite3")
    log.register("store")
    guard = LogDiskGuard([log], soft_bytes=0, hard_bytes=1)
    counters = IngestCounters()
    ingest = IngestPipeline(
        f"mqtt://127.0.0.1:{port}", f"{prefix}-ingest", prefix, small_registry(), log,
        counters, DeadLetters(100), 100, elsewhere=[f"{prefix}/+/+/event"],
        elsewhere_ready=lambda: lane_ready, disk=guard,
    )
    ingest.start()
    assert ingest.session.wait_connected(10)
    assert wait_until(guard.refusing, 5)
    return log, guard, counters, ingest

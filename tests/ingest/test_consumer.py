"""LogConsumer: retries on outages without loss or reordering, bisects refused batches."""

from __future__ import annotations

from devices.reading import Reading
from ingest.consumer import LogConsumer
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.log import ReadingLog
from tests.ingest.helpers import wait_until
from tests.ingest.memstore import MemoryStore


def _readings(n: int, start: int = 0) -> list[Reading]:
    return [
        Reading(
            site="hq",
            device_id=f"d{i % 5}",
            channel="telemetry",
            ts=1.8e9 + i,
            received_at=1.8e9,
            seq=i,
            metrics={"v": float(i)},
        )
        for i in range(start, start + n)
    ]


def _consumer(tmp_path, store, name="store", batch_max=50):
    log = ReadingLog(tmp_path / "log.sqlite3")
    counters, dead = IngestCounters(), DeadLetters(100)
    c = LogConsumer(log, name, store.write, batch_max, counters, dead, backoff=(0.01, 0.05))
    return log, c, counters, dead


def test_store_outage_is_retried_until_it_ends_and_loses_nothing(tmp_path):
    store = MemoryStore()
    store.fail_next = 7
    log, c, counters, _ = _consumer(tmp_path, store)
    log.append(_readings(500))
    c.start()
    try:
        assert store.wait_for(500, timeout=20) == 500
    finally:
        c.stop()
    assert [r.seq for r in store.points.values()] == list(range(500))  # in order
    s = counters.snapshot()
    assert s["write_retries"] == 7 and s["stored"] == 500
    assert log.depth("store") == 0


def test_refused_readings_are_found_by_bisection_dead_lettered_and_the_rest_stored(tmp_path):
    store = MemoryStore()
    bad = {17, 18, 90}
    store.refuse = lambda r: r.seq in bad
    log, c, counters, dead = _consumer(tmp_path, store, batch_max=64)
    log.append(_readings(100))
    c.start()
    try:
        assert store.wait_for(97, timeout=20) == 97
        assert wait_until(lambda: log.depth("store") == 0, timeout=20)
    finally:
        c.stop()
    assert log.depth("store") == 0
    assert sorted(r.seq for r in store.points.values()) == sorted(set(range(100)) - bad)
    assert counters.snapshot()["store_rejected"] == 3
    items = dead.items()
    assert {it["reason"] for it in items} == {"store_rejected"}
    assert sorted(it["topic"] for it in items) == [
        "hq/d0/telemetry",
        "hq/d2/telemetry",
        "hq/d3/telemetry",
    ]


def test_stopping_during_an_outage_leaves_the_batch_in_the_log_for_the_next_run(tmp_path):
    store = MemoryStore()
    store.fail_next = 10**6
    log, c, counters, _ = _consumer(tmp_path, store)
    log.append(_readings(30))
    c.start()
    assert wait_until(lambda: counters.snapshot()["write_retries"] >= 2, timeout=20)
    c.stop()
    assert not c.running
    assert log.depth("store") == 30
    store.fail_next = 0
    again = LogConsumer(
        ReadingLog(tmp_path / "log.sqlite3"), "store", store.write, 50, counters, DeadLetters(10)
    )
    again.start()
    try:
        assert store.wait_for(30, timeout=20) == 30
    finally:
        again.stop()


def test_an_unexpected_handler_error_is_retried_then_isolated_to_the_bad_reading(tmp_path):
    seen: list[int] = []

    def handle(batch: list[Reading]) -> None:
        if any(r.seq == 3 for r in batch):
            raise ValueError("bug in handler")
        seen.extend(r.seq for r in batch if r.seq is not None)

    log = ReadingLog(tmp_path / "log.sqlite3")
    counters, dead = IngestCounters(), DeadLetters(10)
    c = LogConsumer(log, "rules", handle, 10, counters, dead, backoff=(0.001, 0.002))
    log.append(_readings(8))
    c.start()
    try:
        assert wait_until(lambda: log.depth("rules") == 0, timeout=20)
    finally:
        c.stop()
    assert seen == [0, 1, 2, 4, 5, 6, 7]
    assert [it["reason"] for it in dead.items()] == ["rules_rejected"]
    assert counters.snapshot()["dropped"] == {"rules": 1}


def test_two_consumers_each_get_every_reading(tmp_path):
    log = ReadingLog(tmp_path / "log.sqlite3")
    counters, dead = IngestCounters(), DeadLetters(10)
    a, b = MemoryStore(), MemoryStore()
    ca = LogConsumer(log, "store", a.write, 40, counters, dead)
    cb = LogConsumer(log, "rules", b.write, 7, counters, dead)
    ca.start()
    cb.start()
    try:
        for k in range(5):
            log.append(_readings(60, start=k * 60))
        assert a.wait_for(300, 20) == 300 and b.wait_for(300, 20) == 300
    finally:
        ca.stop()
        cb.stop()
    assert counters.snapshot()["handled"] == {"store": 300, "rules": 300}

"""A dead owner's unacked window, redelivered to the site's next owner, is taken once
(api/site_handover.py, SPEC §11): real PostgreSQL and durable logs, deliveries by hand, then
through a real Mosquitto."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from api.site_handover import WAIT_S, Handover, Replay
from devices.reading import Reading
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.log import ReadingLog, encode_reading
from ingest.mqtt import Delivery
from ingest.pipeline import IngestPipeline
from rules.db.database import open_database
from tests.databases import MigratedDatabases
from tests.ingest.helpers import Publisher, small_registry, wait_until
from tests.servers import Server

T0 = 1_795_000_000.0  # Unix seconds


def reading(n: int, rx: float) -> Reading:
    """The n-th reading of one sensor at site s1, without `ts` (its time is the receive time)."""
    return Reading("s1", "zs-1", "telemetry", rx, rx, n, "zone_sensor", "z1",
                   {"temperature_c": float(n)})


def pending(log: ReadingLog) -> list[float]:
    """Values in the log that its consumer has not taken yet."""
    return [float(r.metrics["temperature_c"]) for _, r in log.read("store", 100, 0)]


def redeliver(hook: object, ns: list[int], dup: bool, rx: float) -> list[float]:
    """Hand readings to a telemetry session's hold hook as the broker sends them; the
    values it lets through to the log."""
    items = [(encode_reading(reading(n, rx)), reading(n, rx)) for n in ns]
    deliveries = [Delivery("sw/s1/zs-1/telemetry", b"", 100 + n, 1, 1, rx, False, dup)
                  for n in ns]
    kept = hook(deliveries, items)  # type: ignore[operator]
    return [float(r.metrics["temperature_c"]) for _, r in kept]


@pytest.mark.slow
def test_the_dead_owners_logged_window_is_dropped_and_the_rest_taken_once(
    pg_databases: MigratedDatabases, tmp_path: Path,
) -> None:
    engine = open_database(pg_databases.new_url())
    dead_dir, survivor_dir = tmp_path / "a", tmp_path / "b"
    dead_dir.mkdir(), survivor_dir.mkdir()
    dead_log = ReadingLog(dead_dir / "buffer.sqlite3")
    dead_log.register("store")
    dead = Handover(engine, dead_dir, dead_log, clock=lambda: T0)
    assert dead.take("s1") is None  # nobody served it before
    dead_log.append([reading(n, T0 + n) for n in range(1, 6)])  # 4 and 5: not yet acked
    dead_log.commit("store", 5)  # stored, then kill -9
    dead_log.close()

    survivor_log = ReadingLog(survivor_dir / "buffer.sqlite3")
    survivor_log.register("store")
    survivor = Handover(engine, survivor_dir, survivor_log, clock=lambda: T0 + 10)
    hook = survivor.take("s1")
    assert hook is not None and hook.prev.instance == dead.me.instance
    assert redeliver(hook, [4, 5, 6], dup=True, rx=T0 + 10) == []  # 6: never logged by it
    assert redeliver(hook, [7], dup=False, rx=T0 + 10) == [7.0]  # queued: taken at once
    assert redeliver(hook, [8], dup=True, rx=T0 + 11) == [8.0]  # the replay is over

    back_log = ReadingLog(dead_dir / "buffer.sqlite3")  # restarted with its data folder
    back = Handover(engine, dead_dir, back_log, clock=lambda: T0 + 12)
    assert back.me.instance == dead.me.instance and back.me.boot != dead.me.boot
    assert back.settle_mine(T0 + 13) == 3
    assert pending(back_log) == [6.0]  # 4 and 5 were stored before it died
    assert back.settled == {"dropped": 2, "taken": 1}
    assert back.settle_mine(T0 + 20) == 0 and survivor.take_overdue(T0 + 1000, {"s1"}) == 0
    survivor.release("s1")
    assert back.take("s1") is None  # handed over cleanly: nothing to park


@pytest.mark.slow
def test_an_owner_that_does_not_come_back_leaves_its_window_to_the_sites_owner(
    pg_databases: MigratedDatabases, tmp_path: Path,
) -> None:
    engine = open_database(pg_databases.new_url())
    logs = [ReadingLog(tmp_path / f"{k}.sqlite3") for k in "ab"]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    dead = Handover(engine, tmp_path / "a", logs[0], clock=lambda: T0)
    survivor = Handover(engine, tmp_path / "b", logs[1], clock=lambda: T0)
    logs[1].register("store")
    dead.take("s1")
    hook = survivor.take("s1")
    assert hook is not None and redeliver(hook, [1, 2], dup=True, rx=T0) == []
    assert survivor.take_overdue(T0 + WAIT_S - 1, {"s1"}) == 0
    assert survivor.take_overdue(T0 + WAIT_S + 1, {"s2"}) == 0  # not its site
    assert survivor.take_overdue(T0 + WAIT_S + 1, {"s1"}) == 2
    assert pending(logs[1]) == [1.0, 2.0]


@pytest.mark.slow
def test_through_the_broker_an_unacked_batch_is_parked_by_the_next_owner_and_settled(
    pg_databases: MigratedDatabases, mosquitto: Server, topic_prefix: str, tmp_path: Path,
) -> None:
    engine = open_database(pg_databases.new_url())
    url, client_id = f"mqtt://127.0.0.1:{mosquitto.port}", f"{topic_prefix}-serve-hq"

    def pipeline(log: ReadingLog, hold: Replay | None = None) -> IngestPipeline:
        p = IngestPipeline(url, client_id, topic_prefix, small_registry(), log,
                           IngestCounters(), DeadLetters(100), 1000,
                           subscription=f"{topic_prefix}/hq/#", hold=hold)
        p.start()
        assert p.session.wait_connected(10)
        return p

    def send(ns: range) -> None:
        feed = Publisher(mosquitto.port, f"{topic_prefix}-dev")
        for n in ns:
            feed.publish(f"{topic_prefix}/hq/zs-1/telemetry",
                         json.dumps({"seq": n, "metrics": {"temperature_c": float(n)}}))
        feed.close()

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    dead_log = ReadingLog(tmp_path / "a" / "buffer.sqlite3")
    dead_log.register("store")
    dead = Handover(engine, tmp_path / "a", dead_log)
    dead.take("hq")
    first = pipeline(dead_log)
    first.session.ack_all = lambda ds: 0  # type: ignore[method-assign] # killed before its acks
    send(range(5))
    assert wait_until(lambda: dead_log.depth("store") == 5, 10)
    first.stop()  # the session keeps the five unacked: the broker resends them, DUP set

    log = ReadingLog(tmp_path / "b" / "buffer.sqlite3")
    log.register("store")
    hook = Handover(engine, tmp_path / "b", log).take("hq")
    assert hook is not None
    second = pipeline(log, hook)
    send(range(5, 7))
    assert wait_until(lambda: log.depth("store") == 2, 10)
    second.stop()
    assert (hook.parked, pending(log)) == (5, [5.0, 6.0])

    back_log = ReadingLog(tmp_path / "a" / "buffer.sqlite3")  # restarted with its data folder
    back = Handover(engine, tmp_path / "a", back_log)
    assert back.settle_mine(time.time() + 10) == 5
    assert back.settled == {"dropped": 5, "taken": 0}
    assert pending(back_log) == [0.0, 1.0, 2.0, 3.0, 4.0]  # its own, taken once

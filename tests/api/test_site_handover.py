"""A dead owner's unacked window, redelivered to the site's next owner, is taken once
(api/site_handover.py, SPEC §11): real PostgreSQL and durable logs, deliveries by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.site_handover import WAIT_S, Handover
from devices.reading import Reading
from ingest.log import ReadingLog, encode_reading
from ingest.mqtt import Delivery
from rules.db.database import open_database
from tests.databases import MigratedDatabases

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

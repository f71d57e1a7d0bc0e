"""The log's depth by id arithmetic (no count, no lock) and its disk high-water mark."""

from __future__ import annotations

import threading
from pathlib import Path

from devices.reading import Reading
from ingest.disk import LogDiskGuard
from ingest.log import ReadingLog


def _readings(n: int, start: int = 0) -> list[Reading]:
    return [Reading("hq", "zs-1", "telemetry", 1_790_000_000 + i, 1_790_000_000 + i, seq=i,
                    kind="zone_sensor", zone="z1", metrics={"temperature_c": 21.5})
            for i in range(start, start + n)]


def test_depth_is_each_consumers_lag_and_survives_a_reopen_after_the_log_was_emptied(
    tmp_path: Path,
) -> None:
    log = ReadingLog(tmp_path / "log.sqlite3")
    log.register("store")
    log.register("rules")
    log.append(_readings(100))
    log.commit("rules", log.read("rules", 60, timeout=0)[-1][0])
    assert (log.depth("store"), log.depth("rules")) == (100, 40)
    log.commit("store", 100)
    log.commit("rules", 100)  # every row is gone now; ids go on from 100
    log.close()
    again = ReadingLog(tmp_path / "log.sqlite3")
    assert (again.depth("store"), again.depth("rules")) == (0, 0)
    again.append(_readings(7, start=100))
    assert (again.depth("store"), again.depth("rules")) == (7, 7)


def test_depth_answers_while_the_writer_holds_the_log(tmp_path: Path) -> None:
    log = ReadingLog(tmp_path / "log.sqlite3")
    log.register("store")
    log.append(_readings(5))
    answers: list[int] = []
    with log._lock:  # the writer in the middle of an append (during an outage: a long one)
        probe = threading.Thread(target=lambda: answers.append(log.depth("store")))
        probe.start()
        probe.join(5)
    assert answers == [5], "depth() waited for the writer's lock"


def test_past_the_soft_limit_health_warns_and_past_the_hard_limit_it_refuses(
    tmp_path: Path,
) -> None:
    log = ReadingLog(tmp_path / "log.sqlite3")
    log.register("store")
    empty = log.size_bytes(0)
    guard = LogDiskGuard([log], soft_bytes=empty + 50_000, hard_bytes=empty + 400_000,
                         max_age_s=0)
    assert guard.state() == "ok" and guard.health()["ok"]
    for start in range(0, 2_000, 500):
        log.append(_readings(500, start))
    assert guard.state() == "warn" and guard.health()["ok"], guard.health()
    for start in range(2_000, 12_000, 1_000):
        log.append(_readings(1_000, start))
    assert guard.refusing() and guard.health()["state"] == "refusing"
    assert guard.health()["ok"] is False
    log.commit("store", 12_000)  # drained: the rows' pages are free again
    assert guard.state() in ("ok", "warn") and not guard.refusing()

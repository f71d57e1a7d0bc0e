"""The durable reading log: persistence, cursors per consumer, deletion, wake-ups."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from devices.reading import Reading
from ingest.log import ReadingLog


def _reading(i: int, **kw) -> Reading:
    return Reading(
        site="hq",
        device_id=f"d{i % 7}",
        channel="telemetry",
        ts=1.8e9 + i,
        received_at=1.8e9 + i + 0.5,
        seq=i,
        metrics={"temperature_c": i / 10},
        **kw,
    )


def test_readings_survive_reopening_the_file_with_every_field_intact(tmp_path):
    path = tmp_path / "log.sqlite3"
    log = ReadingLog(path)
    log.register("store")
    event = Reading(
        site="hq",
        device_id="door-1",
        channel="event",
        ts=1.8e9,
        received_at=1.8e9,
        seq=None,
        kind="door",
        zone="reception",
        event="door_forced_open",
        data={"reader": "R2", "n": [1, 2]},
    )
    status = Reading(
        site="hq", device_id="sd-1", channel="status", ts=1.8e9, received_at=1.8e9, status="offline"
    )
    written = [
        _reading(1, kind="zone_sensor", zone="office-1"),
        event,
        status,
        Reading(
            site="hq",
            device_id="u",
            channel="telemetry",
            ts=1.8e9,
            received_at=1.8e9,
            metrics={"ok": True, "label": "é x"},
        ),
    ]
    log.append(written)
    log.close()
    again = ReadingLog(path)
    rows = again.read("store", 100, timeout=0)
    assert [r for _, r in rows] == written
    assert [i for i, _ in rows] == sorted(i for i, _ in rows)


def test_read_returns_the_same_rows_until_commit_moves_the_cursor(tmp_path):
    log = ReadingLog(tmp_path / "log.sqlite3")
    log.register("store")
    log.append([_reading(i) for i in range(10)])
    first = log.read("store", 4, timeout=0)
    assert log.read("store", 4, timeout=0) == first
    log.commit("store", first[-1][0])
    nxt = log.read("store", 100, timeout=0)
    assert [r.seq for _, r in nxt] == list(range(4, 10))
    assert log.depth("store") == 6


def test_rows_are_deleted_only_below_every_consumers_cursor(tmp_path):
    path = tmp_path / "log.sqlite3"
    log = ReadingLog(path)
    log.register("store")
    log.register("rules")
    log.append([_reading(i) for i in range(10)])
    ids = [i for i, _ in log.read("store", 100, timeout=0)]
    log.commit("store", ids[7])
    assert _rows_in_file(path) == 10  # rules still needs all of them
    log.commit("rules", ids[3])
    assert _rows_in_file(path) == 6  # both passed the first four
    assert [r.seq for _, r in log.read("rules", 100, timeout=0)] == list(range(4, 10))
    assert [r.seq for _, r in log.read("store", 100, timeout=0)] == [8, 9]
    log.commit("rules", ids[9])
    assert _rows_in_file(path) == 2
    assert (log.depth("store"), log.depth("rules")) == (2, 0)


def test_cursors_survive_a_reopen(tmp_path):
    path = tmp_path / "log.sqlite3"
    log = ReadingLog(path)
    log.register("store")
    log.append([_reading(i) for i in range(5)])
    log.commit("store", log.read("store", 2, timeout=0)[-1][0])
    log.close()
    again = ReadingLog(path)
    again.register("store")  # registering again keeps the cursor
    assert [r.seq for _, r in again.read("store", 100, timeout=0)] == [2, 3, 4]


def test_ids_keep_growing_after_the_log_was_emptied(tmp_path):
    log = ReadingLog(tmp_path / "log.sqlite3")
    log.register("store")
    last = log.append([_reading(1), _reading(2)])
    log.commit("store", last)
    assert log.depth("store") == 0
    assert log.append([_reading(3)]) > last  # a cursor never points at a reused id
    assert [r.seq for _, r in log.read("store", 10, timeout=0)] == [3]


def test_a_waiting_read_is_woken_by_an_append_from_another_thread(tmp_path):
    log = ReadingLog(tmp_path / "log.sqlite3")
    log.register("rules")
    got: list = []
    reader = threading.Thread(target=lambda: got.extend(log.read("rules", 10, timeout=30)))
    reader.start()
    time.sleep(0.1)
    log.append([_reading(1)])
    reader.join(10)
    assert not reader.is_alive()  # woken, not timed out after 30 s
    assert [r.seq for _, r in got] == [1]


def test_read_times_out_empty_when_nothing_arrives(tmp_path):
    log = ReadingLog(tmp_path / "log.sqlite3")
    log.register("store")
    assert log.read("store", 10, timeout=0.05) == []


@pytest.mark.slow
def test_an_append_that_returned_survives_kill_9_of_the_process(tmp_path):
    path = tmp_path / "log.sqlite3"
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from devices.reading import Reading\n"
        "from ingest.log import ReadingLog\n"
        "log = ReadingLog(Path(sys.argv[1]))\n"
        "log.register('store')\n"
        "for b in range(20):\n"
        "    log.append([Reading('hq', 'd', 'telemetry', 1.8e9 + b * 100 + i, 1.8e9, b * 100 + i,"
        " metrics={'v': float(i)}) for i in range(100)])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], cwd=Path(__file__).parents[2])
    assert proc.returncode == -9
    rows = ReadingLog(path).read("store", 10_000, timeout=0)
    assert [r.seq for _, r in rows] == list(range(2000))


def _rows_in_file(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("select count(*) from readings").fetchone()[0])


def test_a_reader_on_another_connection_sees_appends_within_its_poll_and_its_commits_count(
    tmp_path,
):
    """SITEWATCH_WORKERS=processes: the parent's consumers read what the ingest child appends,
    through a connection of their own."""
    writer = ReadingLog(tmp_path / "log.sqlite3")
    writer.register("store")
    writer.register("rules")
    reader = ReadingLog(tmp_path / "log.sqlite3", poll_s=0.01)  # never notified by `writer`
    got: list[list[tuple[int, Reading]]] = []
    waiting = threading.Thread(target=lambda: got.append(reader.read("store", 10, timeout=5)))
    waiting.start()
    time.sleep(0.1)
    began = time.monotonic()
    last = writer.append([_reading(i) for i in range(3)])
    waiting.join(5)
    assert time.monotonic() - began < 1.0  # found by polling, not at the 5 s timeout
    assert [r.seq for _, r in got[0]] == [0, 1, 2]
    reader.commit("store", last)
    writer.commit("rules", last)  # now every consumer passed them: the rows go
    assert reader.read("store", 10, timeout=0) == []
    assert sqlite3.connect(tmp_path / "log.sqlite3").execute(
        "SELECT count(*) FROM readings").fetchone()[0] == 0


def test_appended_readings_come_back_undecoded_until_every_reader_passed_them(tmp_path):
    log = ReadingLog(tmp_path / "log.sqlite3")
    log.register("store")
    log.register("rules")
    written = [_reading(i) for i in range(10)]
    log.append(written)
    rows = log.read("store", 100, timeout=0)
    assert all(r is w for (_, r), w in zip(rows, written, strict=True))  # not decoded again
    log.commit("store", rows[-1][0])
    assert log.read("rules", 4, timeout=0)[0][1] is written[0]  # rules has not passed it yet
    log.commit("rules", rows[3][0])
    # what both readers passed is let go (the collector's full passes would walk it)
    assert sorted(log._decoded) == [i for i, _ in rows[4:]]
    log.commit("rules", rows[-1][0])
    assert log._decoded == {}


def test_decoded_readings_are_bounded_when_a_reader_lags(tmp_path, monkeypatch):
    monkeypatch.setattr("ingest.log.DECODED_MAX", 50)
    log = ReadingLog(tmp_path / "log.sqlite3")
    log.register("store")
    assert log.read("store", 1, timeout=0) == []  # a reader that stops committing (store down)
    written = [_reading(i) for i in range(120)]
    for i in range(0, 120, 30):
        log.append(written[i:i + 30])
    assert sorted(log._decoded) == list(range(71, 121))  # the newest 50
    rows = log.read("store", 200, timeout=0)
    assert [r for _, r in rows] == written  # the older ones decoded from the file, equal
    assert rows[0][1] is not written[0] and rows[-1][1] is written[-1]


def test_a_writer_whose_rows_another_process_reads_keeps_none_decoded(tmp_path):
    """The ingest child (SITEWATCH_WORKERS=processes) appends; readers in the parent decode
    the bodies, so the child keeps no decoded readings; the parent learns the newest id."""
    writer = ReadingLog(tmp_path / "log.sqlite3", decoded_max=0)
    reader = ReadingLog(tmp_path / "log.sqlite3", poll_s=0.01)
    reader.register("rules")
    written = [_reading(i) for i in range(5)]
    last = writer.append(written)
    assert writer._decoded == {} and writer.newest_id == last
    assert [r for _, r in reader.read("rules", 10, timeout=1)] == written
    assert reader.depth("rules") == 0  # its newest id is the one it opened with
    reader.note_newest(last)
    assert reader.depth("rules") == 5 and reader.newest_id == last

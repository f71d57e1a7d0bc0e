"""One TelemetryStore contract, run against the embedded store, a real InfluxDB 1.6.7 and a
local stand-in for InfluxDB 3 that answers as its documentation says."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from devices.reading import Reading
from ingest.stores.base import BadData, Sample, StoreUnavailable, TelemetryStore
from ingest.stores.embedded import EmbeddedStore
from ingest.stores.influx_v1 import InfluxV1Store
from ingest.stores.influx_v3 import InfluxV3Store
from ingest.stores.influxql import quote_ident, quote_string
from tests.ingest.fake_influx_v3 import FakeInfluxV3
from tests.ingest.fake_influx_v3 import serve as serve_influx_v3
from tests.servers import INFLUX_ADMIN, Server

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a multiple of 60 s
ZONE = "Plant room, level=2"  # a tag value with a space, a comma and an equals sign
MODE = 'say "hi" \\ back\\slash'  # a string field with quotes and backslashes


class Backend(Protocol):
    """A store under test plus a raw look at what it keeps beyond the protocol."""

    store: TelemetryStore

    def events(self, device_id: str) -> list[tuple[float, str, dict[str, Any], float | None]]: ...
    def states(self, device_id: str) -> list[tuple[float, str]]: ...
    def tags(self, device_id: str) -> set[tuple[str, str | None, str | None]]: ...


class EmbeddedBackend:
    """The embedded store, inspected with plain SQL."""

    def __init__(self, path: Path) -> None:
        self.store = EmbeddedStore(path)
        self._db = sqlite3.connect(path)

    def events(self, device_id: str) -> list[tuple[float, str, dict[str, Any], float | None]]:
        rows = self._db.execute(
            "SELECT ts_us, event, data, seq FROM events WHERE device_id = ? ORDER BY ts_us",
            (device_id,),
        )
        return [(t / 1e6, e, json.loads(d), None if s is None else float(s)) for t, e, d, s in rows]

    def states(self, device_id: str) -> list[tuple[float, str]]:
        rows = self._db.execute(
            "SELECT ts_us, state FROM device_status WHERE device_id = ? ORDER BY ts_us",
            (device_id,),
        )
        return [(t / 1e6, s) for t, s in rows]

    def tags(self, device_id: str) -> set[tuple[str, str | None, str | None]]:
        sql = "SELECT DISTINCT site, zone, kind FROM telemetry WHERE device_id = ?"
        return set(self._db.execute(sql, (device_id,)))


class InfluxV1Backend:
    """The v1 store on the session's InfluxDB, inspected with InfluxQL."""

    def __init__(self, server: Server, database: str) -> None:
        self.url = f"http://127.0.0.1:{server.port}"
        self.database = database
        self.store = InfluxV1Store(self.url, database)

    def _rows(self, measurement: str, device_id: str) -> list[dict[str, Any]]:
        q = (f"SELECT * FROM {quote_ident(measurement)}"
             f" WHERE device_id = {quote_string(device_id)}")
        params = {"db": self.database, "q": q, "epoch": "u"}
        (result,) = httpx.get(f"{self.url}/query", params=params).json()["results"]
        return [
            dict(zip(s["columns"], row, strict=True))
            for s in result.get("series", [])
            for row in s["values"]
        ]

    def events(self, device_id: str) -> list[tuple[float, str, dict[str, Any], float | None]]:
        return [(r["time"] / 1e6, r["event"], json.loads(r["data"]), r.get("seq"))
                for r in self._rows("events", device_id)]

    def states(self, device_id: str) -> list[tuple[float, str]]:
        return [(r["time"] / 1e6, r["state"]) for r in self._rows("device_status", device_id)]

    def tags(self, device_id: str) -> set[tuple[str, str | None, str | None]]:
        return {(r["site"], r.get("zone"), r.get("kind"))
                for r in self._rows("telemetry", device_id)}


class InfluxV3Backend:
    """The v3 store on a local stand-in for InfluxDB 3 (tests/ingest/fake_influx_v3.py),
    inspected in the stand-in's own tables."""

    def __init__(self, fake: FakeInfluxV3) -> None:
        self.fake = fake
        self.store = InfluxV3Store(fake.url, "sitewatch", token=fake.token)

    def _rows(self, table: str, device_id: str, cols: str) -> list[tuple[Any, ...]]:
        if table not in self.fake.types:
            return []
        with self.fake.lock:
            return self.fake.db.execute(
                f'SELECT {cols} FROM "{table}" WHERE device_id = ? ORDER BY time', (device_id,)
            ).fetchall()

    def events(self, device_id: str) -> list[tuple[float, str, dict[str, Any], float | None]]:
        return [(t / 1e6, e, json.loads(d), s)
                for t, e, d, s in self._rows("events", device_id, "time, event, data, seq")]

    def states(self, device_id: str) -> list[tuple[float, str]]:
        return [(t / 1e6, s) for t, s in self._rows("device_status", device_id, "time, state")]

    def tags(self, device_id: str) -> set[tuple[str, str | None, str | None]]:
        return set(self._rows("telemetry", device_id, "DISTINCT site, zone, kind"))


@pytest.fixture(params=["embedded", "influx_v1", "influx_v3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The same contract against each store."""
    b: Backend
    if request.param == "influx_v3":
        with serve_influx_v3() as fake:
            b = InfluxV3Backend(fake)
            yield b
            b.store.close()
        return
    if request.param == "embedded":
        b = EmbeddedBackend(tmp_path / "telemetry.db")
    else:
        b = InfluxV1Backend(request.getfixturevalue("influxdb"),
                            request.getfixturevalue("influx_db"))
    yield b
    b.store.close()


def _ahu(i: int, device_id: str = "ahu-1") -> Reading:
    """The i-th reading of an air handler every 10 s: 10, 11.5, 12, 13.5, ..."""
    return Reading(
        "hq", device_id, "telemetry", T0 + 10 * i, T0 + 10 * i + 0.1, seq=i,
        kind="air_handler", zone=ZONE,
        metrics={"supply_air_temp_c": 10 + i + (0.5 if i % 2 else 0), "fan_running": i % 2 == 0,
                 "mode": MODE},
    )


BATCH = [_ahu(i) for i in range(12)]
FORCED = Reading("hq", "door-3", "event", T0 + 5.25, T0 + 5.3, seq=1043, kind="door",
                 zone="lobby", event="door_forced_open", data={"reader": "R2", "note": MODE})
OFFLINE = Reading("hq", "ahu-1", "status", T0 + 200, T0 + 200, kind="air_handler", zone=ZONE,
                  status="offline")


def test_a_written_batch_queries_back_raw_oldest_first_within_start_inclusive_end_exclusive(
    backend: Backend,
) -> None:
    backend.store.write(BATCH)
    got = backend.store.query("ahu-1", "supply_air_temp_c", T0 + 10, T0 + 40)
    assert got == [Sample(T0 + 10, 11.5), Sample(T0 + 20, 12.0), Sample(T0 + 30, 13.5)]
    assert len(backend.store.query("ahu-1", "supply_air_temp_c", T0, T0 + 120, limit=5)) == 5


def test_averaging_gives_one_mean_per_interval_named_by_its_epoch_aligned_start(
    backend: Backend,
) -> None:
    backend.store.write(BATCH)
    values = [10 + i + (0.5 if i % 2 else 0) for i in range(12)]
    got = backend.store.query("ahu-1", "supply_air_temp_c", T0 + 30, T0 + 120, every_s=60)
    # The first bucket starts before `start`, at the 60 s boundary, as InfluxDB's GROUP BY time.
    assert [s.ts for s in got] == [T0, T0 + 60]
    assert [s.value for s in got] == pytest.approx([sum(values[3:6]) / 3, sum(values[6:]) / 6])


def test_averaging_a_boolean_metric_is_refused_as_bad_data(backend: Backend) -> None:
    backend.store.write(BATCH)
    with pytest.raises(BadData):
        backend.store.query("ahu-1", "fan_running", T0, T0 + 120, every_s=60)


def test_latest_gives_each_metric_its_newest_value_and_time(backend: Backend) -> None:
    backend.store.write(list(reversed(BATCH)))
    assert backend.store.latest("ahu-1") == {
        "supply_air_temp_c": Sample(T0 + 110, 21.5),
        "fan_running": Sample(T0 + 110, False),
        "mode": Sample(T0 + 110, MODE),
    }
    assert backend.store.latest("nobody") == {}


def test_writing_the_same_batch_twice_changes_no_query_result(backend: Backend) -> None:
    backend.store.write([*BATCH, FORCED, OFFLINE])
    backend.store.write([*BATCH, FORCED, OFFLINE])
    raw = backend.store.query("ahu-1", "supply_air_temp_c", T0, T0 + 300)
    assert len(raw) == 12
    assert backend.store.query("ahu-1", "supply_air_temp_c", T0, T0 + 120, every_s=60)[0].value \
        == pytest.approx(sum(10 + i + (0.5 if i % 2 else 0) for i in range(6)) / 6)
    assert len(backend.events("door-3")) == 1
    assert len(backend.states("ahu-1")) == 1


def test_booleans_and_strings_with_quotes_and_backslashes_round_trip(backend: Backend) -> None:
    backend.store.write(BATCH[:2])
    assert [s.value for s in backend.store.query("ahu-1", "fan_running", T0, T0 + 20)] == [
        True, False]
    assert [s.value for s in backend.store.query("ahu-1", "mode", T0, T0 + 20)] == [MODE, MODE]


def test_tag_values_with_spaces_commas_and_equals_signs_round_trip(backend: Backend) -> None:
    backend.store.write(BATCH[:1])
    assert backend.tags("ahu-1") == {("hq", ZONE, "air_handler")}


def test_a_device_id_with_quotes_cannot_reach_another_devices_data(backend: Backend) -> None:
    odd = "odd dev,id=1'x\"y"
    backend.store.write([*BATCH[:2], _ahu(5, device_id=odd)])
    assert backend.store.query(odd, "supply_air_temp_c", T0, T0 + 120) == [Sample(T0 + 50, 15.5)]
    sneaky = "nobody' OR device_id = 'ahu-1"
    assert backend.store.query(sneaky, "supply_air_temp_c", T0, T0 + 120) == []
    assert backend.store.latest(sneaky) == {}


def test_events_are_stored_with_their_name_data_and_seq(backend: Backend) -> None:
    backend.store.write([FORCED, Reading("hq", "mcp-1", "event", T0, T0, event="activated")])
    assert backend.events("door-3") == [
        (T0 + 5.25, "door_forced_open", {"reader": "R2", "note": MODE}, 1043.0)]
    assert backend.events("mcp-1") == [(T0, "activated", {}, None)]


def test_status_changes_are_stored(backend: Backend) -> None:
    backend.store.write([OFFLINE])
    assert backend.states("ahu-1") == [(T0 + 200, "offline")]


def test_an_unregistered_device_is_stored_without_zone_or_kind(backend: Backend) -> None:
    ghost = Reading("hq", "ghost-9", "telemetry", T0, T0, metrics={"temperature_c": 30})
    backend.store.write([ghost])
    assert backend.store.query("ghost-9", "temperature_c", T0, T0 + 1) == [Sample(T0, 30.0)]
    assert backend.tags("ghost-9") == {("hq", None, None)}


def test_a_value_of_another_type_than_the_metric_has_is_refused_as_bad_data(
    backend: Backend,
) -> None:
    backend.store.write(BATCH[:1])
    clash = Reading("hq", "ahu-2", "telemetry", T0 + 1, T0, metrics={"supply_air_temp_c": "hot"})
    with pytest.raises(BadData):
        backend.store.write([clash])
    backend.store.write(BATCH[1:2])  # the store still takes good data afterwards
    assert len(backend.store.query("ahu-1", "supply_air_temp_c", T0, T0 + 20)) == 2


@pytest.mark.parametrize("bad", [float("nan"), [1, 2]])
def test_a_value_no_store_can_hold_is_refused_as_bad_data(backend: Backend, bad: object) -> None:
    r = Reading("hq", "ahu-1", "telemetry", T0, T0, metrics={"x": bad})  # type: ignore[dict-item]
    with pytest.raises(BadData):
        backend.store.write([r])


def test_writers_on_several_threads_all_land(backend: Backend) -> None:
    def write_device(n: int) -> None:
        for i in range(10):
            backend.store.write([_ahu(i, device_id=f"ahu-{n}")])

    threads = [threading.Thread(target=write_device, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in range(4):
        assert len(backend.store.query(f"ahu-{n}", "mode", T0, T0 + 100)) == 10


def test_ping_answers_true_while_the_store_is_up(backend: Backend) -> None:
    assert backend.store.ping() is True


# InfluxDB 1.x specifics against the real server.


def test_v1_write_while_influxdb_is_down_raises_store_unavailable_then_succeeds_after_restart(
    influxdb: Server, influx_db: str
) -> None:
    store = InfluxV1Store(f"http://127.0.0.1:{influxdb.port}", influx_db, timeout_s=2)
    store.write(BATCH[:1])  # a warm keep-alive connection, as in service
    influxdb.stop()
    try:
        with pytest.raises(StoreUnavailable):
            store.write(BATCH[1:2])
        assert store.ping() is False
    finally:
        influxdb.start()
    store.write(BATCH[1:2])
    assert len(store.query("ahu-1", "supply_air_temp_c", T0, T0 + 20)) == 2
    store.close()


def test_v1_creates_its_database_when_missing(influxdb: Server, influx_db: str) -> None:
    store = InfluxV1Store(f"http://127.0.0.1:{influxdb.port}", influx_db + "_new")
    store.write(BATCH[:1])
    assert store.query("ahu-1", "supply_air_temp_c", T0, T0 + 1) == [Sample(T0, 10.0)]
    store.close()


@pytest.mark.parametrize(
    ("username", "password"), [("admin", "wrong"), ("nobody", "x"), (None, None)]
)
def test_v1_refused_credentials_are_retryable_with_a_message_naming_the_cause(
    influxdb_with_auth: Server, username: str | None, password: str | None
) -> None:
    url = f"http://127.0.0.1:{influxdb_with_auth.port}"
    store = InfluxV1Store(url, "refused", username, password)
    try:
        with pytest.raises(StoreUnavailable, match="username and password.*auth"):
            store.write(BATCH[:1])
        with pytest.raises(StoreUnavailable, match="username and password"):
            store.query("ahu-1", "supply_air_temp_c", T0, T0 + 1)
    finally:
        store.close()


def test_v1_with_the_right_credentials_writes_and_reads_on_an_influxdb_with_auth(
    influxdb_with_auth: Server,
) -> None:
    user, password = INFLUX_ADMIN
    store = InfluxV1Store(f"http://127.0.0.1:{influxdb_with_auth.port}", "granted", user, password)
    try:
        store.write(BATCH[:1])
        assert store.query("ahu-1", "supply_air_temp_c", T0, T0 + 1) == [Sample(T0, 10.0)]
    finally:
        store.close()

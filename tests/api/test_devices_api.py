"""Devices over HTTP: registry, liveness and latest metrics, and a metric's history."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.runtime import Runtime
from api.tokens import create_token
from devices.liveness import DeviceLiveness
from devices.reading import Reading
from devices.snapshot import DeviceSnapshot
from ingest.stores.influx_v1 import InfluxV1Store
from tests.api.conftest import bearer, build_runtime


def telemetry(device_id: str, ts: float, site: str = "hq", kind: str | None = "smoke_detector",
              **metrics: float | bool | str) -> Reading:
    return Reading(site, device_id, "telemetry", ts, ts, kind=kind, zone="hall-a",
                   metrics=metrics)


@pytest.fixture
def viewer(tokens: dict[str, str]) -> dict[str, str]:
    return bearer(tokens["viewer"])


def test_devices_list_registered_and_unregistered_ones_heard_with_state_and_latest(
    rt: Runtime, client: TestClient, viewer: dict[str, str]
) -> None:
    now = time.time()
    rt.liveness.observe(telemetry("sd-1", now - 1, temperature_c=21.5, battery_pct=90.0))
    rt.liveness.observe(telemetry("ghost-7", now - 1, site="hq", kind=None, temperature_c=30.0))
    r = client.get("/api/v1/devices", headers=viewer)
    assert r.status_code == 200
    page = r.json()
    by_id = {d["id"]: d for d in page["items"]}
    assert page["total"] == 5 and set(by_id) == {"ahu-1", "door-1", "ghost-7", "sd-1", "zs-fast"}
    assert by_id["sd-1"]["registered"] is True and by_id["sd-1"]["name"] == "Hall A smoke"
    assert by_id["sd-1"]["state"] == "online"
    assert by_id["sd-1"]["latest"]["temperature_c"]["value"] == 21.5
    assert by_id["ghost-7"]["registered"] is False and by_id["ghost-7"]["kind"] is None
    assert by_id["door-1"]["last_seen"] is None


def test_device_filters_and_pages(rt: Runtime, client: TestClient, viewer: dict[str, str]) -> None:
    def ids(**params: object) -> list[str]:
        r = client.get("/api/v1/devices", params=params, headers=viewer)
        assert r.status_code == 200, r.text
        return [d["id"] for d in r.json()["items"]]

    assert ids(site="annex") == ["ahu-1"]
    assert ids(zone="reception") == ["door-1"]
    assert ids(kind="smoke_detector") == ["sd-1"]
    assert ids(state="unknown") == ["ahu-1", "door-1", "sd-1", "zs-fast"]  # never heard
    assert ids(state="online") == []
    assert ids(state="stale") == []
    assert ids(registered="false") == []
    assert ids(limit=2, offset=1) == ["door-1", "sd-1"]
    r = client.get("/api/v1/devices", params={"state": "asleep"}, headers=viewer)
    assert r.status_code == 422


def test_a_device_silent_for_three_intervals_shows_stale(tmp_path: Path) -> None:
    rt = build_runtime(tmp_path)
    rt.liveness = DeviceLiveness(rt.registry, started_at=time.time() - 3600)  # an hour of silence
    token = create_token(rt.engine, "v", "viewer")
    with TestClient(create_app(rt)) as c:
        r = c.get("/api/v1/devices", params={"state": "stale"}, headers=bearer(token))
    assert [d["id"] for d in r.json()["items"]] == ["ahu-1", "door-1", "sd-1", "zs-fast"]


def test_one_device_is_a_404_when_unknown_and_has_latest_values_from_memory_not_the_store(
    rt: Runtime, client: TestClient, viewer: dict[str, str]
) -> None:
    assert client.get("/api/v1/devices/nobody", headers=viewer).status_code == 404
    # Only in the store: the page never scans the store's history for it.
    rt.store.write([telemetry("sd-1", time.time() - 60, battery_pct=11.0)])
    assert "battery_pct" not in client.get("/api/v1/devices/sd-1", headers=viewer).json()["latest"]
    # Saved before a restart (device_states) and restored into liveness: shown.
    at = time.time() - 30
    rt.liveness.restore([DeviceSnapshot("sd-1", "hq", "hall-a", "smoke_detector", True, at, at,
                                        None, {"battery_pct": (at, 77.0)}, 1)])
    r = client.get("/api/v1/devices/sd-1", headers=viewer)
    assert r.status_code == 200
    assert r.json()["latest"]["battery_pct"]["value"] == 77.0
    assert r.json()["kind"] == "smoke_detector"


# --- history --------------------------------------------------------------------------------


@pytest.fixture(params=["embedded", "influx_v1"])
def history(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[TestClient, Runtime, str]]:
    """An app whose store is the embedded one or a real InfluxDB 1.6.7, with a viewer token."""
    if request.param == "influx_v1":
        server = request.getfixturevalue("influxdb")
        db = request.getfixturevalue("influx_db")
        runtime = build_runtime(tmp_path, InfluxV1Store(f"http://127.0.0.1:{server.port}", db))
    else:
        runtime = build_runtime(tmp_path)
    token = create_token(runtime.engine, "viewer-user", "viewer")
    with TestClient(create_app(runtime)) as c:
        c.headers.update(bearer(token))
        yield c, runtime, request.param
    runtime.store.close()


T0 = 1_795_773_600.0  # 2026-11-27T10:00:00Z


def test_history_returns_raw_samples_in_range_oldest_first(history) -> None:  # type: ignore[no-untyped-def]
    c, rt, _ = history
    rt.store.write([telemetry("sd-1", T0 + 60 * i, temperature_c=20.0 + i) for i in range(10)])
    r = c.get("/api/v1/devices/sd-1/telemetry",
              params={"metric": "temperature_c", "start": "2026-11-27T10:02:00Z",
                      "end": str(T0 + 300)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [s["value"] for s in body["samples"]] == [22.0, 23.0, 24.0]
    assert body["samples"][0]["ts"].startswith("2026-11-27T10:02:00")
    assert body["every_s"] is None and body["truncated"] is False


def test_history_averages_per_every(history) -> None:  # type: ignore[no-untyped-def]
    c, rt, _ = history
    rt.store.write([telemetry("sd-1", T0 + 60 * i, temperature_c=20.0 + i) for i in range(10)])
    r = c.get("/api/v1/devices/sd-1/telemetry",
              params={"metric": "temperature_c", "start": T0, "end": T0 + 600, "every": "5m"})
    assert r.status_code == 200, r.text
    assert [s["value"] for s in r.json()["samples"]] == [22.0, 27.0]
    assert r.json()["every_s"] == 300


def test_history_limit_truncates_and_says_so(history) -> None:  # type: ignore[no-untyped-def]
    c, rt, _ = history
    rt.store.write([telemetry("sd-1", T0 + 60 * i, temperature_c=20.0 + i) for i in range(10)])
    r = c.get("/api/v1/devices/sd-1/telemetry",
              params={"metric": "temperature_c", "start": T0, "end": T0 + 600, "limit": 4})
    assert [s["value"] for s in r.json()["samples"]] == [20.0, 21.0, 22.0, 23.0]
    assert r.json()["truncated"] is True


def test_history_defaults_to_the_last_hour(history) -> None:  # type: ignore[no-untyped-def]
    c, rt, _ = history
    now = time.time()
    rt.store.write([telemetry("sd-1", now - 7200, temperature_c=1.0),
                    telemetry("sd-1", now - 600, temperature_c=2.0)])
    r = c.get("/api/v1/devices/sd-1/telemetry", params={"metric": "temperature_c"})
    assert [s["value"] for s in r.json()["samples"]] == [2.0]


def test_a_raw_range_too_large_is_a_400_that_says_to_use_every(history) -> None:  # type: ignore[no-untyped-def]
    c, _, _ = history
    r = c.get("/api/v1/devices/sd-1/telemetry",
              params={"metric": "temperature_c", "start": T0, "end": T0 + 2 * 86400})
    assert r.status_code == 400 and "every" in r.json()["detail"]
    # A one-second sensor: three hours would be ~10,800 raw points.
    r = c.get("/api/v1/devices/zs-fast/telemetry",
              params={"metric": "temperature_c", "start": T0, "end": T0 + 3 * 3600})
    assert r.status_code == 400 and "every" in r.json()["detail"]
    r = c.get("/api/v1/devices/sd-1/telemetry",
              params={"metric": "temperature_c", "start": T0, "end": T0 + 86400, "every": "1s"})
    assert r.status_code == 400 and "larger every" in r.json()["detail"]


def test_history_input_errors_are_422_naming_the_field(history) -> None:  # type: ignore[no-untyped-def]
    c, _, _ = history
    base = {"metric": "temperature_c"}
    for params, field in [
        ({**base, "start": "yesterday"}, "start"),
        ({**base, "start": T0, "end": T0 - 1}, "end"),
        ({**base, "every": "5 minutes"}, "every"),
        ({"metric": "Temperature"}, "metric"),
        ({}, "metric"),
    ]:
        r = c.get("/api/v1/devices/sd-1/telemetry", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["detail"][0]["loc"] == ["query", field]


def test_history_of_an_unknown_device_is_a_404(history) -> None:  # type: ignore[no-untyped-def]
    c, _, _ = history
    r = c.get("/api/v1/devices/nobody/telemetry", params={"metric": "temperature_c"})
    assert r.status_code == 404


def test_history_of_an_unregistered_device_known_only_to_the_store_answers(history) -> None:  # type: ignore[no-untyped-def]
    c, rt, _ = history
    rt.store.write([telemetry("ghost-1", T0, kind=None, temperature_c=5.0)])
    r = c.get("/api/v1/devices/ghost-1/telemetry",
              params={"metric": "temperature_c", "start": T0 - 10, "end": T0 + 10})
    assert r.status_code == 200
    assert [s["value"] for s in r.json()["samples"]] == [5.0]


def test_history_answers_503_while_influxdb_is_down(tmp_path: Path, influxdb, influx_db) -> None:  # type: ignore[no-untyped-def]
    rt = build_runtime(tmp_path, InfluxV1Store(f"http://127.0.0.1:{influxdb.port}", influx_db,
                                               timeout_s=2))
    rt.liveness.observe(telemetry("sd-1", time.time()))
    token = create_token(rt.engine, "v", "viewer")
    with TestClient(create_app(rt)) as c:
        influxdb.stop()
        try:
            r = c.get("/api/v1/devices/sd-1/telemetry", params={"metric": "temperature_c"},
                      headers=bearer(token))
        finally:
            influxdb.start()
    assert r.status_code == 503
    assert "retry" in r.json()["detail"]

"""`serve` says what is wrong (issue 17.14): bad settings name their variable, a dependency
that is down is logged, a device never heard is not "online"."""

from __future__ import annotations

import logging
import time

import pytest
from fastapi.testclient import TestClient

from api.cli import main
from api.dependency_watch import DependencyWatch
from api.runtime import Runtime
from devices.liveness import DeviceLiveness
from devices.reading import Reading
from tests.api.conftest import bearer, small_registry


@pytest.mark.parametrize(("env", "variable"), [
    ({"SITEWATCH_MQTT_URL": "http://broker:1883"}, "SITEWATCH_MQTT_URL"),
    ({"SITEWATCH_INFLUX_URL": "not a url"}, "SITEWATCH_INFLUX_URL"),
    ({"SITEWATCH_INFLUX_URL": "http://influx:8086", "SITEWATCH_INFLUX_ORG": "o"},
     "SITEWATCH_INFLUX_TOKEN"),
    ({"SITEWATCH_INFLUX_URL": "http://influx:8086", "SITEWATCH_INFLUX_TOKEN": "t"},
     "SITEWATCH_INFLUX_ORG"),
])
def test_serve_refuses_an_invalid_setting_with_one_line_naming_the_variable(
    env: dict[str, str], variable: str, tmp_path, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("SITEWATCH_MQTT_URL", "SITEWATCH_INFLUX_URL", "SITEWATCH_INFLUX_TOKEN",
                 "SITEWATCH_INFLUX_ORG", "SITEWATCH_INFLUX_API", "SITEWATCH_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SITEWATCH_DATA_DIR", str(tmp_path))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sitewatch: {variable}:"), err
    assert len(err.strip().splitlines()) == 1


def test_a_dependency_down_is_warned_at_start_and_again_while_down_then_its_return_noted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = {"broker": {"ok": False, "error": "connection refused"}, "store": {"ok": True}}
    watch = DependencyWatch(lambda: health, grace_s=5, repeat_s=60)
    with caplog.at_level(logging.INFO, logger="sitewatch.health"):
        watch.run(1000.0)  # just started: connecting may take a moment
        assert not caplog.records
        watch.run(1005.0)
        assert [r.levelno for r in caplog.records] == [logging.WARNING]
        assert "broker" in caplog.records[0].message
        assert "connection refused" in caplog.records[0].message
        watch.run(1030.0)
        assert len(caplog.records) == 1  # not every run: once a minute
        watch.run(1065.0)
        assert len(caplog.records) == 2
        health["broker"] = {"ok": True}
        watch.run(1070.0)
        assert caplog.records[-1].levelno == logging.INFO
        assert "broker" in caplog.records[-1].message


def test_a_device_never_heard_is_not_online(
    rt: Runtime, client: TestClient, tokens: dict[str, str]
) -> None:
    now = time.time()
    rt.liveness = DeviceLiveness(small_registry(), started_at=now)
    rt.liveness.observe(Reading("hq", "sd-1", "telemetry", now, now, kind="smoke_detector",
                                zone="hall-a", metrics={"battery_pct": 90.0}))
    viewer = bearer(tokens["viewer"])
    by_id = {d["id"]: d["state"] for d in
             client.get("/api/v1/devices", headers=viewer).json()["items"]}
    assert by_id["sd-1"] == "online"
    assert by_id["door-1"] == "unknown"
    status = client.get("/api/v1/status", headers=viewer).json()
    assert status["devices"]["by_state"]["online"] == 1

"""Backtest against data written through the real pipeline, diffed with the live run's record."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from api.backtest_run import run_backtest
from api.cli import main
from rules.engine.loader import load_rules
from tests.e2e.conftest import Services
from tests.e2e.helpers import Site, one_incident, poll
from tests.servers import Server

pytestmark = pytest.mark.slow


@pytest.fixture(params=["embedded", "influx_v1"])
def store_settings(request: pytest.FixtureRequest) -> dict[str, object]:
    """Where the live run stores its telemetry: the embedded store or a real InfluxDB 1.6.7."""
    if request.param == "embedded":
        return {}
    server: Server = request.getfixturevalue("influxdb")
    return {"influx_url": f"http://127.0.0.1:{server.port}", "influx_api": "v1",
            "influx_db": request.getfixturevalue("influx_db")}


def test_a_backtest_of_the_live_rules_reproduces_the_record_and_a_changed_file_shows_the_diff(
    services: Services, site: Site, tmp_path: Path, store_settings: dict[str, object],
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.e2e.helpers import short_hold_pack

    rules = short_hold_pack(tmp_path / "rules.yaml", filter_clogged="1s")
    start = time.time() - 1
    service = services.start(rules=rules, **store_settings)
    site.event("door-01", "door_forced_open")
    for _ in range(11):  # 5 s above the threshold
        site.telemetry("ahu-01", filter_dp_pa=300.0, fan_running=True)
        time.sleep(0.5)
    poll(lambda: one_incident(service, "door_forced", "door-01"), 10, "the forced-door alert")
    poll(lambda: one_incident(service, "filter_clogged", "ahu-01"), 10, "the filter ticket")
    poll(lambda: service.log.depth("store") == 0 or None, 20, "every reading stored")
    end = time.time() + 1

    pack = load_rules(rules)
    same = run_backtest(pack, service.store, service.engine, service.registry, start, end)
    out = same.as_json()
    assert {(w["rule"], w["device_id"]) for w in out["would_open"]} >= {
        ("door_forced", "door-01"), ("filter_clogged", "ahu-01")}
    assert out["diff"] == {"new": [], "gone": [], "moved": []}, out["diff"]
    assert same.readings >= 9

    # A file without the door rule and with a longer filter hold: gone, and moved later.
    raw = yaml.safe_load(rules.read_text())
    raw["rules"] = [r for r in raw["rules"] if r["id"] != "door_forced"]
    for r in raw["rules"]:
        if r["id"] == "filter_clogged":
            r["hold"] = "4s"
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(raw, sort_keys=False))
    for key, value in store_settings.items():
        monkeypatch.setenv(f"SITEWATCH_{key.upper()}", str(value))
    monkeypatch.setenv("SITEWATCH_DATA_DIR", str(service.settings.data_dir))
    monkeypatch.setenv("SITEWATCH_DATABASE_URL", service.settings.database_url)
    assert main(["rules", "backtest", str(changed), "--from", str(start), "--to", str(end),
                 "--site", "hq", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"would_open", "diff"}
    assert [(g["rule"], g["device_id"]) for g in result["diff"]["gone"]] == [
        ("door_forced", "door-01")]
    (moved,) = result["diff"]["moved"]
    assert (moved["rule"], moved["direction"]) == ("filter_clogged", "later")
    assert result["diff"]["new"] == []

    assert main(["rules", "backtest", str(changed), "--from", str(end + 3600),
                 "--to", str(end + 7200), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"would_open": [],
                                        "diff": {"new": [], "gone": [], "moved": []}}
    assert "no telemetry or events" in captured.err

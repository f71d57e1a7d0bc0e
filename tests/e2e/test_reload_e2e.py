"""POST /api/v1/rules/reload and SIGHUP on a running service."""

from __future__ import annotations

import os
import signal
from importlib import resources
from pathlib import Path

import httpx
import pytest
import yaml

from rules.db.database import create_engine
from rules.db.rule_reloads import ReloadLog
from tests.e2e.conftest import ApiServer, Services
from tests.e2e.helpers import Site, one_incident, poll, short_hold_pack
from tests.ingest.helpers import wait_until
from tests.servers import Server, free_port
from tests.test_serve_e2e import Serve

pytestmark = pytest.mark.slow


def test_a_reload_over_the_api_answers_every_error_then_takes_a_good_file(
    services: Services, site: Site, tmp_path: Path
) -> None:
    rules = short_hold_pack(tmp_path / "rules.yaml", filter_clogged="1s")
    good = rules.read_text()
    service = services.start(rules=rules)
    api = ApiServer(service)
    api.start()
    try:
        admin = {"Authorization": f"Bearer {api.token('alice', 'admin')}"}
        with httpx.Client(base_url=api.url, timeout=10, headers=admin) as http:
            raw = yaml.safe_load(good)
            raw["rules"][0]["kind"] = "telepathy"
            raw["rules"][1]["raises"] = {"type": "ticket", "priority": "P9"}
            rules.write_text(yaml.safe_dump(raw, sort_keys=False))
            bad = http.post("/api/v1/rules/reload")
            assert bad.status_code == 422
            assert len(bad.json()["detail"]) >= 2
            assert all(str(rules) in e["msg"] for e in bad.json()["detail"])
            assert service.pack.source == str(rules)
            before = service.pack

            raw = yaml.safe_load(good)
            raw["rules"] = [r for r in raw["rules"] if r["id"] != "door_forced"]
            rules.write_text(yaml.safe_dump(raw, sort_keys=False))
            ok = http.post("/api/v1/rules/reload")
            assert ok.status_code == 200, ok.text
            assert ok.json()["removed"] == ["door_forced"] and ok.json()["changed"] == []
            assert service.pack is not before and "door_forced" not in service.pack.by_id
            viewer = {"Authorization": f"Bearer {api.token('bob', 'viewer')}"}
            assert http.post("/api/v1/rules/reload", headers=viewer).status_code == 403

            site.event("door-01", "door_forced_open")  # no rule for it any more
            site.telemetry("ahu-01", filter_dp_pa=300.0)
            site.telemetry("ahu-01", filter_dp_pa=300.0)
            poll(lambda: one_incident(service, "filter_clogged", "ahu-01"), 10,
                 "the filter ticket from an unchanged rule")
            assert one_incident(service, "door_forced", "door-01") is None

            rules.write_text(good)  # SIGHUP's path: the rule comes back
            service.reload_on_signal()
            assert "door_forced" in service.pack.by_id
    finally:
        api.stop()


def test_sighup_reloads_the_rules_file_of_a_running_serve_and_a_bad_file_changes_nothing(
    mosquitto: Server, topic_prefix: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    pack = yaml.safe_load(resources.files("rules.engine").joinpath("pack.yaml").read_text())
    rules.write_text(yaml.safe_dump(pack, sort_keys=False))
    env = {
        **os.environ,
        "SITEWATCH_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto.port}",
        "SITEWATCH_MQTT_CLIENT_ID": f"{topic_prefix}-serve",
        "SITEWATCH_MQTT_TOPIC_PREFIX": topic_prefix,
        "SITEWATCH_DATA_DIR": str(tmp_path / "var"),
        "SITEWATCH_DATABASE_URL": f"sqlite:///{tmp_path}/sitewatch.db",
        "SITEWATCH_RULES": str(rules),
        "SITEWATCH_API_PORT": str(free_port()),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    serve = Serve(env, tmp_path)
    serve.start()
    engine = create_engine(env["SITEWATCH_DATABASE_URL"])
    try:
        assert serve.proc is not None
        rules.write_text("- {id: broken}\n")
        serve.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "rules reload refused" in (tmp_path / "serve.log").read_text(),
                          20)
        assert ReloadLog(engine).all() == []
        pack["rules"] = [r for r in pack["rules"] if r["id"] != "co2_high"]
        rules.write_text(yaml.safe_dump(pack, sort_keys=False))
        serve.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: len(ReloadLog(engine).all()) == 1, 20)
        (row,) = ReloadLog(engine).all()
        assert (row["actor"], row["removed"], row["changed"]) == ("SIGHUP", ["co2_high"], [])
        assert serve.proc.poll() is None  # still serving
    finally:
        engine.dispose()
        serve.stop()

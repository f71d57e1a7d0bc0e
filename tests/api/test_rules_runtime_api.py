"""POST /api/v1/rules/backtest: admin only, every rules error answered, the period bounded."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.cli import main
from api.runtime import Runtime
from devices.reading import Reading
from tests.api.conftest import bearer, raise_alert


def test_a_backtest_over_the_api_reports_what_would_open_and_the_diff(
    client: TestClient, tokens: dict[str, str], rt: Runtime
) -> None:
    t0 = time.time() - 600
    rt.store.write([Reading("hq", "sd-1", "event", t0 + 10, t0 + 10, kind="smoke_detector",
                            zone="hall-a", event="alarm")])
    gone = raise_alert(rt, device_id="sd-7")  # recorded now, not in the data
    r = client.post("/api/v1/rules/backtest", headers=bearer(tokens["admin"]),
                    json={"from": str(t0), "to": str(time.time() + 5)})
    assert r.status_code == 200, r.text
    out = r.json()
    assert [(w["rule"], w["device_id"]) for w in out["would_open"]] == [("fire_alarm", "sd-1")]
    assert [(w["rule"], w["device_id"]) for w in out["diff"]["new"]] == [("fire_alarm", "sd-1")]
    assert [g["incident_id"] for g in out["diff"]["gone"]] == [gone]
    assert out["readings"] == 1


def test_a_backtest_of_an_empty_period_is_an_empty_result_with_a_note(
    client: TestClient, tokens: dict[str, str]
) -> None:
    r = client.post("/api/v1/rules/backtest", headers=bearer(tokens["admin"]),
                    json={"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"})
    assert r.status_code == 200
    assert r.json()["would_open"] == [] and "no telemetry" in r.json()["note"]


def test_a_bad_rules_file_answers_every_error_and_a_bad_period_names_its_field(
    client: TestClient, tokens: dict[str, str]
) -> None:
    h = bearer(tokens["admin"])
    bad = ("- {id: a, title: A, description: d, kind: threshold, metric: x, above: 1,"
           " raises: {type: ticket, priority: P9}}\n"
           "- {id: b, title: B, description: d, kind: event, raises: {type: ticket}}\n")
    r = client.post("/api/v1/rules/backtest", headers=h,
                    json={"from": "0", "to": "60", "rules": bad})
    assert r.status_code == 422
    msgs = [e["msg"] for e in r.json()["detail"]]
    assert len(msgs) >= 2 and any("'a'" in m for m in msgs) and any("'b'" in m for m in msgs)
    back = client.post("/api/v1/rules/backtest", headers=h, json={"from": "100", "to": "50"})
    assert back.status_code == 422 and back.json()["detail"][0]["loc"] == ["body", "to"]
    long = client.post("/api/v1/rules/backtest", headers=h,
                       json={"from": "0", "to": str(40 * 86400)})
    assert long.status_code == 422 and long.json()["detail"][0]["loc"] == ["body", "from"]
    viewer = client.post("/api/v1/rules/backtest", headers=bearer(tokens["security"]),
                         json={"from": "0", "to": "60"})
    assert viewer.status_code == 403


def test_the_backtest_cli_lists_every_rules_error_and_refuses_a_bad_period_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SITEWATCH_DATA_DIR", str(tmp_path))
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {id: a, kind: threshold}\n- {id: b, kind: telepathy}\n")
    assert main(["rules", "backtest", str(bad), "--from", "0", "--to", "60"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) >= 2 and all(line.startswith(str(bad)) for line in err)
    good = tmp_path / "good.yaml"
    good.write_text("[]\n")
    assert main(["rules", "backtest", str(good), "--from", "yesterday", "--to", "60"]) == 2
    assert "--from" in capsys.readouterr().err
    assert main(["rules", "backtest", str(good), "--from", "0", "--to", str(40 * 86400)]) == 2

"""GET /api/v1/oncall and `sitewatch oncall`: who is on duty, per department."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.cli import main
from api.runtime import Runtime
from rules.people.oncall import parse
from tests.api.conftest import bearer
from tests.rules.test_oncall import ROTA


def test_the_api_names_who_is_on_duty_until_when_and_the_chain(
    rt: Runtime, client: TestClient, tokens: dict[str, str]
) -> None:
    rt.oncall = parse(ROTA)
    r = client.get("/api/v1/oncall?at=2026-07-01T23:30:00-04:00", headers=bearer(tokens["viewer"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["timezone"] == "America/New_York"
    security, maintenance = body["departments"]
    assert security["on_duty"] == {"id": "bob", "name": "Bob", "email": "bob@example.com",
                                   "phone": None}
    assert security["until"] == "2026-07-02T08:00:00-04:00"
    assert [(lv["after_minutes"], lv["person"]["id"]) for lv in security["escalation"]] == [
        (0, "bob"), (5, "carol"), (15, "dave")]
    assert maintenance["on_duty"] is None and "fri 19:00 - mon 00:00" in maintenance["gaps"]


def test_without_rotas_the_answer_is_empty_and_a_token_is_still_needed(
    client: TestClient, tokens: dict[str, str]
) -> None:
    assert client.get("/api/v1/oncall").status_code == 401
    r = client.get("/api/v1/oncall", headers=bearer(tokens["viewer"]))
    assert r.status_code == 200 and r.json()["departments"] == []


def test_the_cli_prints_who_is_on_duty_and_names_a_bad_file_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rota = tmp_path / "oncall.yaml"
    rota.write_text(ROTA)
    monkeypatch.setenv("SITEWATCH_ONCALL", str(rota))
    monkeypatch.setenv("SITEWATCH_DATA_DIR", str(tmp_path))
    assert main(["oncall", "--at", "2026-07-04T12:00:00-04:00"]) == 0
    out = capsys.readouterr().out
    assert "security             Alice until 20:00" in out and "maintenance          NOBODY" in out
    rota.write_text(ROTA.replace("person: carol", "person: zed"))
    assert main(["oncall"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"sitewatch: {rota}:19: 'zed' is not one of the people")

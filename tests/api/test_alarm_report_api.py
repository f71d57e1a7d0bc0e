"""GET /api/v1/reports/alarms: the alarm-health report over HTTP, JSON and CSV, scope and 422."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.runtime import Runtime
from api.tokens import create_token
from tests.api.conftest import bearer
from tests.rules.alarm_history import END, EXPECTED, START, seed

PATH = "/api/v1/reports/alarms"
PERIOD = {"from": START.isoformat(), "to": END.isoformat()}


@pytest.fixture
def api(rt: Runtime) -> Iterator[TestClient]:
    """The app over a runtime whose database holds the hand-worked history."""
    seed(rt.engine)
    with TestClient(create_app(rt)) as c:
        yield c


def test_the_report_needs_a_token(api: TestClient) -> None:
    assert api.get(PATH).status_code == 401


def test_json_gives_each_figure_with_reference_and_verdict(
    api: TestClient, tokens: dict[str, str]
) -> None:
    r = api.get(PATH, params={**PERIOD, "site": "hq"}, headers=bearer(tokens["viewer"]))
    assert r.status_code == 200, r.text
    body = r.json()
    got = {f["figure"]: f for f in body["figures"]}
    assert got["alerts"]["value"] == EXPECTED["alerts"]
    assert got["chattering_pairs"]["value"] == 2 and got["chattering_pairs"]["verdict"] == "over"
    assert got["flood_intervals_pct"]["reference"]["target"] == 1
    assert body["sites"] == ["hq"] and body["intervals"] == 144
    # The small registry has 3 devices at hq: 7 false/unwanted in a day -> 7/3*100*365.25.
    assert body["devices"] == 3
    assert got["false_unwanted_per_100_devices_per_year"]["value"] == pytest.approx(85225.0)
    assert body["severity_mapping"] == {"critical": "high", "major": "medium", "minor": "low"}


def test_a_site_scoped_token_sees_its_sites_only(api: TestClient, rt: Runtime) -> None:
    annex = bearer(create_token(rt.engine, "annex-viewer", "viewer", sites=["annex"]))
    body = api.get(PATH, params=PERIOD, headers=annex).json()
    assert {f["figure"]: f["value"] for f in body["figures"]}["alerts"] == 1
    other = api.get(PATH, params={**PERIOD, "site": "hq"}, headers=annex).json()
    assert other["sites"] == [] and other["figures"][0]["value"] == 0


def test_csv_is_one_row_per_figure_with_the_period(
    api: TestClient, tokens: dict[str, str]
) -> None:
    r = api.get(PATH, params={**PERIOD, "site": "hq", "format": "csv"},
                headers=bearer(tokens["viewer"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == ["from", "to", "site", "figure", "value", "reference", "verdict"]
    assert [row["figure"] for row in rows] == list(EXPECTED)
    assert {row["from"] for row in rows} == {START.isoformat()}
    assert next(r for r in rows if r["figure"] == "alerts_per_10min_peak")["value"] == "12"


def test_a_period_beyond_the_limit_is_422_naming_the_field(
    api: TestClient, tokens: dict[str, str]
) -> None:
    h = bearer(tokens["viewer"])
    r = api.get(PATH, params={"from": "2024-01-01T00:00:00Z", "to": "2025-06-01T00:00:00Z"},
                headers=h)
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["query", "from"] and "366 days" in error["msg"]
    reversed_ = api.get(PATH, params={"from": END.isoformat(), "to": START.isoformat()},
                        headers=h)
    assert reversed_.status_code == 400
    bad = api.get(PATH, params={"from": "yesterday"}, headers=h)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "from"]


def test_the_console_names_every_figure_and_verdict_in_every_language() -> None:
    import json
    from pathlib import Path

    from rules.incidents.alarm_health import REFERENCES

    static = Path(__file__).resolve().parents[2] / "api" / "static"
    script = (static / "js" / "alarmhealth.js").read_text("utf-8")
    assert "alarmhealth.f_${f.figure}" in script and "alarmhealth.v_${f.verdict}" in script
    for locale in ("en", "zh-Hant", "zh-Hans"):
        catalog = json.loads((static / "i18n" / f"{locale}.json").read_text("utf-8"))
        wanted = {f"alarmhealth.f_{name}" for name in REFERENCES} | {
            f"alarmhealth.v_{v}" for v in ("ok", "manageable", "over")} | {
            f"alarmhealth.{n}" for n in ("from", "to", "site")}
        assert wanted <= set(catalog), (locale, sorted(wanted - set(catalog)))

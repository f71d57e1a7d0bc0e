"""GET /api/v1/rules/thresholds: the limits the console draws on a device's chart."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import bearer


def test_threshold_rules_list_their_metric_limit_and_selection(
    client: TestClient, tokens: dict[str, str]
) -> None:
    r = client.get("/api/v1/rules/thresholds", headers=bearer(tokens["viewer"]))
    assert r.status_code == 200
    items = {i["rule_id"]: i for i in r.json()["items"]}
    assert "fire_alarm" not in items  # an event rule has no line to draw
    clogged = items["filter_clogged"]
    assert clogged["metric"] == "filter_dp_pa"
    assert clogged["above"] == 250 and clogged["below"] is None
    assert clogged["kinds"] == ["air_handler"]
    assert clogged["grade"] == "P4"


def test_threshold_list_needs_a_token(client: TestClient) -> None:
    assert client.get("/api/v1/rules/thresholds").status_code == 401

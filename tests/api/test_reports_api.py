"""GET /api/v1/reports (JSON and CSV) and GET /api/v1/notifications/deliveries."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.runtime import Runtime
from rules.notify.dispatcher import Notifier
from rules.notify.routes import Route
from tests.api.conftest import bearer, open_ticket, raise_alert
from tests.servers import free_port


@pytest.fixture
def api(rt: Runtime) -> Iterator[TestClient]:
    """The app, whose factory includes the reports router."""
    with TestClient(create_app(rt)) as c:
        yield c


def test_reports_need_a_token(api: TestClient) -> None:
    assert api.get("/api/v1/reports").status_code == 401
    assert api.get("/api/v1/notifications/deliveries").status_code == 401


def test_the_report_counts_this_periods_incidents_with_mtta(
    api: TestClient, rt: Runtime, tokens: dict[str, str]
) -> None:
    alert = raise_alert(rt)
    rt.incidents.transition(alert, "acknowledge", actor="guard", now=time.time() + 30)
    open_ticket(rt)
    r = api.get("/api/v1/reports", headers=bearer(tokens["viewer"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["by_kind"] == {"alert": 1, "ticket": 1}
    assert set(body) >= {"from", "to", "overall", "departments", "by_grade"}
    assert body["departments"]["security"]["acknowledged"] == 1
    assert 29 <= body["departments"]["security"]["mtta_s"] <= 31


def test_the_csv_form_is_text_csv_with_an_all_row(
    api: TestClient, rt: Runtime, tokens: dict[str, str]
) -> None:
    open_ticket(rt)
    r = api.get("/api/v1/reports", params={"format": "csv"}, headers=bearer(tokens["viewer"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows[-1]["department"] == "all" and rows[-1]["tickets"] == "1"


def test_a_period_before_any_incident_is_empty_and_a_reversed_one_is_refused(
    api: TestClient, rt: Runtime, tokens: dict[str, str]
) -> None:
    open_ticket(rt)
    h = bearer(tokens["viewer"])
    old = {"from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z"}
    assert api.get("/api/v1/reports", params=old, headers=h).json()["overall"]["incidents"] == 0
    reversed_ = {"from": "2020-02-01T00:00:00Z", "to": "2020-01-01T00:00:00Z"}
    r = api.get("/api/v1/reports", params=reversed_, headers=h)
    assert r.status_code == 400 and "before" in r.json()["detail"]


def test_the_delivery_log_shows_status_attempts_and_last_error(
    api: TestClient, rt: Runtime, tokens: dict[str, str]
) -> None:
    dead = Route(name="hook", channel="webhook", url=f"http://127.0.0.1:{free_port()}/x",
                 secret="s", backoff_s=60)
    notifier = Notifier(rt.engine, rt.incidents, [dead])
    notifier.catch_up()
    incident = raise_alert(rt)
    notifier.catch_up()
    notifier.deliver_due()
    r = api.get("/api/v1/notifications/deliveries", headers=bearer(tokens["viewer"]))
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 1
    (item,) = page["items"]
    assert (item["incident_id"], item["route"], item["status"], item["attempts"]) == (
        incident, "hook", "pending", 1
    )
    assert item["next_attempt_at"]
    assert item["last_error"] == "ConnectError (details for admins)"  # a viewer: kind only
    admin = api.get("/api/v1/notifications/deliveries", headers=bearer(tokens["admin"]))
    assert "Connection refused" in admin.json()["items"][0]["last_error"]
    filtered = api.get("/api/v1/notifications/deliveries", params={"status": "delivered"},
                       headers=bearer(tokens["viewer"]))
    assert filtered.json() == {"items": [], "total": 0}

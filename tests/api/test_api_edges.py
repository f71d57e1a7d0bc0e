"""API edges a new user trips on (issue 17.17): assign oneself, sort, a ticket's 409, CSV."""

from __future__ import annotations

import csv
import io
import logging
import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.runtime import Runtime
from ingest.mqtt import MqttSession
from tests.api.conftest import bearer, open_ticket, raise_alert


def test_assign_with_no_body_assigns_the_caller(
    rt: Runtime, client: TestClient, tokens: dict[str, str]
) -> None:
    ticket = open_ticket(rt)
    r = client.post(f"/api/v1/incidents/{ticket}/assign",
                    headers=bearer(tokens["maintenance"]))
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["assignee"]) == ("assigned", "maintenance-user")
    r = client.post(f"/api/v1/incidents/{ticket}/assign", json={"assignee": "bob"},
                    headers=bearer(tokens["maintenance"]))
    assert r.json()["assignee"] == "bob"


def test_alerts_list_critical_first_by_default_and_tickets_sort_by_priority(
    rt: Runtime, client: TestClient, tokens: dict[str, str]
) -> None:
    viewer = bearer(tokens["viewer"])
    critical = raise_alert(rt, "fire_alarm", "sd-1")
    time.sleep(0.01)
    major = raise_alert(rt, "door_forced", "door-1")  # newer, but only major
    ids = [i["id"] for i in client.get(
        "/api/v1/incidents", params={"kind": "alert"}, headers=viewer).json()["items"]]
    assert ids == [critical, major]
    ids = [i["id"] for i in client.get(
        "/api/v1/incidents", params={"kind": "alert", "sort": "newest"},
        headers=viewer).json()["items"]]
    assert ids == [major, critical]
    p4 = open_ticket(rt, priority="P4")
    p1 = open_ticket(rt, priority="P1")
    p3 = open_ticket(rt, priority="P3")
    ids = [i["id"] for i in client.get(
        "/api/v1/incidents", params={"kind": "ticket", "sort": "priority"},
        headers=viewer).json()["items"]]
    assert ids == [p1, p3, p4]
    assert client.get("/api/v1/incidents", params={"sort": "loudest"},
                      headers=viewer).status_code == 422


def test_acknowledging_a_ticket_explains_tickets_are_assigned_and_started(
    rt: Runtime, client: TestClient, tokens: dict[str, str]
) -> None:
    ticket = open_ticket(rt)
    r = client.post(f"/api/v1/incidents/{ticket}/acknowledge",
                    headers=bearer(tokens["maintenance"]))
    assert r.status_code == 409
    assert "assign" in r.json()["detail"] and "start" in r.json()["detail"]


def test_the_report_csv_names_its_period_on_every_row(
    rt: Runtime, client: TestClient, tokens: dict[str, str]
) -> None:
    open_ticket(rt)  # now: inside the period below (reports span at most 366 days)
    start = datetime.fromtimestamp(time.time() - 86_400, UTC).strftime("%Y-%m-%dT00:00:00Z")
    end = datetime.fromtimestamp(time.time() + 86_400, UTC).strftime("%Y-%m-%dT00:00:00Z")
    r = client.get("/api/v1/reports", params={"format": "csv", "from": start, "to": end},
                   headers=bearer(tokens["viewer"]))
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and all(row["from"].startswith(start[:19]) for row in rows)
    assert all(row["to"].startswith(end[:19]) for row in rows)


def test_a_clean_stop_of_the_mqtt_session_is_not_a_warning(
    mosquitto, topic_prefix, caplog: pytest.LogCaptureFixture
) -> None:
    s = MqttSession(f"mqtt://127.0.0.1:{mosquitto.port}", f"{topic_prefix}-s",
                    f"{topic_prefix}/#", lambda d: None)
    s.start()
    assert s.wait_connected(10)
    with caplog.at_level(logging.INFO, logger="ingest.mqtt"):
        s.stop()
    assert any("disconnected" in r.message for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]



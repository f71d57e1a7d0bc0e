"""Devices created over the API are registered, expected and evaluated by a running service."""

from __future__ import annotations

import httpx
import pytest

from api.service import Service
from tests.e2e.conftest import ApiServer
from tests.e2e.helpers import Site, one_incident, poll

pytestmark = pytest.mark.slow


def test_a_device_created_over_the_api_then_publishing_is_evaluated_with_its_zone(
    service: Service, api: ApiServer, site: Site
) -> None:
    admin = api.token("alice", "admin")
    with httpx.Client(base_url=api.url, timeout=5,
                      headers={"Authorization": f"Bearer {admin}"}) as http:
        r = http.post("/api/v1/devices", json={
            "id": "hd-new", "kind": "heat_detector", "site": "hq", "zone": "kitchen",
            "name": "Kitchen heat 9"})
        assert r.status_code == 201, r.text
        site.event("hd-new", "alarm")
        alert = poll(lambda: one_incident(service, "detector_alarm", "hd-new"), 10,
                     "a detector_alarm alert for the new detector")
        assert (alert.zone, alert.severity) == ("kitchen", "critical")
        assert one_incident(service, "unregistered_fire_alarm", "hd-new") is None
        page = http.get("/api/v1/devices/hd-new").json()
        assert (page["registered"], page["zone"], page["kind"]) == (True, "kitchen",
                                                                    "heat_detector")


def test_a_device_created_over_the_api_and_never_heard_goes_stale_on_its_own_interval(
    service: Service, api: ApiServer
) -> None:
    admin = api.token("alice", "admin")
    with httpx.Client(base_url=api.url, timeout=5,
                      headers={"Authorization": f"Bearer {admin}"}) as http:
        r = http.post("/api/v1/devices", json={
            "id": "sd-quiet", "kind": "smoke_detector", "site": "hq", "zone": "hall-a",
            "interval_s": 1})
        assert r.status_code == 201, r.text
        ticket = poll(lambda: one_incident(service, "life_safety_stale", "sd-quiet"), 15,
                      "a stale ticket for the silent new detector")
        assert (ticket.priority, ticket.zone) == ("P1", "hall-a")
        assert http.get("/api/v1/devices/sd-quiet").json()["state"] == "stale"

"""Devices kept apart as `ID@SITE` open like any other device the list shows (issue 17.4)."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from api.runtime import Runtime
from devices.reading import Reading
from rules.engine.signals import Signal
from tests.api.conftest import bearer


def test_every_device_the_list_shows_opens_including_id_at_site(
    rt: Runtime, client: TestClient, tokens: dict[str, str]
) -> None:
    now = time.time()
    # sd-1 is registered at hq; the same id published under annex is kept apart as sd-1@annex.
    reading = Reading("annex", "sd-1@annex", "telemetry", now - 1, now - 1,
                      metrics={"temperature_c": 31.0})
    rt.liveness.observe(reading)
    rt.store.write([reading])
    rt.incidents.apply(Signal("fire_alarm", "fire", "annex", "sd-1@annex", now, value="alarm"))
    viewer = bearer(tokens["viewer"])
    listed = [d["id"] for d in client.get("/api/v1/devices", headers=viewer).json()["items"]]
    assert "sd-1@annex" in listed
    one = client.get("/api/v1/devices/sd-1@annex", headers=viewer)
    assert one.status_code == 200, one.text
    assert one.json()["registered"] is False
    history = client.get(
        "/api/v1/devices/sd-1@annex/telemetry",
        params={"metric": "temperature_c", "start": str(now - 60)}, headers=viewer,
    )
    assert history.status_code == 200, history.text
    assert [s["value"] for s in history.json()["samples"]] == [31.0]
    page = client.get("/api/v1/incidents", params={"device_id": "sd-1@annex"}, headers=viewer)
    assert page.status_code == 200, page.text
    assert [i["device_id"] for i in page.json()["items"]] == ["sd-1@annex"]


def test_a_device_id_with_two_at_signs_is_still_refused(
    client: TestClient, tokens: dict[str, str]
) -> None:
    r = client.get("/api/v1/devices/a@b@c", headers=bearer(tokens["viewer"]))
    assert r.status_code == 422

"""POST/PATCH/DELETE /api/v1/devices: admin only, validated, and live at once."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from api.runtime import Runtime
from devices.reading import Reading
from ingest.decode import Decoder
from rules.db.device_registry import DeviceTable
from tests.api.conftest import bearer

NEW = {"id": "hd-9", "kind": "heat_detector", "site": "hq", "zone": "hall-a", "name": "Heat 9"}


def test_an_admin_creates_a_device_that_is_registered_listed_and_decoded_at_once(
    client: TestClient, tokens: dict[str, str], rt: Runtime
) -> None:
    decoder = Decoder(rt.registry)
    before = decoder("sitewatch/hq/hd-9/telemetry", b'{"metrics": {"temperature_c": 20}}', 1.0)
    assert before.kind is None  # unregistered while it does not exist
    r = client.post("/api/v1/devices", json=NEW, headers=bearer(tokens["admin"]))
    assert r.status_code == 201, r.text
    assert r.json()["registered"] is True and r.json()["zone"] == "hall-a"
    # Never heard: the decode above is a bare Decoder call that no liveness observed.
    assert r.json()["state"] == "unknown"
    after = decoder("sitewatch/hq/hd-9/telemetry", b'{"metrics": {"temperature_c": 20}}', 2.0)
    assert (after.kind, after.zone) == ("heat_detector", "hall-a")
    got = client.get("/api/v1/devices/hd-9", headers=bearer(tokens["viewer"]))
    assert got.json()["name"] == "Heat 9"
    change = DeviceTable(rt.engine).changes("hd-9")[0]
    assert (change["action"], change["actor"]) == ("create", "admin-user")


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"kind": "sprinkler"}, "kind"),
        ({"zone": "mars"}, "zone"),
        ({"id": "bad/id"}, "id"),
        ({"site": "h q"}, "site"),
        ({"colour": "red"}, "colour"),
        ({"interval_s": 0}, "interval_s"),
    ],
)
def test_a_bad_device_is_refused_with_422_naming_the_field(
    client: TestClient, tokens: dict[str, str], patch: dict[str, object], field: str
) -> None:
    r = client.post("/api/v1/devices", json={**NEW, **patch}, headers=bearer(tokens["admin"]))
    assert r.status_code == 422, r.text
    assert field in [e["loc"][-1] for e in r.json()["detail"]], r.text


def test_creating_an_existing_id_answers_409(client: TestClient, tokens: dict[str, str]) -> None:
    body = {**NEW, "id": "sd-1"}
    r = client.post("/api/v1/devices", json=body, headers=bearer(tokens["admin"]))
    assert r.status_code == 409


def test_only_an_admin_may_change_devices(client: TestClient, tokens: dict[str, str]) -> None:
    for role in ("viewer", "security", "maintenance"):
        h = bearer(tokens[role])
        assert client.post("/api/v1/devices", json=NEW, headers=h).status_code == 403
        assert client.patch("/api/v1/devices/sd-1", json={}, headers=h).status_code == 403
        assert client.delete("/api/v1/devices/sd-1", headers=h).status_code == 403
    assert client.post("/api/v1/devices", json=NEW).status_code == 401


def test_a_patch_moves_a_device_and_readings_carry_its_new_zone(
    client: TestClient, tokens: dict[str, str], rt: Runtime
) -> None:
    decoder = Decoder(rt.registry)
    decoder("sitewatch/hq/sd-1/event", b'{"event": "alarm"}', 1.0)
    r = client.patch("/api/v1/devices/sd-1", json={"zone": "lab", "name": "Lab smoke"},
                     headers=bearer(tokens["admin"]))
    assert r.status_code == 200, r.text
    assert (r.json()["zone"], r.json()["name"]) == ("lab", "Lab smoke")
    reading = decoder("sitewatch/hq/sd-1/event", b'{"event": "alarm"}', 2.0)
    assert reading.zone == "lab"
    bad = client.patch("/api/v1/devices/sd-1", json={"kind": None},
                       headers=bearer(tokens["admin"]))
    assert bad.status_code == 422
    missing = client.patch("/api/v1/devices/nope", json={"name": "x"},
                           headers=bearer(tokens["admin"]))
    assert missing.status_code == 404


def test_retiring_a_device_unregisters_it_and_keeps_its_history(
    client: TestClient, tokens: dict[str, str], rt: Runtime
) -> None:
    now = time.time()
    rt.store.write([Reading("hq", "ahu-1", "telemetry", now - 10, now - 10, kind="air_handler",
                            zone="roof", metrics={"filter_dp_pa": 120.0})])
    r = client.delete("/api/v1/devices/ahu-1", headers=bearer(tokens["admin"]))
    assert r.status_code == 200, r.text
    assert r.json()["retired_by"] == "admin-user"
    assert "ahu-1" not in rt.registry.devices
    assert client.get("/api/v1/devices/ahu-1", headers=bearer(tokens["viewer"])).status_code == 404
    assert rt.store.query("ahu-1", "filter_dp_pa", now - 60, now)  # history kept
    again = client.delete("/api/v1/devices/ahu-1", headers=bearer(tokens["admin"]))
    assert again.status_code == 404
    back = client.post("/api/v1/devices", headers=bearer(tokens["admin"]), json={
        "id": "ahu-1", "kind": "air_handler", "site": "annex", "zone": "roof"})
    assert back.status_code == 201
    assert json.loads(back.text)["registered"] is True

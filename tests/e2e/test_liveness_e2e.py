"""Issue 5, device liveness through the real broker with one-second intervals."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.service import Service
from devices.snapshot import DeviceSnapshot
from rules.db.database import open_database
from rules.db.device_states import DeviceStateStore
from tests.api.conftest import bearer
from tests.e2e.conftest import ApiServer, Services
from tests.e2e.helpers import Site, incidents_of, one_incident, poll
from tests.servers import Server

INTERVAL_S = 1.0  # every test device's expected reporting interval
STALE_S = 3 * INTERVAL_S
REGISTRY = """
devices:
  - {id: zs-fast, kind: zone_sensor, site: hq, zone: lab, name: Lab sensor, interval_s: 1}
  - {id: sd-fast, kind: smoke_detector, site: hq, zone: lab, name: Lab smoke, interval_s: 1}
  - {id: door-lw, kind: door, site: hq, zone: lab, name: Lab door, interval_s: 1}
"""

# A door controller that sets `offline` as its retained last will, says `online`, then idles.
DEVICE = textwrap.dedent(
    """
    import sys, time
    import paho.mqtt.client as mqtt
    port, topic, client_id = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    c.will_set(topic, "offline", qos=1, retain=True)
    c.connect("127.0.0.1", port, keepalive=60)
    c.loop_start()
    c.publish(topic, "online", qos=1, retain=True).wait_for_publish(10)
    print("online", flush=True)
    telemetry = topic.rsplit("/", 1)[0] + "/telemetry"
    for _ in range(240):  # a live device reports; a status alone is no sign of life
        c.publish(telemetry, '{"metrics": {"door_open": false}}', qos=1)
        time.sleep(0.5)
    """
)


@pytest.fixture
def service(services: Services, tmp_path: Path) -> Service:
    """A Service over a registry of one-second devices."""
    registry = tmp_path / "devices.yaml"
    registry.write_text(REGISTRY, "utf-8")
    return services.start(devices=registry)


@pytest.fixture
def viewer(api: ApiServer) -> Iterator[httpx.Client]:
    """An HTTP client on the API with a viewer token."""
    token = api.token("viewer-vic", "viewer")
    with httpx.Client(base_url=api.url, headers=bearer(token), timeout=5) as http:
        yield http


def device(http: httpx.Client, device_id: str) -> dict[str, Any]:
    """GET /api/v1/devices/{id}."""
    r = http.get(f"/api/v1/devices/{device_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def when(http: httpx.Client, device_id: str, state: str, timeout: float) -> dict[str, Any]:
    """The device as the API shows it once it is heard from and in `state`.

    (A device not yet heard since start is `online` on three intervals of grace.)
    """

    def probe() -> dict[str, Any] | None:
        d = device(http, device_id)
        return d if d["state"] == state and d["last_seen"] is not None else None

    return poll(probe, timeout, f"{device_id} {state}")


def at(text: str) -> datetime:
    """An API timestamp."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_device_that_stops_reporting_is_stale_after_three_intervals_and_online_again_after(
    service: Service, viewer: httpx.Client, site: Site
) -> None:
    site.telemetry("zs-fast", temperature_c=22.5)
    online = when(viewer, "zs-fast", "online", 5)
    assert online["latest"]["temperature_c"]["value"] == 22.5
    last_seen = at(online["last_seen"])

    stale = when(viewer, "zs-fast", "stale", STALE_S + 3)
    assert at(stale["last_seen"]) == last_seen
    assert at(stale["since"]) - last_seen == timedelta(seconds=STALE_S)

    site.telemetry("zs-fast", temperature_c=22.7)
    back = when(viewer, "zs-fast", "online", 5)
    assert at(back["last_seen"]) > last_seen
    # Only fire devices are life-safety: a silent zone sensor opens no P1 ticket.
    assert incidents_of(service, "life_safety_stale", "zs-fast") == []


def test_a_silent_smoke_detector_raises_a_p1_ticket_that_resolves_when_it_reports_again(
    service: Service, viewer: httpx.Client, site: Site
) -> None:
    site.telemetry("sd-fast", smoke_obscuration_pct_per_m=0.1, battery_pct=90.0)
    last_seen = at(when(viewer, "sd-fast", "online", 5)["last_seen"])

    ticket = poll(lambda: one_incident(service, "life_safety_stale", "sd-fast"), STALE_S + 3,
                  "life-safety ticket")
    assert (ticket.kind, ticket.priority, ticket.department) == ("ticket", "P1", "maintenance")
    assert ticket.state == "open" and ticket.auto_resolve
    assert ticket.opened_at >= last_seen + timedelta(seconds=STALE_S)
    assert ticket.respond_by == ticket.opened_at + timedelta(minutes=15)
    assert ticket.resolve_by == ticket.opened_at + timedelta(hours=4)
    assert device(viewer, "sd-fast")["state"] == "stale"

    site.telemetry("sd-fast", smoke_obscuration_pct_per_m=0.1, battery_pct=90.0)
    poll(lambda: (t := one_incident(service, "life_safety_stale", "sd-fast")) is not None
         and t.state == "resolved", 5, "life-safety ticket resolved")
    assert device(viewer, "sd-fast")["state"] == "online"


def test_a_killed_device_is_offline_by_its_last_will(
    service: Service, viewer: httpx.Client, mosquitto: Server, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}/hq/door-lw/status"
    proc = subprocess.Popen(
        [sys.executable, "-c", DEVICE, str(mosquitto.port), topic, f"{topic_prefix}-door-lw"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "online"
        when(viewer, "door-lw", "online", 5)
        killed = time.time()
        proc.kill()  # no DISCONNECT: the broker publishes the will
        proc.wait(5)
        offline = when(viewer, "door-lw", "offline", 5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert at(offline["since"]).timestamp() >= killed  # the will, not the retained `online`
    ticket = poll(lambda: one_incident(service, "device_offline", "door-lw"), 5, "offline ticket")
    assert (ticket.priority, ticket.department, ticket.state) == ("P3", "maintenance", "open")


def serve_api(service: Service) -> ApiServer:
    """A started API server over `service` (one per run of the service)."""
    server = ApiServer(service)
    server.start()
    return server


def test_a_restart_keeps_each_device_last_seen_and_counts_its_staleness_from_it(
    services: Services, service: Service, site: Site, tmp_path: Path
) -> None:
    first = serve_api(service)
    try:
        token = first.token("viewer-vera", "viewer")
        with httpx.Client(base_url=first.url, headers=bearer(token), timeout=5) as http:
            site.telemetry("zs-fast", temperature_c=21.5)
            heard = when(http, "zs-fast", "online", 5)
    finally:
        first.stop()
    services.stop(service)  # a clean shutdown saves what liveness saw last

    second = serve_api(services.start(devices=tmp_path / "devices.yaml"))
    try:
        with httpx.Client(base_url=second.url, headers=bearer(token), timeout=5) as http:
            r = http.get("/api/v1/devices", params={"kind": "zone_sensor"})
            assert r.status_code == 200, r.text
            again = r.json()["items"][0]  # the list shows liveness only, not the store
            assert again["last_seen"] == heard["last_seen"]
            assert again["latest"]["temperature_c"]["value"] == 21.5
            assert device(http, "door-lw")["last_seen"] is None  # never heard, then or now

            stale = when(http, "zs-fast", "stale", STALE_S + 3)
            assert stale["last_seen"] == heard["last_seen"]
            assert at(stale["since"]) - at(heard["last_seen"]) == timedelta(seconds=STALE_S)
    finally:
        second.stop()


def test_a_detector_silent_before_a_restart_shows_stale_but_gets_its_p1_only_after_a_grace(
    services: Services, tmp_path: Path
) -> None:
    registry = tmp_path / "slow.yaml"  # grace after start: 6 s for sd-slow, 3 min for sd-minute
    registry.write_text(
        "devices:\n"
        "  - {id: sd-slow, kind: smoke_detector, site: hq, zone: lab, interval_s: 2}\n"
        "  - {id: sd-minute, kind: smoke_detector, site: hq, zone: lab, interval_s: 60}\n",
        "utf-8",
    )
    heard = time.time() - 1000  # last heard long before this start, saved by a previous run
    engine = open_database(services.settings().database_url)
    try:
        DeviceStateStore(engine).save([
            DeviceSnapshot(d, "hq", "lab", "smoke_detector", True, heard, heard - 600, None,
                           {"battery_pct": (heard, 70.0)})
            for d in ("sd-slow", "sd-minute")
        ])
    finally:
        engine.dispose()

    started = time.time()
    service = services.start(devices=registry)
    state = service.liveness.state("sd-slow", time.time())
    assert state is not None and (state.state, state.last_seen) == ("stale", heard)  # the truth
    ticket = poll(lambda: one_incident(service, "life_safety_stale", "sd-slow"), 15, "P1")
    # Not at once (a restart must not open a ticket per device), but three intervals after it.
    assert ticket.opened_at.timestamp() >= started + 6 - 0.5
    assert (ticket.priority, ticket.state) == ("P1", "open")
    # Silent for 1000 s by its saved last seen, yet still in its grace: no ticket yet.
    assert incidents_of(service, "life_safety_stale", "sd-minute") == []

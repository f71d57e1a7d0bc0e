"""Issue 11, health that tells the truth: liveness apart from readiness; the disk high-water mark.

Real Mosquitto; the time-series store is an InfluxDB address nobody answers on.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.e2e.conftest import ApiServer, Services
from tests.e2e.helpers import Site, one_incident, poll
from tests.servers import free_port


def get(url: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a GET, 5xx included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


@pytest.mark.slow
def test_buffering_through_an_influx_outage_is_alive_and_ready_and_a_dead_thread_is_not_alive(
    services: Services,
) -> None:
    service = services.start(influx_url=f"http://127.0.0.1:{free_port()}", influx_api="v1")
    api = ApiServer(service)
    api.start()
    try:
        status, ready = get(f"{api.url}/api/v1/health")
        store = ready["checks"]["store"]
        assert (store["reachable"], store["buffering"], store["ok"]) == (False, True, True)
        assert ready["checks"]["life_safety"]["connected"] is True
        status, live = get(f"{api.url}/api/v1/health/live")
        assert status == 200 and live["checks"]["threads"]["ok"] is True

        service.store_consumer.stop()  # a thread of ours is gone: restart me
        status, live = get(f"{api.url}/api/v1/health/live")
        assert status == 503
        assert live["checks"]["threads"]["threads"]["store_consumer"] is False
    finally:
        api.stop()


READINGS = 50


@pytest.mark.slow
def test_past_the_hard_limit_telemetry_waits_at_the_broker_but_a_fire_alarm_still_opens(
    services: Services, site: Site
) -> None:
    service = services.start(log_soft_limit_mb=0, log_hard_limit_mb=0.000_001)
    poll(lambda: service.disk.health()["state"] == "refusing", 5, "the hard limit reached")
    for _ in range(READINGS):
        site.telemetry("zs-01", temperature_c=21.0)
    site.event("fp-01", "fire_alarm", zones=["plant"])
    site.publisher.close(timeout=10)  # every message is the broker's
    alert = poll(lambda: one_incident(service, "fire_alarm", "fp-01"), 10, "fire alarm")
    assert alert.severity == "critical"
    poll(lambda: service.disk.refused >= 1, 10, "telemetry refused")
    assert service.counters.snapshot()["accepted"] == 1  # the alarm alone
    assert service.health()["buffer"]["ok"] is False

    service.disk.hard_bytes = 1 << 40  # room again: the broker redelivers what it kept
    poll(lambda: service.counters.snapshot()["handled"].get("store", 0) >= READINGS + 1, 20,
         "the refused telemetry stored after all")
    assert service.counters.snapshot()["seq_lost_total"] == 0

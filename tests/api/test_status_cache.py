"""/status recomputes device and incident counts at most once a second; ingest counters live."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from api.endpoints.status import REFRESH_S, _OverviewCache
from api.runtime import Runtime
from devices.reading import Reading
from tests.api.conftest import bearer, raise_alert


class FakeMonotonic:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_counts_are_reused_within_a_second_and_recomputed_after_it(rt: Runtime) -> None:
    clock = FakeMonotonic()
    cache = _OverviewCache(clock)
    first = cache.get(rt)
    raise_alert(rt)
    now = time.time()
    rt.liveness.observe(Reading("hq", "ghost-1", "status", now, now, status="offline"))
    clock.now += REFRESH_S * 0.9
    assert cache.get(rt) is first
    clock.now += REFRESH_S * 0.2
    fresh = cache.get(rt)
    assert fresh.summary["active_alerts"]["critical"] == first.summary["active_alerts"][
        "critical"] + 1
    assert fresh.devices.by_state["offline"] == first.devices.by_state["offline"] + 1


def test_ingest_counters_in_status_are_live_between_refreshes(
    rt: Runtime, client: TestClient, tokens: dict[str, str]
) -> None:
    headers = bearer(tokens["viewer"])
    before = client.get("/api/v1/status", headers=headers).json()
    rt.counters.add_received(7)
    after = client.get("/api/v1/status", headers=headers).json()
    assert after["ingest"]["received"] == before["ingest"]["received"] + 7

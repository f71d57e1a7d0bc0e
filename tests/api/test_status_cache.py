"""/status recomputes device and incident counts at most once a second; ingest counters live."""

from __future__ import annotations

import threading
import time

import pytest
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


def test_while_one_request_refreshes_the_others_answer_the_previous_counts_at_once(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeMonotonic()
    cache = _OverviewCache(clock)
    first = cache.get(rt)
    clock.now += REFRESH_S * 1.5
    entered, release = threading.Event(), threading.Event()
    summary = rt.incidents.summary

    def slow_summary(now: float, sites: frozenset[str] | None = None) -> dict[str, object]:
        entered.set()
        assert release.wait(30), "the test never released the refresh"
        return summary(now, sites)

    monkeypatch.setattr(rt.incidents, "summary", slow_summary)
    refreshed: list[object] = []
    refresher = threading.Thread(target=lambda: refreshed.append(cache.get(rt)))
    refresher.start()
    try:
        assert entered.wait(30)
        assert cache.get(rt) is first  # does not wait for the refresh, does not start another
    finally:
        release.set()
        refresher.join(30)
    (fresh,) = refreshed
    assert fresh is not first and cache.get(rt) is fresh

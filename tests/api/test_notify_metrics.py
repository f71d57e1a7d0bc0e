"""Per-route notification figures in /metrics: pending, age of the oldest, failures, breaker."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from api.runtime import Runtime
from api.tokens import create_token
from rules.notify.dispatcher import Notifier
from rules.notify.routes import Route
from tests.api.conftest import raise_alert
from tests.servers import free_port


def test_metrics_show_each_routes_pending_oldest_age_failures_and_breaker(rt: Runtime) -> None:
    dead = Route(name="dead-hook", channel="webhook", url=f"http://127.0.0.1:{free_port()}/x",
                 secret="s", backoff_s=0, breaker_failures=1)
    notifier = Notifier(rt.engine, rt.incidents, [dead])
    notifier.catch_up()
    raise_alert(rt)
    notifier.catch_up()
    notifier.deliver_due()  # refused: one failure opens this breaker
    rt.notify_stats = notifier.health
    scraper = create_token(rt.engine, "scraper", "viewer")  # /metrics needs a token
    with TestClient(create_app(rt)) as client:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {scraper}"}).text
    assert 'sitewatch_notify_pending{route="dead-hook"} 1.0' in text
    assert 'sitewatch_notify_failures{route="dead-hook"} 1.0' in text
    assert 'sitewatch_notify_breaker_open{route="dead-hook"} 1.0' in text
    assert 'sitewatch_notify_oldest_pending_age_seconds{route="dead-hook"}' in text
    health = notifier.health()
    assert health["open_breakers"] == ["dead-hook"]
    assert health["routes"]["dead-hook"]["oldest_pending_age_s"] >= 0

"""What deploy/ monitoring names exists in a running Sitewatch: a rename breaks this test,
not a production alert or dashboard."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.test_prometheus_rules import sitewatch_series_in_rules
from tests.e2e.conftest import ApiServer, Services
from tests.e2e.helpers import Site, poll
from tests.servers import free_port

pytestmark = pytest.mark.slow


def _exported(api: ApiServer, token: str) -> dict[str, set[str]]:
    text = httpx.get(f"{api.url}/metrics", headers={"Authorization": f"Bearer {token}"},
                     timeout=10).text
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            checks = exported.setdefault(sample.name, set())
            if "check" in sample.labels:
                checks.add(sample.labels["check"])
    return exported


def test_every_metric_and_health_check_the_prometheus_rules_name_is_exported(
    services: Services, site: Site, tmp_path: Path
) -> None:
    routes = tmp_path / "routes.yaml"  # one route, so the per-route series exist
    routes.write_text(f"routes:\n  - name: hook\n    channel: webhook\n"
                      f"    url: http://127.0.0.1:{free_port()}/x\n    secret: s\n")
    api = ApiServer(services.start(notifications=routes))
    api.start()
    try:
        _check_names(api, site)
    finally:
        api.stop()


def _check_names(api: ApiServer, site: Site) -> None:
    scraper = api.token("prometheus", "viewer")
    site.telemetry("zs-01", temperature_c=21.0)  # a reading through, so every series exists
    exported = poll(lambda: (e := _exported(api, scraper)).get("sitewatch_ingest_log_depth")
                    is not None and e or None, 15, "the log depth series")
    for name, checks in sitewatch_series_in_rules().items():
        assert name in exported, f"{name} is named by deploy/prometheus but not exported"
        assert checks <= exported[name], f"{name}: health checks {checks - exported[name]} missing"

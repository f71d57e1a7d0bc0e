"""What deploy/ monitoring names exists in a running Sitewatch: a rename breaks this test,
not a production alert or dashboard."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.test_prometheus_rules import sitewatch_series_in_rules
from tests.e2e.conftest import ApiServer

pytestmark = pytest.mark.slow


def test_every_metric_and_health_check_the_prometheus_rules_name_is_exported(
    api: ApiServer,
) -> None:
    text = httpx.get(f"{api.url}/metrics", timeout=10).text
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            checks = exported.setdefault(sample.name, set())
            if "check" in sample.labels:
                checks.add(sample.labels["check"])
    for name, checks in sitewatch_series_in_rules().items():
        assert name in exported, f"{name} is named by deploy/prometheus but not exported"
        assert checks <= exported[name], f"{name}: health checks {checks - exported[name]} missing"

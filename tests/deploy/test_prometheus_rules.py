"""Prometheus rules for Sitewatch's own health: valid, and alerting as their unit tests say."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.servers import missing

RULES_DIR = Path(__file__).parents[2] / "deploy" / "prometheus"
RULES = RULES_DIR / "sitewatch.rules.yml"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        missing("promtool (Debian package prometheus)")
    assert path is not None
    return path


def sitewatch_series_in_rules() -> dict[str, set[str]]:
    """Every sitewatch_* metric the rules name, with the `check` label values they ask for."""
    names: dict[str, set[str]] = {}
    for group in yaml.safe_load(RULES.read_text("utf-8"))["groups"]:
        for rule in group["rules"]:
            for m in re.finditer(r"\b(sitewatch_[a-z_]+)(\{[^}]*\})?", rule["expr"]):
                checks = names.setdefault(m.group(1), set())
                checks.update(re.findall(r'check="([a-z_]+)"', m.group(2) or ""))
    return names


def test_promtool_accepts_the_rules_file() -> None:
    out = subprocess.run([_promtool(), "check", "rules", str(RULES)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_rules_raise_exactly_what_their_unit_tests_expect() -> None:
    out = subprocess.run([_promtool(), "test", "rules", "sitewatch.rules.test.yml"],
                         cwd=RULES_DIR, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_rules_cover_what_an_operator_must_hear_about() -> None:
    names = {r["alert"] for g in yaml.safe_load(RULES.read_text("utf-8"))["groups"]
             for r in g["rules"]}
    assert {
        "SitewatchIngestStalled", "SitewatchBacklogGrowing", "SitewatchStoreFailing",
        "SitewatchNotificationRouteFailing", "SitewatchDiskHighWater",
        "SitewatchLifeSafetyDevicesStale", "SitewatchCertificateExpiresSoon",
    } <= names

"""The alarm-health report's figures against a seeded history worked out by hand."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from rules.incidents.alarm_health import REFERENCES, alarm_health, alarm_health_csv
from tests.databases import DATABASES
from tests.rules.alarm_history import DEVICES, END, EXPECTED, NOW, START, VERDICTS, seed

# Production runs on PostgreSQL: every test here runs on it as well as on SQLite.
pytestmark = pytest.mark.parametrize("engine", DATABASES, indirect=True)
HQ = frozenset({"hq"})


def figures(report: dict[str, object]) -> dict[str, dict[str, object]]:
    return {f["figure"]: f for f in report["figures"]}  # type: ignore[attr-defined]


def test_every_figure_matches_the_hand_worked_history(engine: sa.Engine) -> None:
    seed(engine)
    report = alarm_health(engine, START, END, NOW, HQ, DEVICES)
    got = {name: f["value"] for name, f in figures(report).items()}
    assert set(got) == set(EXPECTED) == set(REFERENCES)
    for name, value in EXPECTED.items():
        assert got[name] == pytest.approx(value, abs=1e-3), name
    assert report["intervals"] == 144 and report["flood_intervals"] == 1
    assert report["acknowledged"] == 15


def test_each_figure_carries_its_reference_and_verdict(engine: sa.Engine) -> None:
    seed(engine)
    by_name = figures(alarm_health(engine, START, END, NOW, HQ, DEVICES))
    for name, verdict in VERDICTS.items():
        assert by_name[name]["verdict"] == verdict, name
    assert by_name["alerts_per_10min_avg"]["reference"] == {
        "op": "<=", "target": 1, "limit": 2, "source": "ISA-18.2 Table 5, after EEMUA 191"}
    assert by_name["stale_open_now"]["reference"]["source"] == "EEMUA 191"  # type: ignore[index]
    assert by_name["mtta_s"]["reference"] is None


def test_top_pairs_chattering_and_severities_are_listed(engine: sa.Engine) -> None:
    seed(engine)
    report = alarm_health(engine, START, END, NOW, HQ, DEVICES)
    top = [(p["rule_id"], p["device_id"], p["alerts"]) for p in report["top10"]]
    assert top == [
        ("door-forced", "door-1", 6), ("door-forced", "door-2", 3), ("door-forced", "door-3", 3),
        ("fire-alarm", "sd-97", 1), ("fire-alarm", "sd-98", 1), ("fire-alarm", "sd-99", 1),
        ("smoke", "sd-1", 1), ("smoke", "sd-10", 1), ("smoke", "sd-11", 1), ("smoke", "sd-12", 1),
    ]
    assert report["top10"][0]["share_pct"] == pytest.approx(22.22)
    # door-1's first three opens span 50 s, door-2's exactly 60 s; door-3's a microsecond more.
    assert report["chattering"] == [
        {"rule_id": "door-forced", "device_id": "door-1", "chattering_opens": 1},
        {"rule_id": "door-forced", "device_id": "door-2", "chattering_opens": 1},
    ]
    sev = report["by_severity"]
    assert {s: (v["priority"], v["alerts"]) for s, v in sev.items()} == {
        "critical": ("high", 3), "major": ("medium", 12), "minor": ("low", 12)}
    assert sev["minor"]["mtta_s"] == pytest.approx(60.0)
    assert sev["critical"]["mtta_s"] == pytest.approx((300 + 120 + 30.5) / 3, abs=1e-3)
    assert sev["major"]["mtta_s"] is None
    assert [d["device_id"] for d in report["false_alarms_by_device"]][0] == "door-1"


def test_every_site_counts_the_annex_too_and_an_empty_scope_counts_nothing(
    engine: sa.Engine,
) -> None:
    seed(engine)
    everything = figures(alarm_health(engine, START, END, NOW, None, DEVICES))
    assert everything["alerts"]["value"] == 28  # + the annex's alert
    assert everything["alerts_per_10min_peak"]["value"] == 13  # it falls in the flood interval
    assert everything["mtta_s"]["value"] == pytest.approx((1170.5 + 1) / 16, abs=1e-3)
    nothing = figures(alarm_health(engine, START, END, NOW, frozenset(), 0))
    assert nothing["alerts"]["value"] == 0 and nothing["alerts_per_10min_peak"]["value"] == 0
    assert nothing["top10_share_pct"]["value"] is None and nothing["mtta_s"]["value"] is None
    assert nothing["top10_share_pct"]["verdict"] is None
    assert nothing["false_unwanted_per_100_devices_per_year"]["value"] is None


def test_the_csv_has_one_row_per_figure_naming_the_period(engine: sa.Engine) -> None:
    seed(engine)
    report = alarm_health(engine, START, END, NOW, HQ, DEVICES)
    rows = list(csv.DictReader(io.StringIO(alarm_health_csv(report))))
    assert [r["figure"] for r in rows] == list(EXPECTED)
    assert {(r["from"], r["to"], r["site"]) for r in rows} == {
        (START.isoformat(), END.isoformat(), "hq")}
    flood = next(r for r in rows if r["figure"] == "flood_intervals_pct")
    assert flood == {**flood, "value": "0.69", "verdict": "ok",
                     "reference": "< 1 (ISA-18.2 Table 5, after EEMUA 191)"}
    mtta = next(r for r in rows if r["figure"] == "mtta_s")
    assert mtta["reference"] == "" and mtta["verdict"] == ""

"""Retention (issue 17.8): the embedded store forgets what is older than the retention, in the
background and counted; an InfluxDB 1.x database Sitewatch creates gets the same duration."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path

from api.tokens import create_token
from devices.reading import Reading
from ingest.stores.embedded import EmbeddedStore
from ingest.stores.influx_v1 import InfluxV1Store
from ingest.stores.retention import EmbeddedRetention
from tests.servers import Server

DAY = 86_400.0
NOW = 1_800_000_000.0  # Unix seconds


def _readings(ts: float) -> list[Reading]:
    return [
        Reading("hq", "zs-1", "telemetry", ts, ts, kind="zone_sensor", zone="hall",
                metrics={"temperature_c": 21.0, "co2_ppm": 600.0}),
        Reading("hq", "door-1", "event", ts, ts, kind="door", zone="hall",
                event="access_denied", data={"reader": "R1"}),
        Reading("hq", "door-1", "status", ts, ts, kind="door", zone="hall", status="online"),
    ]


def test_the_embedded_store_prunes_what_is_older_than_the_retention_and_counts_it(
    tmp_path: Path,
) -> None:
    store = EmbeddedStore(tmp_path / "telemetry.sqlite3")
    store.write(_readings(NOW - 100 * DAY) + _readings(NOW - 91 * DAY) + _readings(NOW - DAY))
    retention = EmbeddedRetention(store, keep_s=90 * DAY)
    assert retention.run(NOW) == 2 * (2 + 1 + 1)  # two old instants: 2 metrics, 1 event, 1 status
    assert retention.removed_total == 8
    assert [s.ts for s in store.query("zs-1", "co2_ppm", 0, NOW)] == [NOW - DAY]
    assert store.latest("zs-1")["temperature_c"].ts == NOW - DAY
    assert retention.run(NOW) == 0
    store.close()
    # Series written before a restart are still pruned after it.
    again = EmbeddedStore(tmp_path / "telemetry.sqlite3")
    assert EmbeddedRetention(again, keep_s=0.5 * DAY).run(NOW) == 4
    assert again.query("zs-1", "co2_ppm", 0, NOW + 1) == []
    again.close()


def test_a_retention_of_zero_keeps_everything(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "t.sqlite3")
    store.write(_readings(NOW - 1000 * DAY))
    assert EmbeddedRetention(store, keep_s=0).run(NOW) == 0
    assert len(store.query("zs-1", "co2_ppm", 0, NOW)) == 1
    store.close()


def test_a_v1_database_sitewatch_creates_has_the_retention_as_its_default_policy(
    influxdb: Server, influx_db: str
) -> None:
    name = influx_db + "_ret"
    store = InfluxV1Store(f"http://127.0.0.1:{influxdb.port}", name, retention_s=90 * DAY)
    store.write(_readings(NOW)[:1])
    q = urllib.parse.urlencode({"q": f'SHOW RETENTION POLICIES ON "{name}"'})
    with urllib.request.urlopen(f"http://127.0.0.1:{influxdb.port}/query?{q}") as r:
        series = json.load(r)["results"][0]["series"][0]
    rows = [dict(zip(series["columns"], v, strict=True)) for v in series["values"]]
    default = next(p for p in rows if p["default"])
    assert default["duration"] == "2160h0m0s"
    # An existing database is left as it is (its policy is the operator's).
    again = InfluxV1Store(f"http://127.0.0.1:{influxdb.port}", influx_db, retention_s=DAY)
    again.write(_readings(NOW)[:1])
    again.close()
    store.close()


def test_the_service_runs_retention_for_the_embedded_store_only_and_metrics_count_it(
    tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.retention_job import retention_jobs
    from api.settings import Settings
    from tests.api.conftest import build_runtime

    assert Settings().retention_days == 90
    rt = build_runtime(tmp_path)
    [job] = retention_jobs(rt.store, 90)
    assert retention_jobs(rt.store, 0) == []
    rt.store.write(_readings(NOW - 100 * DAY))
    job.run(NOW)
    scraper = create_token(rt.engine, "scraper", "viewer")  # /metrics needs a token
    with TestClient(create_app(rt)) as client:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {scraper}"}).text
    assert "sitewatch_telemetry_retention_removed_total 4.0" in text
    rt.store.close()
    rt.engine.dispose()

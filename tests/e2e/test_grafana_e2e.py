"""Every query of deploy/grafana runs against what Sitewatch really wrote: InfluxQL on a real
InfluxDB 1.6.7, SQL on a real PostgreSQL as the read-only Grafana role. A renamed measurement,
field, table or column breaks this test, not a dashboard in production."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from api.service import Service
from tests.deploy.test_grafana import all_targets
from tests.e2e.conftest import Services
from tests.e2e.helpers import Site, one_incident, poll
from tests.servers import Server

pytestmark = pytest.mark.slow
READER_SQL = Path(__file__).parents[2] / "deploy" / "postgres" / "grafana-reader.sql.in"
INFLUXQL_FIELD = re.compile(r'(?:mean|count|max|min|last)\("([a-z0-9_]+)"\)|SELECT "([a-z_]+)"')


def _influxql(q: str) -> str:
    q = q.replace("$timeFilter", "time > now() - 1h").replace("$__interval", "1m")
    return re.sub(r"\$(site|zone|kind|device)\b", ".*", q)


def _sql(q: str) -> str:
    q = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 > now() - INTERVAL '7 days'", q)
    return re.sub(
        r"\$__timeGroupAlias\((\w+), *(\d+)([mhd])\)",
        lambda m: f"date_bin('{m[2]} {dict(m='minutes', h='hours', d='days')[m[3]]}', {m[1]}, "
                  "TIMESTAMPTZ '2000-01-01') AS time",
        q,
    )


def _fields(influx: str, db: str, measurement: str) -> set[str]:
    q = f'SHOW FIELD KEYS FROM "{measurement}"'
    r = httpx.get(f"{influx}/query", params={"db": db, "q": q})
    series = r.json()["results"][0].get("series", [])
    return {row[0] for s in series for row in s["values"]}


def _make_history(service: Service, site: Site) -> None:
    site.telemetry("zs-04", temperature_c=22.5, humidity_pct=41.0, co2_ppm=650)
    site.telemetry("sd-06", smoke_obscuration_pct_per_m=0.1, temperature_c=21.0, battery_pct=90)
    site.telemetry("ahu-01", supply_air_temp_c=14.0, filter_dp_pa=120, fan_running=True)
    for _ in range(3):
        site.event("door-03", "access_denied", reader="R1")
    site.event("fp-01", "fire_alarm", zone="hall-a")
    alert = poll(lambda: one_incident(service, "fire_alarm", "fp-01"), 10, "the fire alert")
    service.incidents.transition(alert.id, "acknowledge", actor="guard")
    ticket = service.incidents.open_ticket(title="Leak", description="", department="maintenance",
                                           priority="P3", actor="t", site="hq", zone="hall-a")
    service.incidents.transition(ticket.id, "start", actor="tech")
    service.incidents.transition(ticket.id, "resolve", actor="tech", note="fixed")


def test_every_dashboard_query_runs_on_the_data_sitewatch_writes(
    services: Services, site: Site, influxdb: Server, influx_db: str, pg_url: str,
    postgres: Server,
) -> None:
    dbname = sa.make_url(pg_url).database
    conninfo = f"host=127.0.0.1 port={postgres.port} dbname={dbname}"
    subprocess.run(
        ["psql", "-v", "ON_ERROR_STOP=1", "-q", "-v", "reader=grafana_reader", "-v",
         "password=pw-grafana", "-v", "owner=postgres", "-v", "schema=public",
         "-f", str(READER_SQL),
         f"{conninfo} user=postgres"], check=True, capture_output=True, timeout=60,
    )  # before Sitewatch creates its tables, as at the database's first start
    influx = f"http://127.0.0.1:{influxdb.port}"
    service = services.start(influx_url=influx, influx_api="v1", influx_db=influx_db,
                             database_url=pg_url)
    _make_history(service, site)
    poll(lambda: len(_fields(influx, influx_db, "telemetry")) >= 8 or None, 20, "stored telemetry")
    poll(lambda: _fields(influx, influx_db, "events") or None, 20, "stored events")

    checked: dict[str, int] = {"influxql": 0, "sql": 0}
    with psycopg.connect(f"{conninfo} user=grafana_reader password=pw-grafana") as reader:
        for dashboard, title, target in all_targets():
            where = f"{dashboard} / {title}"
            if "rawSql" in target:
                rows: list[Any] = reader.execute(_sql(target["rawSql"])).fetchall()
                assert isinstance(rows, list), where
                checked["sql"] += 1
                continue
            q = _influxql(target["query"])
            answer = httpx.get(f"{influx}/query", params={"db": influx_db, "q": q}).json()
            assert "error" not in answer["results"][0], f"{where}: {answer}"
            for measurement in re.findall(r'FROM "([a-z_]+)"', q):
                fields = _fields(influx, influx_db, measurement)
                assert fields, f"{where}: Sitewatch writes no measurement {measurement!r}"
                named = {a or b for a, b in INFLUXQL_FIELD.findall(q)} - {""}
                assert named <= fields, f"{where}: {named - fields} not written to {measurement}"
            checked["influxql"] += 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("UPDATE incidents SET title = 'x'")
    assert checked["influxql"] >= 10 and checked["sql"] >= 15

"""The alarm-health report (SPEC §8.7) over 1,000,000 incidents on a real PostgreSQL.

A PostgreSQL of its own (as the tests start it: initdb, fsync off, default memory settings) is
migrated to head and seeded in the database itself with generate_series: a year of incidents,
90 % alerts over 50 rules x 10,000 devices, a run of three opens within 20 s every 500 rows
(chattering), 80 % acknowledged, 2 % resolved as false or unwanted, 1 % still open. Then, in
process, the report over the whole year is timed N times (median and p95), beside same-run
baselines: a bare `count(*)` of the period's alerts and the existing incident report
(`/api/v1/reports`, which reads every incident into Python) over its default 30 days, beside
the alarm report over those 30 days. The goal is <= 2 s for the year.

    .venv/bin/python -m bench.alarm_report [--incidents 1000000] [--runs 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import percentile
from rules.db.database import open_database
from rules.incidents import alarm_health as ah
from rules.incidents.alarm_health import alarm_health
from rules.incidents.reports import build_report
from tests.servers import postgres

END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=365)
MONTH = END - timedelta(days=30)

SEED = """
INSERT INTO incidents (kind, rule_id, title, description, department, severity, priority, state,
  site, device_id, opened_at, last_seen_at, acknowledged_at, resolved_at, opened_by,
  resolution_code, test)
SELECT kind, 'rule-' || (CASE WHEN i % 500 < 3 THEN i / 500 ELSE i END) % 50, 'seeded', '',
  'security',
  CASE WHEN kind = 'alert' THEN (ARRAY['minor','minor','minor','minor','minor','minor','minor',
    'major','major','critical'])[1 + (i * 7) % 10] END,
  CASE WHEN kind = 'ticket' THEN 'P3' END,
  CASE WHEN i % 100 = 0 THEN (CASE WHEN kind = 'alert' THEN 'active' ELSE 'open' END)
       ELSE 'resolved' END,
  'hq', 'dev-' || (CASE WHEN i % 500 < 3 THEN i / 500 ELSE i * 7919 END) % 10000,
  at, at, CASE WHEN i % 5 <> 0 THEN at + (i % 600) * INTERVAL '1 second' END,
  CASE WHEN i % 100 <> 0 THEN at + (i % 1500) * INTERVAL '1 minute' END, 'rules',
  CASE WHEN i % 100 = 1 THEN 'false_alarm' WHEN i % 100 = 2 THEN 'unwanted' END, false
FROM (
  SELECT i, CASE WHEN i % 10 = 9 THEN 'ticket' ELSE 'alert' END AS kind,
    CASE WHEN i % 500 < 3  -- a chattering run: three opens 10 s apart
         THEN :start + (i / 500) * :span / (:n / 500) + (i % 500) * INTERVAL '10 seconds'
         ELSE :start + random() * :span END AS at
  FROM generate_series(CAST(1 AS BIGINT), :n) AS i
) AS s
"""


def timed(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    """Median, p95, min and max seconds of `runs` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"median_s": round(statistics.median(times), 3),
            "p95_s": round(percentile(times, 95), 3),
            "min_s": round(min(times), 3), "max_s": round(max(times), 3)}


def parts(engine: sa.Engine, runs: int) -> dict[str, float]:
    """Median seconds of each of the report's queries alone (where the time goes)."""
    where = ah._scope(START, END, None)
    d = engine.dialect.name
    now = END
    steps: dict[str, Callable[[sa.Connection], Any]] = {
        "rates": lambda c: ah._rates(c, where, d),
        "pairs_top10_and_chattering": lambda c: ah._pairs(c, where, d),
        "by_severity": lambda c: ah._by_severity(c, where, d, now),
        "stale_now": lambda c: ah._stale_now(c, now, None),
        "false_alarms": lambda c: ah.false_alarm_rates(c, START, END, 10_000),
    }
    out = {}
    with engine.connect() as conn, conn.begin():
        conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")  # as alarm_health does
        conn.exec_driver_sql("SET LOCAL jit = off")
        for name, step in steps.items():
            out[name] = timed(partial(step, conn), max(1, runs // 2))["median_s"]
    return out


def run(n: int, runs: int) -> dict[str, Any]:
    """Start PostgreSQL, seed `n` incidents, time the report and the baselines."""
    work = Path(tempfile.mkdtemp(prefix="sitewatch-alarm-report-"))
    server = postgres(work)
    server.start()
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/postgres"
        engine = open_database(url)
        t = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(sa.text(SEED), {"start": START, "span": END - START, "n": n})
        seed_s = time.perf_counter() - t
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE incidents")
            alerts = conn.exec_driver_sql(
                "SELECT count(*) FROM incidents WHERE kind = 'alert'").scalar_one()
            indexes = conn.exec_driver_sql(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'incidents' ORDER BY 1"
            ).scalars().all()

        def count() -> None:
            with engine.connect() as conn:
                conn.execute(sa.text(
                    "SELECT count(*) FROM incidents WHERE kind = 'alert' AND opened_at >= :s"
                    " AND opened_at < :e"), {"s": START, "e": END}).scalar_one()

        report = alarm_health(engine, START, END, END, None, 10_000)
        load_before = [round(x, 1) for x in os.getloadavg()]
        return {
            "load_average_before": load_before,
            "incidents": n, "alerts": alerts, "seed_s": round(seed_s, 1),
            "period": [START.isoformat(), END.isoformat()], "runs": runs,
            "indexes": indexes,
            "alarm_report": timed(lambda: alarm_health(engine, START, END, END, None, 10_000),
                                  runs),
            "baseline_count": timed(count, runs),
            # The existing incident report reads every incident into Python: 30 days of it.
            "alarm_report_30d": timed(lambda: alarm_health(engine, MONTH, END, END, None, 10_000),
                                      runs),
            "baseline_incident_report_30d": timed(lambda: build_report(engine, MONTH, END, END),
                                                  max(1, runs // 3)),
            "load_average": [round(x, 1) for x in os.getloadavg()],
            "parts_median_s": parts(engine, runs),
            "figures": {f["figure"]: f["value"] for f in report["figures"]},
        }
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    """Parse the options, run, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--incidents", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = ap.parse_args()
    result = run(args.incidents, args.runs)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()

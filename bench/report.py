"""BENCHMARKS.md from the raw figures of bench/results.json (one column per labelled run)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Row = tuple[str, str, Callable[[dict[str, Any]], Any], Callable[[Any], bool] | None]


def _get(*path: str) -> Callable[[dict[str, Any]], Any]:
    def pick(r: dict[str, Any]) -> Any:
        for key in path:
            if not isinstance(r, dict) or key not in r:
                return None
            r = r[key]
        return r

    return pick


def _ratio(r: dict[str, Any]) -> float | None:
    e2e, bare = _get("throughput", "end_to_end_rate")(r), _get("baseline", "rate")(r)
    return round(e2e / bare, 2) if e2e and bare else None


def _api(path: str, c: int, q: str) -> Callable[[dict[str, Any]], Any]:
    return _get("api_memory", "api", f"{path} c={c}", q)


ROWS: list[Row] = [
    ("Sitewatch end to end: every reading in InfluxDB (readings/s)", ">= 10,000",
     _get("throughput", "end_to_end_rate"), lambda v: v >= 10_000),
    ("Sitewatch ingest acked: durable in the log, acked (readings/s)", "",
     _get("throughput", "ingest_acked_rate"), None),
    ("Sitewatch rules evaluated, full pack (readings/s)", "",
     _get("throughput", "rules_rate"), None),
    ("Readings lost (burst of 200,000)", "0", _get("throughput", "lost"), lambda v: v == 0),
    ("Bare paho subscriber, same load (readings/s)", "", _get("baseline", "rate"), None),
    ("Sitewatch / bare subscriber", ">= 0.5", _ratio, lambda v: v >= 0.5),
    ("Load generator rate, broker acks (readings/s)", "",
     _get("throughput", "generator_rate"), None),
    ("Sitewatch CPU during the burst (cores)", "", _get("throughput", "cpu_cores_used"), None),
    ("Sitewatch peak RSS during the burst (MB)", "<= 300", _get("throughput", "peak_rss_mb"),
     lambda v: v <= 300),
    ("Paced run: offered rate (readings/s)", "", _get("throughput", "paced", "target_rate"),
     None),
    ("Paced run: readings lost", "0", _get("throughput", "paced", "lost"), lambda v: v == 0),
    ("Paced run: all stored this long after the last broker ack (s)", "",
     _get("throughput", "paced", "stored_after_last_ack_s"), None),
    ("Alert latency p50 (ms)", "", _get("alert_latency", "p50_ms"), None),
    ("Alert latency p99 (ms)", "<= 100", _get("alert_latency", "p99_ms"), lambda v: v <= 100),
    ("Alert latency max (ms)", "", _get("alert_latency", "max_ms"), None),
    ("Alerts received / triggers", "all",
     lambda r: f"{_get('alert_latency', 'received')(r)}/{_get('alert_latency', 'triggers')(r)}",
     lambda v: v.split("/")[0] == v.split("/")[1]),
]
for _c in (1, 4, 16):
    ROWS += [
        (f"/api/v1/status p50, {_c} concurrent (ms)", "", _api("/status", _c, "p50_ms"), None),
        (f"/api/v1/status p99, {_c} concurrent (ms)", "<= 50", _api("/status", _c, "p99_ms"),
         lambda v: v <= 50),
        (f"/api/v1/status throughput, {_c} concurrent (req/s)", "",
         _api("/status", _c, "rps"), None),
    ]
for _c in (1, 4, 16):
    ROWS += [
        (f"/api/v1/incidents p50, {_c} concurrent (ms)", "", _api("/incidents", _c, "p50_ms"),
         None),
        (f"/api/v1/incidents p99, {_c} concurrent (ms)", "", _api("/incidents", _c, "p99_ms"),
         None),
    ]
ROWS += [
    ("RSS, 10,000 devices all reported (MB)", "<= 300",
     _get("api_memory", "memory", "rss_after_all_reported_mb"), lambda v: v <= 300),
    ("Peak RSS under API load, 100,000 incidents (MB)", "<= 300",
     _get("api_memory", "memory", "peak_rss_under_api_load_mb"), lambda v: v <= 300),
]


def _cell(value: Any, check: Callable[[Any], bool] | None) -> str:
    if value is None:
        return "-"
    text = f"{value:,}" if isinstance(value, int) else str(value)
    if check is None:
        return text
    return f"{text} {'ok' if check(value) else '**missed**'}"


METHOD = """\
## What runs

`python -m bench.run` starts its own Mosquitto (`tests/servers.py`: persistence on,
`max_inflight_messages 1000`) and InfluxDB 1.6.7 in a temporary folder, then, each with a
fresh `sitewatch serve` subprocess (`python -m api.cli serve`, `SITEWATCH_INFLUX_API=v1`,
the built-in rule pack, SQLite database, durable log with `synchronous=FULL`):

1. **Throughput.** Registry of 2,000 devices (zone sensors, heat and smoke detectors in
   turn). Warm-up: one reading per device (not timed). Then 2 generator processes publish
   100 readings per device (200,000, QoS 1, each with its own `ts` and `seq`) as fast as
   the broker acks them. *End to end* = 200,000 / (first publish -> `SELECT count(temperature_c)`
   in InfluxDB equals the total); *acked* and *rules* are the same from the service's own
   counters (`/api/v1/status`: `accepted`, `handled.rules`). CPU = user+system seconds of
   the service process over that time; RSS sampled every 100 ms (psutil). Then a paced run
   at 90 % of the burst rate for about 20 s checks that the rate holds (nothing lost, no
   backlog left at the end).
2. **Baseline.** The same generator feeding a paho-mqtt 2.2 subscriber in its own process
   (QoS 1, persistent session, `on_message` only counts).
3. **Alert latency.** 2,000 devices at 1,000 readings/s background; 250 fire panels each
   publish one `fire_alarm` (paho, QoS 1), 25 per second. Latency = publish -> the `opened`
   event of that panel's incident read from `GET /api/v1/stream` (httpx), same clock.
4. **API latency.** The SQLite database is seeded with 100,000 incidents and their timelines
   (5 % open) before start; registry of 10,000 devices; each device reports 3 readings. Then
   the load tool runs 8 s per endpoint and concurrency level:
   `wrk -t2 -cC -d8s --latency -H "Authorization: Bearer ..." http://127.0.0.1:PORT/api/v1/status`
   (and `/api/v1/incidents`, first page of 50); without wrk, an httpx asyncio client pool.
5. **Memory.** RSS of that same service once all 10,000 devices have reported, and its peak
   under the API load.

Load generator: payloads are built before the clock starts; each worker process writes
pre-encoded MQTT 3.1.1 QoS 1 PUBLISH packets to a plain socket and counts the broker's
PUBACKs. A paho publisher per process reached only ~6,400 msg/s with 2 processes on this
machine (it then bounds both consumers); the raw socket sends the same wire traffic for a
fraction of the CPU, which leaves the cores to the broker and the consumer under test.
All of it (generators, Mosquitto, InfluxDB, Sitewatch, wrk) shares this one machine.
"""


def render(runs: dict[str, dict[str, Any]], latest: str, findings: str = "") -> str:
    """The whole BENCHMARKS.md: figures of every run, machine, method, findings."""
    labels = [k for k in runs if k != latest] + [latest]
    head = "| figure | target | " + " | ".join(labels) + " |"
    lines = [
        "# Benchmarks",
        "",
        "Written by `.venv/bin/python -m bench.run --label LABEL` (about 3 minutes on this "
        "machine); raw figures in `bench/results.json`. Not run by CI. Columns are labelled runs, "
        f"the newest last (`{latest}`).",
        "",
        "## Figures",
        "",
        head,
        "|" + "---|" * (len(labels) + 2),
    ]
    for name, target, pick, check in ROWS:
        cells = [_cell(pick(runs[k]["results"]), check) for k in labels]
        lines.append(f"| {name} | {target} | " + " | ".join(cells) + " |")
    m = runs[latest]["machine"]
    lines += [
        "",
        "## Machine",
        "",
        f"- {m['cores']} cores, {m['ram_gb']} GiB RAM, {m['cpu']}",
        f"- {m['os']}; Python {m['python']}, paho-mqtt {m['paho_mqtt']}",
        f"- {m['mosquitto']}; InfluxDB {m['influxdb']}; {m['wrk']}",
        "",
        "## Commands",
        "",
    ]
    for k in labels:
        lines.append(f"- `{k}`: `{runs[k]['command']}` at {runs[k]['at']}, "
                     f"{runs[k]['wall_s']} s wall")
    lines += ["", METHOD]
    if findings:
        lines += [findings]
    return "\n".join(lines) + "\n"

"""Benchmarks 4 and 5: API latency with 10,000 devices and 100,000 incidents, and memory.

The relational database is seeded before the service starts (bulk inserts through the
rules.db.schema tables: 100,000 incidents, each with its timeline, 5 % of them still open).
Every registered device then reports a few readings, so liveness knows all of them; the RSS
is taken once they are all in InfluxDB (benchmark 5). Then a load tool (wrk, else a Python
httpx client pool) hits /api/v1/status and /api/v1/incidents at a few concurrency levels.
"""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import TOKEN, PeakRss, Serve, Servers, influx_count, percentile, wait_until
from bench.loadgen import KIND_CYCLE, Load, device_id, registry_yaml, split
from rules.db.database import open_database
from rules.db.schema import incident_timeline, incidents

SITE = "hq"
OPEN_SHARE = 0.05  # of seeded incidents still open (the rest resolved over the past year)


def seed_incidents(url: str, count: int, devices: int, seed: int = 11) -> float:
    """Bulk-insert `count` incidents with their timelines; returns the seconds it took."""
    rng = random.Random(seed)
    engine = open_database(url)
    now = datetime.now(UTC)
    start = time.perf_counter()
    rows, entries = [], []
    open_left = int(count * OPEN_SHARE)
    for n in range(1, count + 1):
        dev = device_id(n % devices)
        opened = now - timedelta(seconds=rng.uniform(3600, 365 * 86400))
        alert = rng.random() < 0.4
        is_open = n > count - open_left  # the newest ones are the open ones
        rule = "door_forced" if alert else "zone_too_warm"
        if alert:
            state = "acknowledged" if is_open else "resolved"
        else:
            state = "assigned" if is_open else "resolved"
        if is_open:
            opened = now - timedelta(seconds=rng.uniform(60, 3000))
        resolved = None if is_open else opened + timedelta(minutes=rng.uniform(5, 600))
        rows.append({
            "id": n, "kind": "alert" if alert else "ticket", "rule_id": rule,
            "title": "Door forced open" if alert else "Zone too warm",
            "description": "seeded by bench/api_latency.py", "department": (
                "security" if alert else "maintenance"),
            "severity": rng.choice(("critical", "major")) if alert else None,
            "priority": None if alert else rng.choice(("P2", "P3", "P4")),
            "state": state, "site": SITE, "zone": f"z{n % 50:02d}", "device_id": dev,
            "latching": False, "auto_resolve": False, "occurrences": rng.randint(1, 3),
            "opened_at": opened, "last_seen_at": opened,
            "acknowledged_at": opened + timedelta(minutes=1) if alert else None,
            "resolved_at": resolved, "assignee": None if alert else "tech-1",
            # Deadlines of open tickets lie ahead, so no SLA job rewrites thousands at start.
            "respond_by": None if alert else now + timedelta(days=3),
            "resolve_by": None if alert else now + timedelta(days=14),
            "opened_by": f"rule:{rule}",
            "open_key": f"{rule}|{dev}|{n}" if is_open else None,
        })
        entries.append({"incident_id": n, "at": opened, "actor": f"rule:{rule}",
                        "action": "opened", "from_state": None,
                        "to_state": "active" if alert else "open", "note": ""})
        if resolved is not None:
            entries.append({"incident_id": n, "at": resolved, "actor": "guard-1",
                            "action": "resolved", "from_state": "acknowledged" if alert
                            else "assigned", "to_state": "resolved", "note": "done"})
    with engine.begin() as conn:
        conn.execute(incidents.insert(), rows)
        conn.execute(incident_timeline.insert(), entries)
    engine.dispose()
    return time.perf_counter() - start


def wrk(url: str, connections: int, seconds: int) -> dict[str, Any]:
    """Run wrk against url; p50/p99 in ms, requests/s, non-2xx responses."""
    out = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-H", f"Authorization: Bearer {TOKEN}", url],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\b", out, re.M)
        if not m:
            raise RuntimeError(f"no {label}% in wrk output:\n{out}")
        return float(m[1]) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m[2]]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"p50_ms": round(ms("50"), 1), "p99_ms": round(ms("99"), 1),
            "rps": round(float(rps[1]) if rps else 0.0), "errors": int(bad[1]) if bad else 0}


async def _httpx_load(url: str, connections: int, seconds: int) -> dict[str, Any]:
    lat: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            t = time.perf_counter()
            r = await client.get(url)
            lat.append((time.perf_counter() - t) * 1000)
            errors += r.status_code >= 300

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(connections)))
    return {"p50_ms": round(percentile(lat, 50), 1), "p99_ms": round(percentile(lat, 99), 1),
            "rps": round(len(lat) / seconds), "errors": errors}


def load_tool() -> str:
    """wrk when installed, else the Python httpx client pool."""
    return "wrk" if shutil.which("wrk") else "httpx"


def hit(url: str, connections: int, seconds: int) -> dict[str, Any]:
    """Latency of url under `connections` concurrent clients for `seconds`."""
    if load_tool() == "wrk":
        return wrk(url, connections, seconds)
    return asyncio.run(_httpx_load(url, connections, seconds))


def run(servers: Servers, workdir: Path, devices: int = 10_000, seeded: int = 100_000,
        per_device: int = 3, concurrency: tuple[int, ...] = (1, 4, 16), seconds: int = 8,
        prefix: str = "api") -> dict[str, Any]:
    """Seed, start, have every device report, take RSS, then measure both endpoints."""
    workdir.mkdir(parents=True, exist_ok=True)
    reg = workdir / "devices.yaml"
    reg.write_text(registry_yaml(devices, SITE))
    url = f"sqlite:///{workdir}/sitewatch.db"
    seed_s = seed_incidents(url, seeded, devices)
    db = f"bench_{prefix}"
    # Serving capacity, not the per-token limit (SPEC §7, bench/security_limits.py): one token
    # at 16 connections is over 6,000/minute, and its 429s would be timed as answers.
    serve = Serve(servers.mqtt, servers.influx, workdir, db, reg, prefix, database_url=url,
                  extra_env={"SITEWATCH_RATE_LIMIT": "1000000/second"})
    serve.start()
    try:
        rss_idle = serve.rss_mb()
        with PeakRss(serve.ps) as during_ingest:
            load = Load(servers.mqtt.port, split(SITE, devices, 2), prefix, per_device,
                        name=prefix)
            load.go()
            load.wait()
            total = devices * per_device
            if not wait_until(lambda: influx_count(servers.influx, db) >= total, 120, 0.25):
                raise RuntimeError(f"only {influx_count(servers.influx, db)} of {total} stored")
        time.sleep(2)  # let the rules tick and the jobs settle
        status = serve.get("/status")
        memory = {
            "devices": devices,
            "devices_reporting": status["devices"]["by_state"]["online"],
            "kinds": list(KIND_CYCLE),
            "readings": total,
            "rss_idle_mb": round(rss_idle, 1),
            "rss_after_all_reported_mb": round(serve.rss_mb(), 1),
            "peak_rss_while_ingesting_mb": round(during_ingest.peak_mb, 1),
        }
        latency: dict[str, Any] = {"tool": load_tool(), "devices": status["devices"]["total"],
                                   "incidents": serve.get("/incidents?limit=1")["total"],
                                   "seconds_per_run": seconds}
        with PeakRss(serve.ps) as during_api:
            for path in ("/status", "/incidents"):
                for c in concurrency:
                    time.sleep(2)  # requests queued by the previous run finish first
                    latency[f"{path} c={c}"] = hit(f"{serve.base}{path}", c, seconds)
        memory["peak_rss_under_api_load_mb"] = round(during_api.peak_mb, 1)
        return {"api": latency, "memory": memory, "seed_seconds": round(seed_s, 1)}
    finally:
        serve.stop()

"""Issue 11's fault suite: the incident database locked while a fire alarm and a forced door
arrive.

Real Mosquitto; the lock is another session's, held in an open transaction: on SQLite (the
default incident database) `BEGIN EXCLUSIVE`, on PostgreSQL `LOCK TABLE ... IN
EXCLUSIVE MODE` on the tables the rules worker writes. Telemetry keeps being stored (its
log and store are not the incident database), health says incidents are delayed, and once
the lock goes every alert opens exactly once.
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from api.service import Service
from rules.incidents.record import IncidentStoreUnavailable
from tests.e2e.conftest import ApiServer, Services
from tests.e2e.helpers import Site, incidents_of, one_incident, poll
from tests.servers import Server

ALARMS = [("smoke_obscuration", "sd-01"), ("fire_alarm", "fp-01"), ("door_forced", "door-01")]
READINGS = 200  # zone-sensor readings sent while the lock is held
STEADY_S = 4.0  # readiness is watched this long under the lock: it must not flap back to ok
PG_TABLES = "incidents, signal_outbox, rule_state"  # what an alarm's commit and apply write


def get(url: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a GET, 5xx included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def lock_sqlite(path: Path) -> Callable[[], None]:
    """Hold SQLite's write lock from another connection; returns the release."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    conn.execute("BEGIN EXCLUSIVE")

    def release() -> None:
        conn.execute("ROLLBACK")
        conn.close()

    return release


def lock_postgres(port: int, url: str) -> Callable[[], None]:
    """Hold EXCLUSIVE locks (writes wait, reads go on, as under SQLite's lock in WAL mode)
    on the rules worker's tables; returns the release."""
    import psycopg

    dbname = url.rsplit("/", 1)[1]
    conn = psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname={dbname}")
    conn.execute(f"LOCK TABLE {PG_TABLES} IN EXCLUSIVE MODE")

    def release() -> None:
        conn.rollback()
        conn.close()

    return release


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def locked(request: pytest.FixtureRequest, services: Services,
           tmp_path: Path) -> tuple[Service, Callable[[], Callable[[], None]]]:
    """A started Service on the incident database of the param, and how to lock it."""
    if request.param == "sqlite":
        service = services.start(metrics_public=True)
        return service, lambda: lock_sqlite(tmp_path / "sitewatch.db")
    postgres: Server = request.getfixturevalue("postgres")
    url: str = request.getfixturevalue("pg_url")
    service = services.start(database_url=url, metrics_public=True)
    return service, lambda: lock_postgres(postgres.port, url)


@pytest.mark.slow
def test_alarms_raised_while_the_incident_database_is_locked_all_open_once_it_is_released(
    locked: tuple[Service, Callable[[], Callable[[], None]]], site: Site
) -> None:
    service, lock = locked
    api = ApiServer(service)
    api.start()
    try:
        stored_before = service.counters.snapshot()["handled"].get("store", 0)
        release = lock()
        try:
            locked_at = time.monotonic()
            site.telemetry("sd-01", smoke_obscuration_pct_per_m=6.0)
            site.event("fp-01", "fire_alarm", zones=["plant"])
            site.event("door-01", "door_forced_open")
            for _ in range(READINGS):
                site.telemetry("zs-01", temperature_c=21.0)
            # Ingest is not the incident database's: every reading is stored under the lock.
            poll(lambda: service.counters.snapshot()["handled"].get("store", 0)
                 >= stored_before + READINGS + 1, 20, "telemetry stored under the lock")
            # Readiness tells: incidents are delayed, the database is the reason.
            def delayed() -> dict[str, Any] | None:
                status, body = get(f"{api.url}/api/v1/health")
                rules = body["checks"]["rules"]
                return body if status == 503 and rules["incidents_delayed"] else None

            body = poll(delayed, 30, "readiness reporting the delayed incidents")
            assert body["checks"]["rules"]["ok"] is False
            until = time.monotonic() + STEADY_S  # and it keeps saying so while the lock holds
            while time.monotonic() < until:
                assert delayed() is not None, get(f"{api.url}/api/v1/health")[1]["checks"]
                time.sleep(0.1)
            with urllib.request.urlopen(f"{api.url}/metrics", timeout=10) as r:
                assert "sitewatch_rules_incidents_delayed 1.0" in r.read().decode()
            for rule, device in ALARMS:  # the lock really held every incident back
                assert incidents_of(service, rule, device) == [], (rule, device)
            held_s = time.monotonic() - locked_at
        finally:
            release()

        def all_open() -> bool | None:
            try:
                return all(one_incident(service, *a) for a in ALARMS) or None
            except IncidentStoreUnavailable:
                return None

        assert poll(all_open, 30, "every alert after the lock")
        time.sleep(1.0)  # a second copy of any alert would show by now
        for rule, device in ALARMS:
            found = incidents_of(service, rule, device)
            assert len(found) == 1 and found[0].severity == "critical", (rule, device, found)
            assert found[0].occurrences == 1, (rule, device)
        poll(lambda: service.rules.health()["ok"] or None, 15, "rules healthy again")
        rules = service.rules.health()
        assert rules["parked_signals"] == 0 and rules["errors"] == 0, rules
        status, live = get(f"{api.url}/api/v1/health/live")
        assert status == 200, live  # no worker thread died under the lock
        assert held_s >= 5.0, held_s  # longer than SQLite's busy timeout: a commit failed
    finally:
        api.stop()

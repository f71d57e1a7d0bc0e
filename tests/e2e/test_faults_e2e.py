"""Issue 11's fault suite (alerts): a database outage, a kill -9, a broker restart, a replay.

Real Mosquitto and PostgreSQL; faults at the edge (the server stopped, the process killed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from rules.db.schema import incidents
from rules.incidents.record import IncidentStoreUnavailable
from tests.e2e.conftest import ApiServer, Services
from tests.e2e.helpers import Site, incidents_of, one_incident, poll
from tests.ingest.helpers import Publisher, wait_until
from tests.servers import Server, free_port, mosquitto, stop_process

ALARMS = [("smoke_obscuration", "sd-01"), ("smoke_obscuration", "sd-02"),
          ("smoke_obscuration", "sd-03"), ("fire_alarm", "fp-01"), ("door_forced", "door-01")]


def stop_postgres_fast(pg: Server) -> None:
    """`pg_ctl stop -m fast`: sessions cut at once, as a crash or a failover looks to us."""
    assert pg.proc is not None
    bindir = Path(pg.argv[0]).parent
    subprocess.run(["runuser", "-u", "postgres", "--", str(bindir / "pg_ctl"), "stop", "-m",
                    "fast", "-D", str(pg.workdir / "pgdata")], check=True, capture_output=True)
    pg.proc.wait(30)
    pg.proc = None


@pytest.mark.slow
def test_alarms_raised_while_postgres_is_down_all_open_once_it_is_back(
    services: Services, site: Site, postgres: Server, pg_url: str
) -> None:
    # /metrics without a token (as on SITEWATCH_METRICS_PORT): a token lookup needs the
    # database, which is down here.
    service = services.start(database_url=pg_url, metrics_public=True)
    api = ApiServer(service)
    api.start()
    try:
        stop_postgres_fast(postgres)
        try:
            for sd in ("sd-01", "sd-02", "sd-03"):
                site.telemetry(sd, smoke_obscuration_pct_per_m=6.0)
            site.event("fp-01", "fire_alarm", zones=["plant"])
            site.event("door-01", "door_forced_open")
            poll(lambda: service.rules.health()["deferred_batches"] >= 2, 20, "deferred batches")
            rules = service.health()["rules"]
            assert rules["ok"] is False and rules["incidents_delayed"] is True
            with urllib.request.urlopen(f"{api.url}/metrics", timeout=10) as r:
                metrics = r.read().decode()
            assert "sitewatch_rules_incidents_delayed 1.0" in metrics
        finally:
            postgres.start()

        def all_open() -> bool | None:
            try:
                return all(one_incident(service, *a) for a in ALARMS) or None
            except IncidentStoreUnavailable:
                return None  # PostgreSQL still starting up

        assert poll(all_open, 30, "all five alerts")
        for rule, device in ALARMS:
            found = incidents_of(service, rule, device)
            assert len(found) == 1 and found[0].severity == "critical", (rule, device, found)
            assert found[0].occurrences == 1
        poll(lambda: service.rules.health()["ok"] or None, 10, "rules healthy again")
    finally:
        api.stop()


UNREGISTERED = 60  # unregistered panels, one fire alarm each: 60 critical alerts


@pytest.mark.slow
def test_a_kill_9_during_incident_commits_neither_loses_nor_doubles_an_incident(
    mosquitto: Server, pg_url: str, topic_prefix: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SITEWATCH_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto.port}",
        "SITEWATCH_MQTT_CLIENT_ID": f"{topic_prefix}-serve",
        "SITEWATCH_MQTT_TOPIC_PREFIX": topic_prefix,
        "SITEWATCH_DATA_DIR": str(tmp_path / "var"),
        "SITEWATCH_DATABASE_URL": pg_url,
        "SITEWATCH_API_PORT": str(free_port()),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    engine = sa.create_engine(pg_url)

    def opened() -> list[str]:
        with engine.connect() as conn:
            return [r.device_id for r in conn.execute(
                sa.select(incidents.c.device_id, incidents.c.occurrences)).all()]

    def serve() -> subprocess.Popen[bytes]:
        log = open(tmp_path / "serve.log", "ab")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve"], env=env,
                                cwd=tmp_path, stdout=log, stderr=log)
        health = f"http://127.0.0.1:{env['SITEWATCH_API_PORT']}/api/v1/health/live"
        assert wait_until(lambda: _answers(health), 60), (tmp_path / "serve.log").read_text()
        return proc

    proc = serve()
    try:
        pub = Publisher(mosquitto.port, f"{topic_prefix}-panels")
        for i in range(UNREGISTERED):
            body = {"ts": 1_790_000_000 + i, "seq": 1, "event": "fire_alarm"}
            pub.publish(f"{topic_prefix}/hq/up-{i:03d}/event", json.dumps(body))
        pub.close()
        assert wait_until(lambda: len(opened()) >= 3, 30), "no incident was being committed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        at_kill = len(opened())
        proc = serve()
        assert wait_until(lambda: len(opened()) >= UNREGISTERED, 60), len(opened())
        time.sleep(1.0)  # anything doubled would show by now
        devices = opened()
        assert sorted(devices) == [f"up-{i:03d}" for i in range(UNREGISTERED)], at_kill
        with engine.connect() as conn:
            bumped = conn.execute(sa.select(sa.func.count()).where(
                incidents.c.occurrences != 1)).scalar_one()
        assert bumped == 0, "a signal was applied twice"
    finally:
        stop_process(proc, grace_s=20)
        engine.dispose()


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@pytest.fixture
def own_broker() -> Iterator[Server]:
    """A Mosquitto of this test's own (it is restarted); servers.py makes its folder writable
    by the user Mosquitto drops root for, or it could not save its persistence."""
    # Not under tmp_path: pytest's folders are root's alone, so Mosquitto's user could not
    # reach its persistence folder there.
    workdir = Path(tempfile.mkdtemp(prefix="sitewatch-mosquitto-restart-"))
    os.chmod(workdir, 0o755)
    broker = mosquitto(workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


READINGS = 2_000  # published just before the broker restarts


@pytest.mark.slow
def test_a_broker_restart_mid_stream_loses_nothing_and_the_service_resubscribes(
    own_broker: Server, topic_prefix: str, tmp_path: Path
) -> None:
    services = Services(own_broker, topic_prefix, tmp_path)
    try:
        service = services.start()
        pub = Publisher(own_broker.port, f"{topic_prefix}-stream")
        for seq in range(READINGS // 4):
            for dev in ("zs-01", "zs-02", "zs-03", "zs-04"):
                body = {"ts": 1_790_000_000 + seq, "seq": seq, "metrics": {"temperature_c": 22}}
                pub.publish(f"{topic_prefix}/hq/{dev}/telemetry", json.dumps(body))
        pub.close()  # every message is the broker's now; many still queued for the service
        own_broker.stop()  # SIGTERM: Mosquitto saves its persistence file
        assert (own_broker.workdir / "mosquitto.db").exists(), "persistence was not written"
        own_broker.start()
        assert service.ingest.session.wait_connected(20)
        assert service.lane.ingest.session.wait_connected(20)
        site = Site(own_broker.port, topic_prefix, "hq")
        site.event("fp-01", "fire_alarm", zones=["plant"])
        site.close()
        poll(lambda: one_incident(service, "fire_alarm", "fp-01"), 15, "alert after resubscribe")
        poll(lambda: service.counters.snapshot()["handled"].get("store", 0) >= READINGS + 1,
             30, "every reading stored")
        counts = service.counters.snapshot()
        assert counts["seq_lost_total"] == 0 and counts["accepted"] >= READINGS + 1
    finally:
        services.close()


@pytest.mark.slow
def test_a_retained_fire_alarm_is_not_a_new_alarm_after_a_resubscribe(
    services: Services, mosquitto: Server, topic_prefix: str
) -> None:
    first = services.start()
    pub = Publisher(mosquitto.port, f"{topic_prefix}-retained")
    topic = f"{topic_prefix}/hq/fp-01/event"
    pub.client.publish(topic, json.dumps({"ts": time.time(), "event": "fire_alarm"}), qos=1,
                       retain=True).wait_for_publish(5)
    alert = poll(lambda: one_incident(first, "fire_alarm", "fp-01"), 10, "alert")
    assert alert.occurrences == 1
    services.stop(first)
    second = services.start()  # subscribes again: the broker re-sends the retained copy
    poll(lambda: second.counters.snapshot()["warnings"].get("retained_event", 0) >= 1, 10,
         "the retained copy counted as a replay")
    again = one_incident(second, "fire_alarm", "fp-01")
    assert again is not None and again.occurrences == 1
    pub.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)  # clear it
    pub.close()


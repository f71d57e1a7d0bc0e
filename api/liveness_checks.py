"""Liveness (our threads alive) apart from readiness (dependencies usable), for `Service`.

Liveness answers "restart me?": only a dead or wedged thread of ours says yes. Readiness
answers "am I doing my job now?": the broker sessions connected, the time-series store
writing or the durable log buffering within its disk bounds, the database reachable.
Buffering through an InfluxDB outage is ready and alive; the container stays healthy.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from rules.db.database import database_health

if TYPE_CHECKING:
    from api.service import Service

TICK_LATE_S = 30.0  # a rules tick (due every second) this late means the rules worker is wedged


def live_threads(service: Service) -> dict[str, Any]:
    """Each thread of ours (and the rules worker's last turn); ok when all are alive."""
    ticked = service.rules.ticked_at
    threads: dict[str, bool] = {
        "ingest_writer": service.ingest.writer_running,
        "store_consumer": service.store_consumer.running,
        "rules_consumer": service.rules_consumer.running,
        **service.lane.threads(),
        **_site_threads(service),
        "scheduler": service.jobs.running,
        "rules_worker": ticked is None or time.time() - ticked < TICK_LATE_S,
    }
    # The notifier's own health() may say "running"/"alive" (its workers); its "ok" is about
    # routes (readiness: a dead webhook must not restart us), so it is not used here.
    notifier = getattr(service.notifier, "health", None)
    reported = notifier() if callable(notifier) else {}
    if "running" in reported or "alive" in reported:
        threads["notifier"] = bool(reported.get("running", reported.get("alive")))
    else:
        thread = getattr(service.notifier, "_thread", None)
        threads["notifier"] = thread is None or thread.is_alive()
    return {"ok": all(threads.values()), "threads": threads, "processes": processes(service)}


def processes(service: Service) -> dict[str, Any]:
    """Each process of ours (SITEWATCH_WORKERS): this one, and the telemetry session's child
    when it runs apart; ok while each is alive (a dead child is started again by its
    supervisor)."""
    listed: dict[str, Any] = {"main": {"pid": os.getpid(), "alive": True}}
    child = service.ingest.health().get("process")
    if child is not None:
        listed["ingest"] = child
    return {"ok": all(p["alive"] for p in listed.values()),
            "workers": service.settings.workers, **listed}


def readiness(service: Service) -> dict[str, Any]:
    """Each dependency's state, for /api/v1/health (503 when one is not ok)."""
    disk = service.disk.health()
    store_up = service.store.ping()
    buffer = service.store_consumer.health()
    rules = {**service.rules.health(), "consumer": service.rules_consumer.health()}
    rules["ok"] = rules["ok"] and rules["consumer"]["ok"]
    sites = service.sites.health() if service.sites is not None else None
    return {
        "broker": service.ingest.health() if sites is None else sites,
        "life_safety": service.lane.health() if sites is None else {
            **service.lane.health(), "ok": sites["ok"], "connected": sites["connected"]},
        # Down but buffering within the disk bounds is still doing the job: nothing is lost.
        "store": {"ok": store_up or disk["ok"], "kind": type(service.store).__name__,
                  "reachable": store_up, "buffering": not store_up},
        "database": database_health(service.engine),
        "buffer": {**buffer, "ok": buffer["ok"] and disk["ok"], "disk": disk},
        "rules": rules,
        "notifications": service.notifier.health(),
        "processes": processes(service),
    }


def _site_threads(service: Service) -> dict[str, bool]:
    """With SITEWATCH_SITES the per-site sessions' writers replace the instance's own two."""
    if service.sites is None:
        return {}
    alive = service.sites.sessions.writers_alive()
    return {"ingest_writer": alive, "life_safety_writer": alive}

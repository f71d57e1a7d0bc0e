"""The composition root: builds ingest, rules, scheduler and API from Settings and runs them."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api.jobs import Job, Jobs, device_states_job, scheduled_work
from api.runtime import Runtime
from api.server import serve_api
from api.settings import Settings
from devices.liveness import DeviceLiveness
from devices.registry import Registry, load_registry
from ingest.consumer import LogConsumer
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.log import ReadingLog
from ingest.pipeline import IngestPipeline
from ingest.stores.factory import open_store
from rules.db.database import database_health, open_database
from rules.db.device_states import DeviceStateSaver, DeviceStateStore
from rules.db.rule_state import SqlStateStore
from rules.engine.evaluator import Evaluator
from rules.engine.loader import RulePack, load_rules
from rules.engine.worker import RulesWorker
from rules.incidents.service import IncidentService
from rules.incidents.sla import load_sla
from rules.maintenance.config import load_schedules
from rules.maintenance.schedules import PreventiveMaintenance
from rules.notify.dispatcher import Notifier
from rules.notify.mqtt_out import IncidentPublisher
from rules.notify.routes import load_routes
from rules.notify.windows import MaintenanceWindows
from rules.people.oncall import load as load_oncall

log = logging.getLogger("sitewatch")


class Service:
    """Every running part of `sitewatch serve`, started and stopped in order."""

    def __init__(
        self, settings: Settings, registry: Registry | None = None, pack: RulePack | None = None
    ) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.registry = registry or load_registry(settings.devices)
        self.pack = pack or load_rules(settings.rules)
        self.engine = open_database(settings.database_url)
        self.store = open_store(settings)
        self.counters = IngestCounters()
        self.deadletters = DeadLetters(settings.deadletter_max)
        self.log = ReadingLog(Path(settings.data_dir) / "buffer.sqlite3")
        now = time.time()
        self.liveness = DeviceLiveness(self.registry, started_at=now)
        device_states = DeviceStateStore(self.engine)
        self.liveness.restore(device_states.load())  # last seen, since, latest: before a restart
        self.device_states = DeviceStateSaver(self.liveness, device_states)
        self.incidents = IncidentService(self.engine, self.pack, load_sla(settings.sla))
        self.evaluator = Evaluator(self.pack, SqlStateStore(self.engine), self._interval_of)
        # Stale rules count silence from this start: while Sitewatch was down nobody listened,
        # and QoS 0 telemetry sent meanwhile is gone, so counting from the saved last seen
        # would open (and soon auto-resolve) a P1 ticket for every device at each restart.
        # The API still shows the saved last seen, and `stale` where it is old.
        self.evaluator.watch_registry(self.registry, now)
        schedules = load_schedules(settings.schedules)
        self.maintenance = PreventiveMaintenance(
            self.engine, self.incidents, schedules, self.registry
        )
        self.rules = RulesWorker(
            self.evaluator, self.incidents, self.liveness, observers=[self.maintenance.observe]
        )
        self.notifier = Notifier(
            self.engine, self.incidents, load_routes(settings.notifications),
            windows=MaintenanceWindows(self.engine),
        )
        self.jobs = Jobs(
            scheduled_work(
                self.incidents,
                maintenance=self.maintenance,
                extra=[
                    Job("rules-tick", lambda now: self.rules.tick(), 1.0),
                    device_states_job(self.device_states),
                ],
            )
        )
        self.ingest = IngestPipeline(
            mqtt_url=settings.mqtt_url,
            client_id=settings.mqtt_client_id,
            prefix=settings.mqtt_topic_prefix,
            registry=self.registry,
            log=self.log,
            counters=self.counters,
            deadletters=self.deadletters,
            queue_max=settings.queue_max,
        )
        self.store_consumer = LogConsumer(
            self.log, "store", self.store.write, settings.batch_max, self.counters,
            self.deadletters,
        )
        self.rules_consumer = LogConsumer(
            self.log, "rules", self.rules.handle, settings.batch_max, self.counters,
            self.deadletters,
        )
        self.runtime = Runtime(
            settings=settings, registry=self.registry, store=self.store,
            incidents=self.incidents, liveness=self.liveness, counters=self.counters,
            deadletters=self.deadletters, pack=self.pack, engine=self.engine,
            health=self.health, schedules=schedules,
            oncall=load_oncall(settings.oncall) if settings.oncall else None,
            rules_stats=lambda: {
                **self.rules.health(), "backlog": self.log.depth("rules"),
            },
        )

        self.publisher: IncidentPublisher | None = None
        if settings.mqtt_publish_incidents:
            self.publisher = IncidentPublisher(
                self.engine, self.incidents, mqtt_url=settings.mqtt_url,
                client_id=f"{settings.mqtt_client_id}-incidents",
                prefix=settings.mqtt_topic_prefix,
            )

    def _oncall_health(self) -> dict[str, Any]:
        """Departments with nobody on duty now: a warning, never a failed check."""
        oncall = self.runtime.oncall
        assert oncall is not None
        now = datetime.fromtimestamp(time.time(), UTC)
        empty = [d for d in oncall.departments() if oncall.on_duty(d, now) is None]
        return {"ok": True, "nobody_on_duty": empty}

    def _interval_of(self, device_id: str) -> float | None:
        d = self.registry.devices.get(device_id)
        return (d.interval_s or d.spec.interval_s) if d else None

    def health(self) -> dict[str, Any]:
        """Each part's own state, for /api/v1/health."""
        rules = {**self.rules.health(), "consumer": self.rules_consumer.health()}
        rules["ok"] = rules["ok"] and rules["consumer"]["ok"]
        return {
            "broker": self.ingest.health(),
            "store": {"ok": self.store.ping(), "kind": type(self.store).__name__},
            "database": database_health(self.engine),
            "buffer": self.store_consumer.health(),
            "rules": rules,
            **({"mqtt_out": self.publisher.health()} if self.publisher else {}),
            **({"oncall": self._oncall_health()} if self.runtime.oncall else {}),
        }

    def start(self) -> None:
        """Start notifier and consumers first so a previous backlog drains, then ingest."""
        self.notifier.start()
        if self.publisher is not None:
            self.publisher.start()
        self.store_consumer.start()
        self.rules_consumer.start()
        self.jobs.start()
        self.ingest.start()

    def stop(self) -> None:
        """Stop taking messages, then let the consumers finish their batch, then close."""
        self.ingest.stop()
        self.jobs.shutdown()
        self.rules_consumer.stop()
        try:
            self.device_states.save_all()  # exactly what the rules consumer observed last
        except Exception:
            log.exception("saving device states at stop failed")
        self.store_consumer.stop()
        self.notifier.stop()
        if self.publisher is not None:
            self.publisher.stop()
        self.store.close()
        self.engine.dispose()


def run_serve(settings: Settings) -> int:
    """`sitewatch serve`: everything in one process until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("httpx", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    service = Service(settings)
    if settings.bootstrap_token:
        from api.tokens import ensure_bootstrap_token

        ensure_bootstrap_token(service.engine, settings.bootstrap_token)
    service.start()
    log.info("API on http://%s:%d/api/v1", settings.api_host, settings.api_port)
    try:
        serve_api(service.runtime, settings.api_host, settings.api_port)
    finally:
        service.stop()
    return 0

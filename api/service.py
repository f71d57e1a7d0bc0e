"""The composition root: builds ingest, rules, scheduler and API from Settings and runs them."""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api.dependency_watch import DependencyWatch
from api.device_admin import DeviceAdmin
from api.ingest_process import (
    LOG_FILE,
    POLL_S,
    IngestProcess,
    ingest_apart,
    telemetry_ingest,
)
from api.jobs import Job, Jobs, device_states_job, scheduled_work
from api.lanes import RULES_BACKOFF_S, RULES_BATCH_MAX, LifeSafetyLane, retry_while_down
from api.liveness_checks import live_threads, readiness
from api.people import build_people
from api.retention_job import retention_jobs
from api.runtime import Runtime
from api.server import serve_api
from api.settings import Settings
from api.settings_check import check_serve_settings
from api.site_service import SiteServing
from devices.liveness import DeviceLiveness
from devices.registry import Registry, load_registry
from ingest.consumer import LogConsumer
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.disk import MB, LogDiskGuard
from ingest.log import ReadingLog
from ingest.stores.factory import open_store
from rules.db.database import open_database
from rules.db.device_registry import DeviceTable
from rules.db.device_states import DeviceStateSaver, DeviceStateStore
from rules.db.outbox import SqlSignalOutbox
from rules.db.rule_reloads import ReloadLog
from rules.engine.evaluator import Evaluator
from rules.engine.loader import RuleError, RulePack, load_rules
from rules.engine.reload import RulesReloader
from rules.engine.worker import RulesWorker
from rules.incidents.panel_reset import PanelResets
from rules.incidents.service import IncidentService
from rules.incidents.sla import load_sla
from rules.maintenance.config import load_schedules
from rules.maintenance.schedules import PreventiveMaintenance
from rules.notify.dispatcher import Notifier
from rules.notify.mqtt_out import IncidentPublisher
from rules.notify.routes import load_routes
from rules.notify.windows import MaintenanceWindows
from rules.operations.plans import load_plans
from rules.operations.service import Operations
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
        # The registry is the database's: the file is imported (creates, updates), then read back.
        self.devices = DeviceAdmin(DeviceTable(self.engine), self.registry)
        self.devices.load(self.registry)
        self.store = open_store(settings)
        self.counters = IngestCounters()
        self.deadletters = DeadLetters(
            settings.deadletter_max, Path(settings.data_dir) / "deadletters.sqlite3"
        )
        # With the session in a child, it appends and nothing here is notified: readers look
        self.log = ReadingLog(Path(settings.data_dir) / LOG_FILE,
                              poll_s=POLL_S if ingest_apart(settings) else None)
        now = time.time()
        self.liveness = DeviceLiveness(self.registry, started_at=now)
        device_states = DeviceStateStore(self.engine)
        self.liveness.restore(device_states.load())  # last seen, since, latest: before a restart
        self.device_states = DeviceStateSaver(self.liveness, device_states)
        self.incidents = IncidentService(
            self.engine, self.pack, load_sla(settings.sla), registry=self.registry,
            resolve_grace_s=settings.resolve_grace_s,
        )
        self.outbox = SqlSignalOutbox(self.engine)
        self.evaluator = Evaluator(self.pack, self.outbox.states, self._interval_of, batched=True)
        self.operations = Operations(self.engine, self.incidents, self.registry, self.pack,
                                     load_plans(settings.plans)).install()  # SPEC §8.1-§8.3
        # Stale rules count silence from this start: while Sitewatch was down nobody listened,
        # and QoS 0 telemetry sent meanwhile is gone, so counting from the saved last seen
        # would open (and soon auto-resolve) a P1 ticket for every device at each restart.
        # The API still shows the saved last seen, and `stale` where it is old.
        self.evaluator.watch_registry(self.registry, now)
        self.devices.attach(self.liveness, self.evaluator)
        schedules = load_schedules(settings.schedules)
        self.maintenance = PreventiveMaintenance(
            self.engine, self.incidents, schedules, self.registry
        )
        self.devices.subscribe(self.maintenance.use_registry)  # runtime devices get schedules
        self.rules = RulesWorker(
            self.evaluator, self.incidents, self.liveness, self.outbox,
            observers=[self.maintenance.observe, PanelResets(self.incidents, self.pack).observe],
        )
        self.reloader = RulesReloader(
            settings.rules, self.rules,
            lambda pack: Evaluator(pack, self.outbox.states, self._interval_of, batched=True),
            self.incidents, self._swapped, ReloadLog(self.engine).record,
        )
        oncall = load_oncall(settings.oncall) if settings.oncall else None
        # SPEC §8.4-§8.5: pages to the on-call chain, rating links, and their routes
        self.people = build_people(settings, self.engine, self.incidents, oncall, self._served)
        self.notifier = Notifier(
            self.engine, self.incidents, load_routes(settings.notifications) + self.people.routes,
            windows=MaintenanceWindows(self.engine),
            verdict=self.operations.notifications.verdict,
            sites=lambda: None if self.sites is None else self.sites.notified(),
        )
        # SITEWATCH_SITES (SPEC §11): per-site sessions and ownership; None: every site here.
        self.sites = SiteServing(self) if settings.sites is not None else None
        self.jobs = Jobs(
            scheduled_work(
                self.incidents,
                maintenance=self.maintenance,
                sites=self._served,
                extra=[
                    *(self.sites.jobs() if self.sites is not None else []),
                    Job("rules-tick", lambda now: self.rules.tick(), 1.0),
                    Job("resolve-rechecks", lambda now: self.incidents.recheck_forced(
                        now, self._served()), 30.0),
                    Job("dependency-watch", DependencyWatch(self.health).run, 5.0),
                    *retention_jobs(self.store, settings.retention_days),
                    device_states_job(self.device_states),
                    Job("operations", lambda now: self.operations.expire_due(  # ends what is due
                        now, self._served()), 1.0),
                    *self.people.jobs,
                ],
            )
        )
        self.lane = LifeSafetyLane(
            settings, self.registry, self.counters, self.deadletters, self.store,
            self.rules.handle_life_safety,
        )
        self.disk = LogDiskGuard(
            [self.log, self.lane.log], int(settings.log_soft_limit_mb * MB),
            int(settings.log_hard_limit_mb * MB),
        )
        # the telemetry session: here, or in a child process (api/ingest_process.py)
        self.ingest = telemetry_ingest(settings, self.registry, self.log, self.counters,
                                       self.deadletters, self.lane, self.disk)
        if isinstance(self.ingest, IngestProcess):
            self.devices.subscribe(self.ingest.use_registry)
        self.store_consumer = LogConsumer(
            self.log, "store", self.store.write, settings.batch_max, self.counters,
            self.deadletters,
        )
        self.rules_consumer = LogConsumer(
            self.log, "rules", retry_while_down(self.rules.handle), RULES_BATCH_MAX,
            self.counters, self.deadletters, backoff=RULES_BACKOFF_S,
        )
        self.runtime = Runtime(
            settings=settings, registry=self.registry, store=self.store,
            incidents=self.incidents, liveness=self.liveness, counters=self.counters,
            deadletters=self.deadletters, pack=self.pack, engine=self.engine,
            health=self.health, notify_stats=self.notifier.health,
            live=self.live, operations=self.operations,
            devices=self.devices, reload=self.reloader.reload,
            schedules=schedules,
            oncall=oncall,
            links=self.people.signer,
            rules_stats=lambda: {
                **self.rules.health(),
                "backlog": self.log.depth("rules") + self.lane.log.depth("lane-rules"),
            },
        )
        self.publisher: IncidentPublisher | None = None
        if settings.mqtt_publish_incidents:
            self.publisher = IncidentPublisher(
                self.engine, self.incidents, mqtt_url=settings.mqtt_url,
                client_id=f"{settings.mqtt_client_id}-incidents",
                prefix=settings.mqtt_topic_prefix,
            )

    def _served(self) -> frozenset[str] | None:
        """The sites whose scheduled work is this instance's (SPEC §11); None: every site."""
        return None if self.sites is None else self.sites.owned()

    def _swapped(self, pack: RulePack, evaluator: Evaluator) -> None:
        """A reloaded rules file took effect: every holder of the pack sees the new one."""
        self.pack, self.evaluator = pack, evaluator
        if hasattr(self, "runtime"):
            self.runtime.pack = pack
        self.devices.attach(self.liveness, evaluator)

    def reload_on_signal(self) -> None:
        """SIGHUP: reload the rules file; a bad file is logged with every error, nothing changes."""
        try:
            self.reloader.reload("SIGHUP")
        except RuleError as e:
            log.error("rules reload refused, nothing changed:\n%s", e)
        except Exception:
            log.exception("rules reload failed")

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
        """Readiness with each part's own state, for /api/v1/health (api/liveness_checks.py)."""
        checks = readiness(self)
        if self.publisher is not None:
            checks["mqtt_out"] = self.publisher.health()
        if self.runtime.oncall is not None:
            checks["oncall"] = self._oncall_health()
        return checks

    def live(self) -> dict[str, Any]:
        """Liveness: every thread of ours alive, for /api/v1/health/live."""
        return live_threads(self)

    def start(self) -> None:
        """Start notifier and consumers first so a previous backlog drains, then ingest."""
        self.notifier.start()
        self.lane.start_consumers()
        if self.publisher is not None:
            self.publisher.start()
        self.store_consumer.start()
        self.rules_consumer.start()
        self.jobs.start()
        if self.sites is not None:
            self.sites.start()  # each served site's own two sessions
            return
        self.ingest.start(connect=False)  # the writer now, alive for /health/live
        self.lane.start_session(then=self.ingest.connect)  # once the lane has subscribed

    def stop(self) -> None:
        """Stop taking messages, then let the consumers finish their batch, then close."""
        if self.sites is not None:
            self.sites.stop()  # sites handed over at once
        self.ingest.stop()
        self.lane.stop()
        self.jobs.shutdown()
        self.rules_consumer.stop()
        self.rules.flush()  # rate windows span a clean restart
        try:
            # exactly what the rules consumer observed last, of the sites served until the stop
            self.device_states.save_all(None if self.sites is None else self.sites.served_at_stop)
        except Exception:
            log.exception("saving device states at stop failed")
        self.store_consumer.stop()
        self.notifier.stop()
        self.deadletters.close()
        if self.publisher is not None:
            self.publisher.stop()
        self.store.close()
        self.engine.dispose()


def run_serve(settings: Settings) -> int:
    """`sitewatch serve`: everything in one process until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("httpx", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    check_serve_settings(settings)
    service = Service(settings)
    if settings.bootstrap_token:
        from api.tokens import ensure_bootstrap_token

        if not ensure_bootstrap_token(service.engine, settings.bootstrap_token):
            log.warning("SITEWATCH_BOOTSTRAP_TOKEN holds a revoked token; it stays revoked")
    signal.signal(signal.SIGHUP, lambda *_: threading.Thread(
        target=service.reload_on_signal, name="rules-reload", daemon=True).start())
    service.start()
    log.info("API on http://%s:%d/api/v1", settings.api_host, settings.api_port)
    try:
        serve_api(service.runtime, settings.api_host, settings.api_port,
                  on_exit=service.sites.stop if service.sites is not None else None)
    finally:
        service.stop()
    return 0

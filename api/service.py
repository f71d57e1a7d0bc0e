"""The composition root: builds ingest, rules, scheduler and API from Settings and runs them."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from api.runtime import Runtime
from api.settings import Settings
from devices.liveness import DeviceLiveness
from devices.reading import Reading
from devices.registry import Registry, load_registry
from ingest.consumer import LogConsumer
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.log import ReadingLog
from ingest.pipeline import Ingest
from ingest.stores.base import TelemetryStore
from rules.db import open_database
from rules.device_states import DeviceStateSaver, DeviceStateStore
from rules.evaluator import Evaluator
from rules.incident import IncidentStoreUnavailable
from rules.incidents import IncidentService
from rules.jobs import Job, Jobs, scheduled_work
from rules.loader import RulePack, load_rules
from rules.notify import Notifier
from rules.routes import load_routes
from rules.schedule_config import load_schedules
from rules.schedules import PreventiveMaintenance
from rules.signals import Signal
from rules.sla import load_sla
from rules.state_sql import SqlStateStore
from rules.windows import MaintenanceWindows

log = logging.getLogger("sitewatch")


def open_store(settings: Settings) -> TelemetryStore:
    """The configured telemetry store: InfluxDB v2, v1, or the embedded SQLite store."""
    if not settings.influx_url:
        from ingest.stores.embedded import EmbeddedStore

        return EmbeddedStore(settings.data_dir / "telemetry.sqlite3")
    if settings.influx_api == "v1":
        from ingest.stores.influx_v1 import InfluxV1Store

        return InfluxV1Store(
            settings.influx_url,
            settings.influx_db,
            username=settings.influx_username,
            password=settings.influx_password,
        )
    from ingest.stores.influx_v2 import InfluxV2Store

    return InfluxV2Store(
        settings.influx_url,
        token=settings.influx_token or "",
        org=settings.influx_org or "",
        bucket=settings.influx_bucket,
    )


class RulesWorker:
    """Feeds every buffered reading to liveness and the evaluator, and signals to incidents.

    One lock serialises evaluation and the periodic tick, so rule state has a single writer.
    A signal the incident database cannot take now (it is down) is kept, in order, and applied
    again at the next reading or tick: the evaluator has moved on, so dropping it would lose
    the incident for good (a threshold that fired does not fire twice).
    """

    def __init__(
        self,
        evaluator: Evaluator,
        incidents: IncidentService,
        liveness: DeviceLiveness,
        observers: Sequence[Callable[[Reading], None]] = (),
        clock: Callable[[], float] = time.time,
        pending_max: int = 100_000,  # signals kept while the database is down
    ) -> None:
        self._evaluator = evaluator
        self._incidents = incidents
        self._liveness = liveness
        self._observers = list(observers)
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: deque[Signal] = deque()
        self._pending_max = pending_max
        self.errors = 0  # readings or signals whose handling raised; logged, counted, skipped
        self.refused = 0  # signals refused because `pending_max` were already waiting

    @property
    def pending(self) -> int:
        """Signals waiting for the incident database."""
        return len(self._pending)

    def handle(self, batch: list[Reading]) -> None:
        """Evaluate a batch of readings in arrival order."""
        with self._lock:
            for reading in batch:
                self._liveness.observe(reading)
                try:
                    self._keep(self._evaluator.evaluate(reading, self._clock()))
                    for observe in self._observers:
                        observe(reading)
                except Exception:
                    self.errors += 1
                    log.exception("evaluating %s/%s failed", reading.site, reading.device_id)
                self._apply_pending()

    def tick(self) -> None:
        """Expire hold timers and detect silent devices, without waiting for a reading."""
        with self._lock:
            self._keep(self._evaluator.tick(self._clock(), self._liveness.last_seen()))
            self._apply_pending()

    def _keep(self, signals: list[Signal]) -> None:
        for sig in signals:
            if len(self._pending) >= self._pending_max:
                self.refused += 1
                log.error("signal %s/%s refused: %d already wait for the database",
                          sig.rule_id, sig.device_id, len(self._pending))
            else:
                self._pending.append(sig)

    def _apply_pending(self) -> None:
        while self._pending:
            sig = self._pending[0]
            try:
                self._incidents.apply(sig)
            except IncidentStoreUnavailable as e:
                log.warning("incident database unavailable (%s); %d signals wait", e,
                            len(self._pending))
                return  # in order, at the next reading or tick
            except Exception:
                self.errors += 1
                log.exception("applying %s/%s failed", sig.rule_id, sig.device_id)
            self._pending.popleft()


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
        self.maintenance = PreventiveMaintenance(
            self.engine, self.incidents, load_schedules(settings.schedules), self.registry
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
                    self.device_states.job(every_s=5.0),
                ],
            )
        )
        self.ingest = Ingest(
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
            health=self.health,
            rules_stats=lambda: {
                "errors": self.rules.errors, "backlog": self.log.depth("rules"),
                "pending_signals": self.rules.pending, "refused_signals": self.rules.refused,
            },
        )

    def _interval_of(self, device_id: str) -> float | None:
        d = self.registry.devices.get(device_id)
        return (d.interval_s or d.spec.interval_s) if d else None

    def health(self) -> dict[str, Any]:
        """Each dependency's state, for /api/v1/health."""
        ingest = self.ingest.health()
        try:
            with self.engine.connect() as c:
                c.exec_driver_sql("select 1")
            db_ok = True
        except Exception:
            db_ok = False
        return {
            "broker": {"ok": bool(ingest.get("connected")), **ingest},
            "store": {"ok": self.store.ping(), "kind": type(self.store).__name__},
            "database": {"ok": db_ok},
            "buffer": {"ok": True, "depth": self.log.depth("store")},
            "rules": {
                "ok": self.rules.pending == 0,
                "backlog": self.log.depth("rules"),
                "pending_signals": self.rules.pending,
                "errors": self.rules.errors,
            },
        }

    def start(self) -> None:
        """Start notifier and consumers first so a previous backlog drains, then ingest."""
        self.notifier.start()
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
        self.store.close()
        self.engine.dispose()


class _StreamEndingServer(uvicorn.Server):
    """uvicorn waits for open requests before the app's shutdown; SSE streams never finish
    by themselves, so they are told to end as soon as the exit signal arrives."""

    def __init__(self, config: uvicorn.Config, end_streams: Callable[[], None]) -> None:
        super().__init__(config)
        self._end_streams = end_streams

    def handle_exit(self, sig: int, frame: Any) -> None:
        """Shut down as uvicorn does, ending the event streams first."""
        self._end_streams()
        super().handle_exit(sig, frame)


def serve_api(
    runtime: Runtime, host: str, port: int, on_ready: Callable[[], None] | None = None
) -> None:
    """Run the HTTP API in this thread until SIGINT/SIGTERM; `on_ready` once it listens."""
    from api.app import create_app

    app = create_app(runtime)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning",
        timeout_graceful_shutdown=5,  # a stream that still will not end is cut after this
    )
    server = _StreamEndingServer(config, app.state.broadcaster.end_streams)
    if on_ready is not None:
        ready = on_ready

        def _announce() -> None:
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.started:
                ready()

        threading.Thread(target=_announce, name="api-ready", daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it handled
        server.run()


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

"""Prometheus exposition: API request counts and latency, plus collectors read at scrape time."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rules.db.schema import incidents as incidents_table
from rules.incidents.record import IncidentStoreUnavailable

if TYPE_CHECKING:
    from api.broadcast import IncidentBroadcaster
    from api.runtime import Runtime

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
GAUGE_KEYS = frozenset({"log_depth"})  # ingest snapshot keys that go up and down
LABEL_OF = {"rejected": "reason", "warnings": "reason", "log_depth": "consumer"}
SKIP_KEYS = frozenset({"seq_lost"})  # per device: too many series; seq_lost_total is kept
_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ApiMetrics:
    """The app's own registry (never the global one, so two apps in a process never clash)."""

    def __init__(self, runtime: Runtime, broadcaster: IncidentBroadcaster) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "sitewatch_api_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sitewatch_api_request_duration_seconds",
            "Seconds from request to the response's first byte, by method and route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.registry.register(RuntimeCollector(runtime, broadcaster))

    def exposition(self) -> bytes:
        """The Prometheus text format of everything."""
        return generate_latest(self.registry)


class RequestMetrics:
    """ASGI middleware that counts every HTTP request by its route template (not its path)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time until the response starts (an SSE stream would otherwise last for hours)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                # Unmatched paths share one label, so random URLs cannot explode cardinality.
                template = getattr(route, "path", None) or "unmatched"
                # Made-up methods share one label too, for the same reason.
                method = scope["method"] if scope["method"] in METHODS else "other"
                self.metrics.requests.labels(method, template, str(message["status"])).inc()
                self.metrics.latency.labels(method, template).observe(
                    time.perf_counter() - started
                )
            await send(message)

        await self.app(scope, receive, send_timed)


class RuntimeCollector(Collector):
    """Reads ingest counters, incident counts, device states and SSE clients at each scrape."""

    def __init__(self, runtime: Runtime, broadcaster: IncidentBroadcaster) -> None:
        self._rt = runtime
        self._sse = broadcaster

    def collect(self) -> Iterator[Metric]:
        """Every metric, computed now."""
        yield from _ingest_metrics(self._rt.counters.snapshot())
        yield from self._incident_metrics()
        devices = GaugeMetricFamily(
            "sitewatch_devices", "Devices by liveness state.", labels=["state", "registered"]
        )
        for (state, registered), n in sorted(self._rt.liveness.counts(self._rt.clock()).items()):
            devices.add_metric([state, str(registered).lower()], n)
        yield devices
        yield self._life_safety_devices()
        yield self._health_checks()
        rules = self._rt.rules_stats()
        yield CounterMetricFamily(
            "sitewatch_rules_errors", "Readings whose rule evaluation raised (logged, skipped).",
            value=rules.get("errors", 0),
        )
        yield GaugeMetricFamily(
            "sitewatch_rules_backlog", "Readings in the durable log not yet evaluated by rules.",
            value=rules.get("backlog", 0),
        )
        yield GaugeMetricFamily(
            "sitewatch_rules_pending_signals",
            "Committed rule signals not yet applied to incidents (signal outbox).",
            value=rules.get("pending_signals", 0),
        )
        yield GaugeMetricFamily(
            "sitewatch_rules_oldest_pending_signal_age_seconds",
            "Age of the oldest committed signal not yet applied to incidents.",
            value=rules.get("oldest_pending_age_s", 0.0),
        )
        yield from _notify_metrics(self._rt.notify_stats())
        yield GaugeMetricFamily(
            "sitewatch_rules_incidents_delayed",
            "1 while the incident database is down or signals wait in the outbox.",
            value=1 if rules.get("incidents_delayed") else 0,
        )
        yield CounterMetricFamily(
            "sitewatch_rules_deferred_batches",
            "Log batches and ticks not committed because the database was down (retried).",
            value=rules.get("deferred_batches", 0),
        )
        yield CounterMetricFamily(
            "sitewatch_rules_parked_signals",
            "Signals given up after repeated failed applies (not an outage; see the log).",
            value=rules.get("parked_signals", 0),
        )
        yield CounterMetricFamily(
            "sitewatch_deadletters_dropped",
            "Dead-letter records pushed out by newer ones (the record is bounded).",
            value=self._rt.deadletters.dropped,
        )
        pruned = getattr(self._rt.store, "pruned_total", None)  # the embedded store's retention
        if pruned is not None:
            yield CounterMetricFamily(
                "sitewatch_telemetry_retention_removed",
                "Points the embedded store deleted as older than the retention.", value=pruned,
            )
        yield GaugeMetricFamily(
            "sitewatch_sse_clients", "Clients connected to the event stream.",
            value=self._sse.client_count,
        )
        yield CounterMetricFamily(
            "sitewatch_sse_slow_disconnects",
            "Stream clients cut off because they read too slowly.",
            value=self._sse.slow_disconnects,
        )
        yield CounterMetricFamily(
            "sitewatch_sse_feed_read_errors",
            "Reads of the incident feed that failed (database down) and were retried.",
            value=self._sse.feed_errors,
        )
        yield CounterMetricFamily(
            "sitewatch_sse_events_sent", "Events written to stream clients.",
            value=self._sse.frames_sent,
        )

    def _life_safety_devices(self) -> Metric:
        """Registered fire devices by state: a stale detector is a fire not seen."""
        now = self._rt.clock()
        counts = {"online": 0, "stale": 0, "offline": 0, "unknown": 0}
        for device in self._rt.registry.devices.values():
            if device.spec.life_safety and (st := self._rt.liveness.state(device.id, now)):
                counts[st.state] += 1
        family = GaugeMetricFamily(
            "sitewatch_life_safety_devices", "Registered life-safety devices by liveness state.",
            labels=["state"],
        )
        for state, n in counts.items():
            family.add_metric([state], n)
        return family

    def _health_checks(self) -> Metric:
        """1 per health check that is ok, 0 per one that is not (the same as /api/v1/health)."""
        family = GaugeMetricFamily(
            "sitewatch_health_ok", "1 if the health check is ok.", labels=["check"]
        )
        try:
            checks = self._rt.health()
        except Exception:  # noqa: BLE001 - a scrape must answer whatever a check does
            checks = {"health_check": {"ok": False}}
        for name, value in sorted(checks.items()):
            ok = bool(value.get("ok", True)) if isinstance(value, dict) else True
            family.add_metric([name], 1 if ok else 0)
            disk = value.get("disk") if isinstance(value, dict) else None
            if isinstance(disk, dict):  # the durable log's high-water mark, its own check
                family.add_metric(["disk"], 1 if disk.get("ok", True) else 0)
        return family

    def _incident_metrics(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("sitewatch_database_up", "1 if the incident database answered.")
        try:
            with self._rt.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(
                        incidents_table.c.kind, incidents_table.c.state, sa.func.count()
                    ).group_by(incidents_table.c.kind, incidents_table.c.state)
                ).all()
            summary = self._rt.incidents.summary(self._rt.clock())
        except (sa.exc.SQLAlchemyError, IncidentStoreUnavailable):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        by_state = GaugeMetricFamily(
            "sitewatch_incidents", "Incidents by kind and state.", labels=["kind", "state"]
        )
        for kind, state, n in rows:
            by_state.add_metric([kind, state], n)
        yield by_state
        alerts = GaugeMetricFamily(
            "sitewatch_alerts_active", "Open alerts by severity.", labels=["severity"]
        )
        for severity, n in sorted(summary["active_alerts"].items()):
            alerts.add_metric([severity], n)
        yield alerts
        tickets = GaugeMetricFamily(
            "sitewatch_tickets_open", "Open tickets by priority.", labels=["priority"]
        )
        for priority, n in sorted(summary["open_tickets"].items()):
            tickets.add_metric([priority], n)
        yield tickets
        yield GaugeMetricFamily(
            "sitewatch_tickets_sla_breached",
            "Open tickets past a respond-by or resolve-by deadline.",
            value=summary["sla_breaches"],
        )


NOTIFY_GAUGES = {  # health key -> (metric, help): one series per route, routes come from a file
    "queued": ("sitewatch_notify_queue_depth", "Deliveries queued in memory or sending."),
    "pending": ("sitewatch_notify_pending", "Deliveries logged and not yet delivered."),
    "oldest_pending_age_s": ("sitewatch_notify_oldest_pending_age_seconds",
                             "Age of the oldest undelivered delivery."),
    "failures": ("sitewatch_notify_failures", "Delivery attempts that failed since start."),
    "refused": ("sitewatch_notify_refused", "Due deliveries a full route queue refused."),
    "breaker_open": ("sitewatch_notify_breaker_open", "1 while the route's breaker is open."),
}


def _notify_metrics(health: dict[str, Any]) -> Iterator[Metric]:
    routes = health.get("routes", {})
    for key, (name, text) in NOTIFY_GAUGES.items():
        family = GaugeMetricFamily(name, text, labels=["route"])
        for route, stats in sorted(routes.items()):
            value = int(stats["breaker"] == "open") if key == "breaker_open" else stats[key]
            family.add_metric([route], value or 0)
        yield family


def _ingest_metrics(snapshot: dict[str, Any]) -> Iterator[Metric]:
    for key, value in sorted(snapshot.items()):
        if key in SKIP_KEYS:
            continue
        base = key.removesuffix("_total")
        if key.endswith("_total") and base in snapshot and base not in SKIP_KEYS:
            continue  # a sum of a labelled counter: Prometheus sums for itself
        name = "sitewatch_ingest_" + _UNSAFE.sub("_", key)
        family_of = GaugeMetricFamily if key in GAUGE_KEYS else CounterMetricFamily
        doc = f"Ingest counter {key!r}."
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            yield family_of(name, doc, value=value)
        elif isinstance(value, dict):
            family = family_of(name, doc, labels=[LABEL_OF.get(key, "name")])
            for label, n in sorted(value.items()):
                if isinstance(n, int | float) and not isinstance(n, bool):
                    family.add_metric([str(label)], n)
            yield family

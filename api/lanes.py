"""The two ingest lanes of `sitewatch serve`: life-safety (events, status) and telemetry.

Each lane has its own persistent MQTT session, its own durable log and its own consumers, so
an event never waits behind telemetry from the broker to the incident:

    life-safety: session `{client id}-life-safety` on `{prefix}/+/+/event` and `…/status`
                 -> var/life_safety.sqlite3 -> consumers `lane-rules` (ahead of telemetry in the
                 rules worker) and `lane-store`
    telemetry:   session `{client id}` on `{prefix}/#` (events and status acked and skipped
                 there: the life-safety session has its own copy) -> var/buffer.sqlite3 ->
                 consumers `rules`, `store`; refused (unacked) past the disk hard limit
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.settings import Settings
from devices.reading import Reading
from devices.registry import Registry
from devices.tls import TlsFiles
from ingest.consumer import LogConsumer
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.log import ReadingLog
from ingest.pipeline import IngestPipeline
from ingest.stores.base import StoreUnavailable, TelemetryStore
from rules.engine.state import StateUnavailable

LANE_LOG = "life_safety.sqlite3"
LANE_MARKER = "life_safety.subscribed"  # in the data folder once the lane has subscribed
LANE_SUFFIX = "-life-safety"  # client id of the life-safety session: `{client id}{suffix}`
RULES_BATCH_MAX = 1000  # telemetry readings per rules batch: a life-safety batch waits at most one
RULES_BACKOFF_S = (0.2, 2.0)  # first and longest wait (s) of a rules batch the database refused


def life_safety_filters(prefix: str) -> list[str]:
    """The topic filters of the life-safety lane."""
    return [f"{prefix}/+/+/event", f"{prefix}/+/+/status"]


def retry_while_down(handle: Callable[[list[Reading]], None]) -> Callable[[list[Reading]], None]:
    """The rules worker's `handle` as a log handler: a database outage retries the batch."""

    def run(batch: list[Reading]) -> None:
        try:
            handle(batch)
        except StateUnavailable as e:
            raise StoreUnavailable(f"incident database: {e}") from e

    return run


class LifeSafetyLane:
    """The life-safety lane's session, log and consumers (events and status only)."""

    def __init__(
        self, settings: Settings, registry: Registry, counters: IngestCounters,
        deadletters: DeadLetters, store: TelemetryStore,
        handle: Callable[[list[Reading]], None],
    ) -> None:
        self.log = ReadingLog(Path(settings.data_dir) / LANE_LOG)
        # Written once the lane's persistent session has subscribed at the broker: from then on
        # the broker queues every event for it, and the telemetry session may skip them.
        self._marker = Path(settings.data_dir) / LANE_MARKER
        self._ready = False
        self._then: Callable[[], None] | None = None  # run once, at the first SUBACK
        self._then_lock = threading.Lock()
        self.ingest = IngestPipeline(
            mqtt_url=settings.mqtt_url,
            client_id=f"{settings.mqtt_client_id}{LANE_SUFFIX}",
            prefix=settings.mqtt_topic_prefix,
            registry=registry, log=self.log, counters=counters, deadletters=deadletters,
            queue_max=settings.queue_max,
            subscription=life_safety_filters(settings.mqtt_topic_prefix),
            name="life-safety",
            tls=TlsFiles(settings.mqtt_ca_file, settings.mqtt_cert_file, settings.mqtt_key_file),
            on_subscribed=self._subscribed,
        )
        self.rules = LogConsumer(
            self.log, "lane-rules", retry_while_down(handle), RULES_BATCH_MAX, counters,
            deadletters, backoff=RULES_BACKOFF_S, counted_as="rules",
        )
        self.store = LogConsumer(
            self.log, "lane-store", store.write, settings.batch_max, counters, deadletters,
            counted_as="store",
        )

    def _subscribed(self) -> None:
        if not self._marker.exists():
            self._marker.touch()
        self._ready = True
        with self._then_lock:
            then, self._then = self._then, None
        if then is not None:
            then()  # paho's thread: a thread start and a connect_async, never a wait

    def subscribed_once(self) -> bool:
        """Whether the lane's session has ever subscribed (so the broker keeps its queue)."""
        if not self._ready:
            self._ready = self._marker.exists()  # a file test per event only until then
        return self._ready

    def start_consumers(self) -> None:
        """Start draining the lane's log (before any session: a previous backlog first)."""
        self.rules.start()
        self.store.start()

    def start_session(self, then: Callable[[], None] = lambda: None) -> None:
        """Connect the lane's broker session; `then` (the telemetry session's start) runs once
        it has subscribed. On a first start the telemetry session would otherwise take an
        event published before the lane's subscription existed and skip it as the lane's, if
        the lane subscribed meanwhile: an alarm on neither (the full suite saw a forced door
        never open). The per-site sessions start in the same order (api/site_sessions.py)."""
        with self._then_lock:
            self._then = then
        self.ingest.start()

    def stop(self) -> None:
        """Stop the session, then the consumers."""
        self.ingest.stop()
        self.rules.stop()
        self.store.stop()

    def health(self) -> dict[str, Any]:
        """The lane's broker session and consumers."""
        ingest = self.ingest.health()
        rules, store = self.rules.health(), self.store.health()
        return {
            "ok": ingest["ok"] and rules["ok"] and store["ok"],
            "connected": ingest["connected"], "queue_depth": ingest["queue_depth"],
            "rules_depth": rules["depth"], "store_depth": store["depth"],
        }

    def threads(self) -> dict[str, bool]:
        """Whether each of the lane's threads is alive."""
        return {
            "life_safety_writer": self.ingest.writer_running,
            "life_safety_rules_consumer": self.rules.running,
            "life_safety_store_consumer": self.store.running,
        }

"""Per-site broker sessions for `SITEWATCH_SITES` (SPEC §11): one site, its own two sessions.

A site this instance owns gets the two lanes of api/lanes.py, narrowed to that site:

    life-safety: session `{client id}-{site}-life-safety` on `{prefix}/{site}/+/event`, `…/status`
    telemetry:   session `{client id}-{site}` on `{prefix}/{site}/#` (events and status acked
                 and skipped there: the life-safety session has its own copy)

Both are persistent (clean_session False, QoS 1) and write into this instance's two durable
logs, which the instance's consumers drain whatever site a reading came from. The telemetry
session starts only once the life-safety session has subscribed, so the broker already keeps
a queue of events for the lane before the telemetry session starts skipping them.

Losing a site stops both sessions without clearing them: the writer finishes and acks the
batch in hand, the rest stays unacked, and the broker queues everything for the client ids
until the next owner connects with them (session present) and gets it all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from api.lanes import LANE_SUFFIX
from api.settings import Settings
from devices.registry import Registry
from devices.tls import TlsFiles
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.disk import LogDiskGuard
from ingest.log import ReadingLog
from ingest.pipeline import Hold, IngestPipeline

log = logging.getLogger("sitewatch.sites")


def site_client_id(client_id: str, site: str) -> str:
    """The client id of a site's telemetry session (SPEC §11)."""
    return f"{client_id}-{site}"


def site_life_safety_filters(prefix: str, site: str) -> list[str]:
    """The topic filters of one site's life-safety session."""
    return [f"{prefix}/{site}/+/event", f"{prefix}/{site}/+/status"]


class SiteSession:
    """One owned site: its life-safety session, then (once that subscribed) its telemetry one."""

    def __init__(
        self, site: str, settings: Settings, registry: Registry, counters: IngestCounters,
        deadletters: DeadLetters, telemetry_log: ReadingLog, lane_log: ReadingLog,
        disk: LogDiskGuard, hold: Hold | None = None,  # parks a dead owner's redeliveries
    ) -> None:
        self.site = site
        prefix = settings.mqtt_topic_prefix
        tls = TlsFiles(settings.mqtt_ca_file, settings.mqtt_cert_file, settings.mqtt_key_file)
        client_id = site_client_id(settings.mqtt_client_id, site)
        filters = site_life_safety_filters(prefix, site)
        self._lock = threading.Lock()
        self._stopped = False
        self.life_safety = IngestPipeline(
            mqtt_url=settings.mqtt_url, client_id=f"{client_id}{LANE_SUFFIX}", prefix=prefix,
            registry=registry, log=lane_log, counters=counters, deadletters=deadletters,
            queue_max=settings.queue_max, subscription=filters,
            name=f"life-safety-{site}", tls=tls, on_subscribed=self._lane_subscribed,
        )
        self.telemetry = IngestPipeline(
            mqtt_url=settings.mqtt_url, client_id=client_id, prefix=prefix,
            registry=registry, log=telemetry_log, counters=counters, deadletters=deadletters,
            queue_max=settings.queue_max, subscription=f"{prefix}/{site}/#",
            elsewhere=filters, disk=disk, name=f"ingest-{site}", tls=tls, hold=hold,
        )
        self._telemetry_started = False

    def _lane_subscribed(self) -> None:
        # paho's network thread of the lane session: starting the other session is only a
        # thread start and a connect_async, never a wait.
        with self._lock:
            if self._telemetry_started or self._stopped:
                return
            self._telemetry_started = True
        self.telemetry.start()

    def start(self) -> None:
        """Connect the life-safety session; the telemetry session follows its first SUBACK."""
        self.life_safety.start()

    def stop(self) -> None:
        """Stop taking messages, ack what is durable, disconnect keeping both sessions."""
        with self._lock:
            self._stopped = True
            started = self._telemetry_started
        if started:
            self.telemetry.stop()
        self.life_safety.stop()

    @property
    def connected(self) -> bool:
        """Both sessions connected and subscribed."""
        return self.life_safety.session.connected and self.telemetry.session.connected

    def wait_connected(self, timeout: float) -> bool:
        """Block until both sessions are subscribed (tests, the simulation); False on timeout."""
        return (self.life_safety.session.wait_connected(timeout)
                and self.telemetry.session.wait_connected(timeout))


class SiteSessions:
    """The sessions of the sites this instance owns right now; `take`/`drop` move one site."""

    def __init__(self, build: Callable[[str], SiteSession]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._sessions: dict[str, SiteSession] = {}

    def take(self, site: str) -> None:
        """Start serving `site` (its sessions connect with the site's fixed client ids)."""
        with self._lock:
            if site in self._sessions:
                return
            session = self._sessions[site] = self._build(site)
        session.start()
        log.info("serving site %s", site)

    def drop(self, site: str) -> None:
        """Stop serving `site`; the broker keeps its sessions' queues for the next owner."""
        with self._lock:
            session = self._sessions.pop(site, None)
        if session is not None:
            session.stop()
            log.info("handed site %s over", site)

    def stop(self) -> None:
        """Drop every site (at shutdown)."""
        for site in self.sites():
            self.drop(site)

    def sites(self) -> list[str]:
        """The sites served now, sorted."""
        with self._lock:
            return sorted(self._sessions)

    def get(self, site: str) -> SiteSession | None:
        """The session of one served site."""
        with self._lock:
            return self._sessions.get(site)

    def health(self) -> dict[str, object]:
        """Per served site whether both sessions are connected; ok when all are."""
        with self._lock:
            sessions = dict(self._sessions)
        connected = {s: x.connected for s, x in sessions.items()}
        return {"ok": all(connected.values()), "connected": all(connected.values()),
                "sites": connected, "queue_depth": 0}

    def writers_alive(self) -> bool:
        """Every started writer thread alive."""
        with self._lock:
            sessions = list(self._sessions.values())
        return all(s.life_safety.writer_running and (
            s.telemetry.writer_running or not s._telemetry_started) for s in sessions)

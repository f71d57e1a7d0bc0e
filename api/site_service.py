"""`SITEWATCH_SITES` inside `sitewatch serve` (SPEC §11): what taking and losing a site does.

Taking a site: the rules worker reads rule state back from the database (the previous owner
committed newer state) and applies what the previous owner left in the signal outbox; the
site's devices are watched for silence from now (as at a start); then the site's two broker
sessions connect with its fixed client ids and the broker hands over what it queued.
Losing a site: its sessions stop (the batch in hand is written and acked, the rest stays
queued at the broker); readings already in this instance's durable logs are still drained
by its consumers, so nothing acked is dropped.

The rules worker's ticks and outbox drain, the SLA and escalation sweeps and preventive
maintenance cover the sites owned now; devices of the other sites show in this instance's
API as their owner saved them (refreshed from the shared database every few seconds).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from api.jobs import Job
from api.site_handover import Handover, Replay
from api.site_owner import AutoSites, FixedSites
from api.site_sessions import SiteSession, SiteSessions
from rules.db.device_states import DeviceStateStore
from rules.db.site_locks import SiteLocks

if TYPE_CHECKING:
    from api.service import Service

PEERS_EVERY_S = 5.0  # seconds between reads of other instances' device states
DRAIN_AT_STOP_S = 10.0  # at a graceful stop, wait up to this long for the logs to empty

log = logging.getLogger("sitewatch.sites")


class SiteServing:
    """The owned sites of one instance: ownership (list or auto) and their sessions."""

    def __init__(self, service: Service) -> None:
        self._service = service
        settings = service.settings
        self._replays: dict[str, Replay] = {}  # sites taken from a dead owner: their hooks
        self.sessions = SiteSessions(lambda site: SiteSession(
            site, settings, service.registry, service.counters, service.deadletters,
            service.log, service.lane.log, service.disk, self._replays.pop(site, None),
        ))
        listed = settings.site_list()
        self.owner: FixedSites | AutoSites
        self.handover: Handover | None = None
        if listed is None:
            locks = SiteLocks(settings.database_url, settings.mqtt_client_id)
            self.owner = AutoSites(locks, self._registry_sites, self._take, self._drop)
            self.handover = Handover(service.engine, settings.data_dir, service.log)
        else:
            self.owner = FixedSites(listed, self._take, self._drop)
        service.rules.sites = self.owner.owned
        self.served_at_stop: frozenset[str] = frozenset()  # owned when the stop began
        self._device_states = DeviceStateStore(service.engine)

    def owned(self) -> frozenset[str]:
        """The sites served now."""
        return self.owner.owned()

    def notified(self) -> frozenset[str]:
        """The sites whose notifications this instance sends: those it serves, and "" (the
        incidents without a site) when it serves the registry's first site."""
        owned = self.owned()
        first = min(self._registry_sites(), default=None)
        return owned | {""} if first is not None and first in owned else owned

    def _registry_sites(self) -> Collection[str]:
        return {d.site for d in self._service.registry.devices.values()}

    def _take(self, site: str) -> None:
        service = self._service
        service.rules.reload_state()
        now = time.time()
        for d in list(service.registry.devices.values()):
            if d.site == site:
                service.evaluator.watch(d.site, d.id, d.kind, d.zone, now)
        if self.handover is not None and (replay := self.handover.take(site)) is not None:
            self._replays[site] = replay  # the previous owner died: park its redeliveries
        self.sessions.take(site)

    def _drop(self, site: str) -> None:
        self.sessions.drop(site)  # everything logged is acked when this returns
        # Not when the ownership connection was lost: PostgreSQL may be unreachable, and every
        # site must stop at once (the next owner then parks our redeliveries; we settle them).
        if self.handover is not None and self.owner.health()["ok"]:
            self.handover.release(site)

    def refresh_peers(self, _now: float) -> None:
        """Device states of the sites other instances serve, as they saved them."""
        owned = self.owned()
        snapshots = [s for s in self._device_states.load() if s.site not in owned]
        self._service.liveness.restore(snapshots, overwrite=True)

    def jobs(self) -> list[Job]:
        """The periodic work only an instance serving part of the sites has."""
        handover = [] if self.handover is None else self.handover.jobs(self.owned)
        return [Job("peer-device-states", self.refresh_peers, PEERS_EVERY_S), *handover]

    def start(self) -> None:
        """Take the listed sites, or a first share of them (auto) and keep rebalancing."""
        self.owner.start()

    def stop(self) -> None:
        """Hand every site over at once (sessions stopped, locks released), then let the
        consumers store and evaluate what was acked: the next owner cannot see this
        instance's logs, and this instance may not come back (scaled down)."""
        self.served_at_stop = self.owned()
        self.owner.stop()
        self.sessions.stop()
        self.drain(DRAIN_AT_STOP_S)

    def drain(self, timeout: float) -> int:
        """Wait until the durable logs are empty or `timeout` s pass; readings still left."""
        service = self._service
        logs = [(service.log, ("store", "rules")), (service.lane.log, ("lane-store", "lane-rules"))]

        def left() -> int:
            return sum(reading_log.depth(c) for reading_log, names in logs for c in names)

        deadline = time.monotonic() + timeout
        while (n := left()) and time.monotonic() < deadline:
            time.sleep(0.05)
        if n:
            log.warning("%d readings not yet stored or evaluated at stop: they will be when "
                        "this instance starts again with %s", n, service.settings.data_dir)
        return n

    def health(self) -> dict[str, Any]:
        """The owned sites' sessions and, in auto, the ownership connection."""
        sessions = self.sessions.health()
        owner = self.owner.health()
        return {**sessions, "ok": bool(sessions["ok"]) and bool(owner["ok"]), "ownership": owner}

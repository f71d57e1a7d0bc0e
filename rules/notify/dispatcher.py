"""Notifications: the dispatcher. Incident changes become logged deliveries (intake.py), and
each route sends its own due deliveries in its own lane (lanes.py): alerts before tickets,
critical first, every failure recorded and retried, a failing route cut off by its breaker.

Threads: one `notifier` thread reads the change feed, logs deliveries and hands due ones to
the lanes (database work only, never the network); each lane has `concurrency` senders.
The delivery log is the durable truth: a send is recorded after it happened, so a crash
mid-send resends it at the next start (at least once, one row per change and route).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from rules.db.database import WRITE
from rules.db.schema import deliveries, incidents
from rules.incidents.record import TimelineEntry
from rules.notify.delivery_log import pending_by_route
from rules.notify.intake import Intake, RouteVerdict, render_payload
from rules.notify.lanes import RouteLane
from rules.notify.mailer import mail_text, send_mail
from rules.notify.routes import Route, addressed
from rules.notify.webhook import DeliveryFailed, post_webhook

if TYPE_CHECKING:
    from rules.incidents.service import IncidentService
    from rules.notify.windows import MaintenanceWindows

__all__ = ["Notifier", "render_payload"]
log = logging.getLogger("sitewatch.notify")

POLL_S = 1.0  # seconds between feed reads and retry sweeps when nothing woke the notifier
ERROR_PAUSE_S = 1.0  # seconds to wait after a round that raised (database down)
LANE_STOP_S = 1.0  # seconds stop() waits, all lanes together, for sends in flight to end
ERROR_MAX = 1000  # characters of an error kept in the delivery log


def of_incidents_at(sites: Collection[str] | None) -> list[sa.ColumnElement[bool]]:
    """Deliveries of incidents at these sites (SITEWATCH_SITES, SPEC §11: each instance sends
    for the sites it serves, so two never send one delivery); None: all. The name "" stands
    for the incidents without a site (one instance sends those)."""
    if sites is None:
        return []
    c = incidents.c
    where = [c.site.in_(sorted(s for s in sites if s))]
    if "" in sites:
        where.append(c.site.is_(None))
    return [deliveries.c.incident_id.in_(sa.select(c.id).where(sa.or_(*where)))]


def _error_text(error: Exception) -> str:
    text = str(error) if isinstance(error, DeliveryFailed) else f"{type(error).__name__}: {error}"
    return text[:ERROR_MAX]


class Notifier:
    """Turns incident changes into logged, retried webhook and e-mail deliveries per route."""

    def __init__(
        self,
        engine: sa.Engine,
        incidents: IncidentService,
        routes: Sequence[Route],
        *,
        windows: MaintenanceWindows | None = None,
        verdict: RouteVerdict | None = None,
        clock: Callable[[], float] = time.time,
        poll_s: float = POLL_S,
        sites: Callable[[], Collection[str] | None] = lambda: None,  # sends for (§11)
    ) -> None:
        self._engine = engine
        self._sites = sites
        self._writer = engine.execution_options(**WRITE)  # SQLite: BEGIN IMMEDIATE
        self._incidents = incidents
        self._clock = clock
        self._poll_s = poll_s
        self._intake = Intake(engine, incidents, routes, windows, clock, verdict)
        self._wake = threading.Event()
        self.lanes = {r.name: RouteLane(r, self._send_one, self._wake.set) for r in routes}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscribed = False
        self.errors = 0  # notifier rounds that raised (database down); retried

    # -- intake ----------------------------------------------------------------------------
    def on_changes(self, entries: list[TimelineEntry]) -> None:
        """The subscribe callback: a wake-up only (the feed is read in commit order)."""
        if entries:
            self._wake.set()

    def process(self, entries: Sequence[TimelineEntry], now: float | None = None) -> int:
        """Log a pending (or muted) delivery per matching route; returns how many were new."""
        return self._intake.process(entries, now)

    def catch_up(self) -> int:
        """Log deliveries for every change after the saved cursor; returns how many were new."""
        return self._intake.catch_up()

    # -- sending ---------------------------------------------------------------------------
    def deliver_due(self, now: float | None = None, limit: int = 100) -> int:
        """Attempt every due delivery now, route by route, in this thread; returns successes.

        For tests and one-shot use: not while the worker threads run.
        """
        now = self._clock() if now is None else now
        done = 0
        for lane in self.lanes.values():
            for delivery_id, _ in self._due(lane.route.name, now, limit):
                done += self._send_one(lane, delivery_id)
        return done

    def _due(self, route: str, now: float, limit: int) -> list[tuple[int, int]]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(deliveries.c.id, deliveries.c.rank)
                .where(deliveries.c.route == route, deliveries.c.status == "pending",
                       deliveries.c.next_attempt_at <= now, *of_incidents_at(self._sites()))
                .order_by(deliveries.c.rank, deliveries.c.id)
                .limit(limit)
            ).all()
        return [(int(r.id), int(r.rank)) for r in rows]

    def _send_one(self, lane: RouteLane, delivery_id: int) -> int:
        """Attempt one pending delivery (if its breaker lets it) and record how it went."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(deliveries).where(
                    deliveries.c.id == delivery_id, deliveries.c.status == "pending"
                )
            ).first()
        if row is None or not lane.breaker.allow():
            return 0  # settled meanwhile, or the route is cut off: stays pending
        route = lane.route
        attempts = row.attempts + 1
        try:
            self._send(route, row.payload, row.idempotency_key)
        except Exception as e:  # any failure, the library's or ours, is this delivery's
            opened = lane.breaker.times_opened
            lane.breaker.failed()
            if lane.breaker.times_opened > opened:
                log.error("route %s failing: breaker open for %.0f s", route.name,
                          route.breaker_open_s)
            lane.failures += 1
            give_up = attempts >= route.max_attempts
            values: dict[str, Any] = {
                "status": "failed" if give_up else "pending", "attempts": attempts,
                "last_error": _error_text(e),
                "next_attempt_at": None if give_up else self._clock() + route.backoff(attempts),
            }
            log.warning("delivery %s attempt %d failed: %s", row.idempotency_key, attempts, e)
        else:
            lane.breaker.succeeded()
            lane.delivered += 1
            values = {"status": "delivered", "attempts": attempts, "last_error": None,
                      "next_attempt_at": None, "delivered_at": self._clock()}
        with self._writer.begin() as conn:
            conn.execute(deliveries.update().where(deliveries.c.id == row.id).values(**values))
        return 1 if values["status"] == "delivered" else 0

    def _send(self, route: Route, payload: str, key: str) -> None:
        route = addressed(route, payload)  # a notice to one person goes to their address
        if route.channel == "webhook":
            assert route.url and route.secret  # checked when the route was loaded
            post_webhook(route.url, payload.encode("utf-8"), secret=route.secret,
                         idempotency_key=key, timeout_s=route.timeout_s)
            return
        assert route.smtp_host and route.mail_from
        subject, text = mail_text(json.loads(payload))
        send_mail(host=route.smtp_host, port=route.smtp_port, mail_from=route.mail_from,
                  mail_to=route.mail_to, subject=subject, text=text, idempotency_key=key,
                  starttls=route.smtp_starttls, ca_file=route.smtp_ca_file,
                  username=route.smtp_username, password=route.smtp_password,
                  timeout_s=route.timeout_s)

    # -- worker ----------------------------------------------------------------------------
    def start(self) -> None:
        """Subscribe to incident changes, start every lane, then the notifier thread."""
        if not self._subscribed:
            self._incidents.subscribe(self.on_changes)
            self._subscribed = True
        self._stop.clear()
        for lane in self.lanes.values():
            lane.start()
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads; pending deliveries stay in the log for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        # A hanging send must not hold up the shutdown: every lane is halted first, then all
        # share one bound (joined one by one with a second each, N hanging routes took N s).
        for lane in self.lanes.values():
            lane.halt()
        deadline = time.monotonic() + LANE_STOP_S
        for lane in self.lanes.values():
            lane.stop(timeout=max(deadline - time.monotonic(), 0.0))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.catch_up()
                self._refill(self._clock())
            except Exception:
                self.errors += 1
                log.exception("notification round failed; retrying")
                self._stop.wait(ERROR_PAUSE_S)
                continue
            self._wake.wait(self._poll_s)

    def _refill(self, now: float) -> None:
        """Hand each lane its due deliveries, gravest first, until its queue refuses one (it
        stays pending in the log and is offered again at the next round)."""
        for lane in self.lanes.values():
            if lane.breaker.state == "open":
                continue  # cut off: nothing is queued until the breaker lets a probe through
            for delivery_id, rank in self._due(lane.route.name, now, lane.route.queue_max + 1):
                if not lane.offer(delivery_id, rank):
                    break

    # -- health ----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Per route: breaker, queue depth, failures, pending and the oldest pending's age."""
        now = self._clock()
        try:
            pending = pending_by_route(self._engine)
            database_ok = True
        except sa.exc.SQLAlchemyError:
            pending, database_ok = {}, False
        routes = {}
        for name, lane in self.lanes.items():
            count, oldest = pending.get(name, (0, None))
            routes[name] = {
                "breaker": lane.breaker.state, "breaker_opened": lane.breaker.times_opened,
                "queued": lane.depth(), "in_flight": lane.in_flight, "refused": lane.refused,
                "failures": lane.failures, "delivered": lane.delivered, "pending": count,
                "oldest_pending_age_s": None if oldest is None else round(max(now - oldest, 0), 3),
                "alive": lane.alive(),
            }
        running = self._thread is None or self._thread.is_alive()
        return {
            "ok": running and database_ok and all(r["alive"] for r in routes.values()),
            "errors": self.errors, "skipped_changes": self._intake.skipped,
            "open_breakers": sorted(n for n, r in routes.items() if r["breaker"] == "open"),
            "routes": routes,
        }

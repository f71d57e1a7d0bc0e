"""Incidents back onto MQTT for building systems (BMS, Node-RED, Home Assistant).

Every timeline entry is published at QoS 1 to `{prefix}/{site}/_events`, and the incident's
current state, retained, to `{prefix}/{site}/_incidents/{id}` (an empty retained message once
it is resolved or cancelled, which clears the retained copy). The publisher reads the
incident timeline with a cursor of its own (a row of `notification_cursor`, name `mqtt`)
and advances it only after the broker acknowledged every message of a batch: a broker
outage or a crash delays messages and may repeat a few, never loses one. Topics of this
`_` level are never device traffic (no device id starts with `_`); ingest ignores them.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa

from devices.broker_url import parse_broker_url
from rules.db.database import WRITE
from rules.db.schema import notify_cursor
from rules.incidents.record import Incident, TimelineEntry

if TYPE_CHECKING:
    from rules.incidents.service import IncidentService

log = logging.getLogger("sitewatch.mqtt_out")
CURSOR = "mqtt"
NO_SITE = "_"  # the site level of an incident without a site (a hand-opened ticket)
CLOSED = ("resolved", "cancelled")
BATCH = 200  # timeline entries per round
ACK_TIMEOUT_S = 10.0  # how long one message may wait for the broker's PUBACK


def incident_state(incident: Incident) -> dict[str, Any]:
    """The retained state document of one incident (README: "Incidents on MQTT")."""
    return {k: _jsonable(v) for k, v in asdict(incident).items()}


def timeline_event(entry: TimelineEntry, incident: Incident) -> dict[str, Any]:
    """The `_events` document of one change: the entry and the incident's key facts."""
    return {
        **{k: _jsonable(v) for k, v in asdict(entry).items()},
        "incident": {k: _jsonable(getattr(incident, k)) for k in (
            "id", "kind", "state", "title", "severity", "priority", "department", "site",
            "zone", "device_id", "rule_id",
        )},
    }


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


class IncidentPublisher:
    """Publishes incident changes from the timeline to the broker, at least once, in order."""

    def __init__(
        self,
        engine: sa.Engine,
        incidents: IncidentService,
        *,
        mqtt_url: str,
        client_id: str,
        prefix: str = "sitewatch",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._incidents = incidents
        self._prefix = prefix
        self._clock = clock
        address = parse_broker_url(mqtt_url)
        # Clean session: what must not be lost is kept by our cursor, not by the broker.
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        if address.username is not None:
            self._client.username_pw_set(address.username, address.password)
        if address.tls:
            self._client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        self._client.reconnect_delay_set(1, 30)
        self._address = address
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._states_due = False  # publish every open incident's state (first start)
        self.published = 0  # messages the broker acknowledged
        self.failures = 0  # rounds that stopped on an unacknowledged message
        self.last_error = ""

    def start(self) -> None:
        """Connect in the background and publish from the saved cursor on."""
        if self._saved_cursor() is None:  # first start: from now on, plus the open incidents
            with self._engine.connect() as conn:
                newest = conn.scalar(sa.text("SELECT max(id) FROM incident_timeline"))
            self._save_cursor(int(newest or 0))
            self._states_due = True
        self._incidents.subscribe(lambda entries: self._wake.set())
        self._client.connect_async(self._address.host, self._address.port, keepalive=30)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name="mqtt-out", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the message in flight, then disconnect."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._client.disconnect()
        self._client.loop_stop()

    def health(self) -> dict[str, Any]:
        """ok while the worker runs and the broker takes what is published."""
        running = self._thread is not None and self._thread.is_alive()
        return {
            "ok": running and self._client.is_connected(), "published": self.published,
            "failures": self.failures, "behind": self.backlog(), "last_error": self.last_error,
        }

    def backlog(self) -> int:
        """Timeline entries not yet published."""
        with self._engine.connect() as conn:
            newest = conn.scalar(sa.text("SELECT max(id) FROM incident_timeline")) or 0
        return max(0, int(newest) - self._cursor())

    def publish_pending(self) -> int:
        """Publish one batch after the cursor; returns entries done (the cursor moved past).

        At the first start (no cursor yet) the history is not replayed as events: the cursor
        starts at the newest entry and the state of every open incident is published once."""
        if self._states_due and self._publish_open_states():
            self._states_due = False
        after = self._cursor()
        entries = self._incidents.changes_since(after, BATCH)
        if not entries:
            return 0
        cache: dict[int, Incident] = {}
        done = after
        for entry in entries:
            incident = cache.get(entry.incident_id) or self._incidents.get(entry.incident_id)
            cache[entry.incident_id] = incident
            if not self._send_entry(entry, incident):
                break
            done = entry.id
        if done > after:
            self._save_cursor(done)
        return sum(1 for e in entries if e.id <= done)

    def _send_entry(self, entry: TimelineEntry, incident: Incident) -> bool:
        site = incident.site or NO_SITE
        state = b"" if incident.state in CLOSED else json.dumps(incident_state(incident)).encode()
        event = json.dumps(timeline_event(entry, incident)).encode()
        return (self._send(f"{self._prefix}/{site}/_events", event, retain=False)
                and self._send(f"{self._prefix}/{site}/_incidents/{incident.id}", state,
                               retain=True))

    def _send(self, topic: str, payload: bytes, *, retain: bool) -> bool:
        try:
            info = self._client.publish(topic, payload, qos=1, retain=retain)
            info.wait_for_publish(ACK_TIMEOUT_S)
            ok = info.is_published()
        except (RuntimeError, ValueError) as e:  # paho: not connected, queue full, bad topic
            self.last_error, ok = f"{type(e).__name__}: {e}", False
        if ok:
            self.published += 1
        else:
            self.failures += 1
            self.last_error = self.last_error or f"no PUBACK for {topic} in {ACK_TIMEOUT_S} s"
        return ok

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._client.is_connected():
                self._stop.wait(0.5)
                continue
            try:
                moved = self.publish_pending()
            except Exception:  # noqa: BLE001 - the database may be down: retry, never die
                log.exception("publishing incident changes failed")
                moved = 0
                self._stop.wait(2.0)
            if moved == 0:
                self._wake.wait(1.0)
                self._wake.clear()

    def _publish_open_states(self) -> bool:
        offset = 0
        while True:
            page, total = self._incidents.list(open_only=True, limit=500, offset=offset)
            for incident in page:
                state = json.dumps(incident_state(incident)).encode()
                topic = f"{self._prefix}/{incident.site or NO_SITE}/_incidents/{incident.id}"
                if not self._send(topic, state, retain=True):
                    return False  # tried again, whole, at the next round
            offset += len(page)
            if not page or offset >= total:
                return True

    def _saved_cursor(self) -> int | None:
        with self._engine.connect() as conn:
            value = conn.scalar(sa.select(notify_cursor.c.last_timeline_id).where(
                notify_cursor.c.name == CURSOR))
        return None if value is None else int(value)

    def _cursor(self) -> int:
        return self._saved_cursor() or 0

    def _save_cursor(self, timeline_id: int) -> None:
        with self._engine.execution_options(**WRITE).begin() as conn:
            moved = conn.execute(notify_cursor.update().where(
                notify_cursor.c.name == CURSOR
            ).values(last_timeline_id=timeline_id)).rowcount
            if not moved:
                conn.execute(notify_cursor.insert().values(
                    name=CURSOR, last_timeline_id=timeline_id))

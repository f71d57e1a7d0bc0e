"""The MQTT session (paho-mqtt 2.x): persistent, QoS 1, manual acks, reconnect and resubscribe.

Acks are sent only by `ack()`, after the message is durable. paho queues an ack packet the
same way it queues a publish (a deque append plus a wake-up of the network thread), so
calling it from another thread is safe. What is not safe is acking a packet id across a
reconnect: the broker redelivers every unacked message of the session on reconnect and may
reuse a freed id for another message, so an ack from an older connection would confirm the
wrong message. Each Delivery therefore carries the connection generation it arrived on, and
an ack from an older generation is skipped (the redelivered copy gets acked instead).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.matcher import MQTTMatcher

from devices.broker_url import parse_broker_url
from devices.tls import TlsFiles, tls_failure
from ingest.mqtt_read import BufferedReadClient

log = logging.getLogger(__name__)

KEEPALIVE_S = 30
RECONNECT_MIN_S = 1  # paho's reconnect backoff doubles from here...
RECONNECT_MAX_S = 30  # ...up to here
_PUBACK = struct.Struct("!BBH")  # a PUBACK: type, remaining length 2, packet id
ACKS_READ_S = 2.0  # a stop waits this long at most for the broker to have read our acks
# Unsubscribed at a stop, never subscribed: the broker's answer only marks what it has read.
_BARRIER_FILTER = "sitewatch/stop-barrier"


class Delivery(NamedTuple):
    """One message as the broker handed it over, with what is needed to ack it later.

    A NamedTuple: one is built per message on paho's thread, and a tuple is the cheapest
    immutable record to build.
    """

    topic: str
    payload: bytes
    mid: int  # packet id, for the ack
    qos: int
    generation: int  # connection it arrived on; acks from older connections are skipped
    received_at: float  # Unix seconds
    retained: bool = False  # sent from the broker's retained store (a subscribe), not live
    dup: bool = False  # the broker sent it before, to this session's client id


class _NoFilters(MQTTMatcher):
    """paho's matcher of per-topic callbacks, answering at once while none is registered.

    paho matches every incoming topic against the filters of `message_callback_add` before
    it calls `on_message`, walking its topic tree through nested generators: about a tenth
    of all ingest CPU at 8,000 messages/s. This session registers no such filter, so the
    walk always finds nothing; with a filter registered it walks as before.
    """

    def iter_match(self, topic: str) -> Iterator[Any]:
        """Callbacks whose filter matches `topic` (none without filters, without walking)."""
        return super().iter_match(topic) if self._root._children else iter(())


class MqttSession:
    """A persistent (clean_session=False) MQTT 3.1.1 session subscribed at QoS 1."""

    def __init__(
        self,
        url: str,
        client_id: str,
        subscription: str | Sequence[str],  # one topic filter or several, each at QoS 1
        on_message: Callable[[Delivery], None],
        clock: Callable[[], float] = time.time,
        tls: TlsFiles | None = None,  # mqtts://: CA and client certificate (None: system CAs)
        on_subscribed: Callable[[], None] | None = None,  # after each successful SUBACK
    ) -> None:
        self.address = parse_broker_url(url)
        filters = [subscription] if isinstance(subscription, str) else list(subscription)
        self._subscription: list[tuple[str, int]] = [(f, 1) for f in filters]
        self._on_message_cb = on_message
        self._on_subscribed = on_subscribed
        self._clock = clock
        self._lock = threading.Lock()  # guards _generation against acks in flight
        self._generation = 0
        self._connected = threading.Event()
        self._unsubacks: set[int] = set()  # packet ids of UNSUBACKs not yet waited for
        self._unsuback = threading.Condition()
        self._client = BufferedReadClient(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,  # the broker keeps our subscription and unacked messages
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if self.address.username is not None:
            self._client.username_pw_set(self.address.username, self.address.password)
        self._tls = tls or TlsFiles()
        self._tls_reported = False  # one line per outage, not one per retry
        if self.address.tls:
            self._client.tls_set_context(self._tls.context())
            self._client.on_connect_fail = self._on_connect_fail
        self._client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self._client.on_pre_connect = self._on_pre_connect
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_unsubscribe = self._on_unsubscribe
        self._client.on_message = self._on_message  # QoS 2 and whatever paho parses itself
        self._client.on_publish_fast = self._on_publish
        # A private attribute of paho 2.x: if a later paho renames it, this assignment only
        # adds an unused attribute and paho matches as before (slower, equally correct).
        self._client._on_message_filtered = _NoFilters()

    @property
    def connected(self) -> bool:
        """True while the broker connection is up and subscribed."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected (for start-up and tests); False on timeout."""
        return self._connected.wait(timeout)

    def start(self) -> None:
        """Connect in the background; paho retries with backoff until the broker answers."""
        self._client.connect_async(self.address.host, self.address.port, KEEPALIVE_S)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect cleanly once the broker has read the acks sent so far, and stop the
        network thread.

        Acks written just before a DISCONNECT can be lost: stopping right after acking fifty
        messages, Mosquitto 2.0.11 delivered some of them again to the next session in 7-12
        of 60 tries under xdist load (a diagnostic run; tests/ingest/test_mqtt.py keeps 20
        such stops, which fail in the first without this wait). So the stop first sends an
        UNSUBSCRIBE, which the broker answers only after reading what came before it, and
        waits for the answer (at most ACKS_READ_S).
        """
        self._wait_acks_read()
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def _wait_acks_read(self) -> None:
        if not self._connected.is_set() or threading.current_thread() is getattr(
                self._client, "_thread", None):
            return  # nothing acked on this link yet; or on paho's thread, which answers
        with self._unsuback:
            self._unsubacks.clear()  # answers an earlier stop stopped waiting for
            rc, mid = self._client.unsubscribe(_BARRIER_FILTER)
            if rc != mqtt.MQTT_ERR_SUCCESS or mid is None:
                return
            if not self._unsuback.wait_for(lambda: mid in self._unsubacks, ACKS_READ_S):
                log.warning("the broker did not answer within %.0f s before the stop: acks "
                            "sent just before it may be lost, and their messages redelivered",
                            ACKS_READ_S)
            self._unsubacks.discard(mid)

    def reconnect(self) -> None:
        """Drop and re-open the connection so the broker redelivers every unacked message."""
        self.stop()
        self.start()

    def ack(self, delivery: Delivery) -> bool:
        """Acknowledge a QoS 1 message; False (and nothing sent) if it came on an older link."""
        if delivery.qos == 0:
            return True
        with self._lock:
            if delivery.generation != self._generation:
                return False
            self._client.ack(delivery.mid, delivery.qos)
            return True

    def ack_all(self, deliveries: Sequence[Delivery]) -> int:
        """Acknowledge a batch's QoS 1 messages, in order, with one write; how many were acked.

        paho queues each `ack` as a packet of its own and wakes its network thread for it: a
        lock, a byte to a socket pair and a `send` per message, about a sixth of the service's
        CPU in a burst (BENCHMARKS.md, "More than one core"). A PUBACK is four bytes (MQTT
        3.1.1 §3.4); the batch's go out as one buffer of consecutive packets, which is what the
        broker reads from the stream either way, in the order they were taken (§4.6). A message
        that came on an older link is skipped: the broker redelivers it.
        """
        queue = getattr(self._client, "_packet_queue", None)  # private: paho 2.x
        if queue is None or any(d.qos == 2 for d in deliveries):
            return sum(self.ack(d) for d in deliveries if d.qos)  # one by one, as paho does
        with self._lock:
            mids = [d.mid for d in deliveries
                    if d.qos == 1 and d.generation == self._generation]
            if mids:
                queue(mqtt.PUBACK, b"".join(_PUBACK.pack(mqtt.PUBACK, 2, m) for m in mids), 0, 0)
            return len(mids)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if self._tls_reported:
            return
        reason = tls_failure(self.address.host, self.address.port, self._tls)
        if reason is not None:
            self._tls_reported = True
            log.error("cannot connect to the broker: %s", reason)

    def _bump_generation(self) -> None:
        with self._lock:
            self._generation += 1

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        self._bump_generation()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        self._tls_reported = False  # a later outage is reported again
        # Subscribe on every connect: the broker may have lost the session (restart without
        # persistence), and a duplicate subscription is harmless.
        client.subscribe(self._subscription)
        log.info(
            "connected to %s:%s (session present: %s)",
            self.address.host,
            self.address.port,
            flags.session_present,
        )

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        if any(r.is_failure for r in reasons):
            log.error("broker refused the subscription %s: %s", self._subscription, reasons)
            return
        self._connected.set()
        if self._on_subscribed is not None:
            self._on_subscribed()

    def _on_unsubscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        with self._unsuback:
            self._unsubacks.add(mid)
            self._unsuback.notify_all()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._connected.clear()
        self._bump_generation()
        if getattr(reason, "is_failure", True):
            log.warning("disconnected from broker: %s", reason)
        else:  # our own clean disconnect (stop, reconnect): news, not a problem
            log.info("disconnected from broker: %s", reason)

    def _on_publish(self, topic: bytes | bytearray, payload: bytes, mid: int, qos: int,
                    retain: bool, dup: bool) -> None:
        try:
            text = topic.decode()
        except UnicodeDecodeError:
            text = topic.decode("utf-8", errors="replace")  # decode rejects it later
        self._on_message_cb(
            Delivery(text, payload, mid, qos, self._generation, self._clock(), retain, dup))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._on_publish(msg._topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.retain),
                         bool(msg.dup))

"""Ingest: broker -> bounded queue -> decode -> durable log -> ack, in that order.

A QoS 1 message is acked only after its reading is in the durable log (or after it was
rejected and dead-lettered, so a malformed message is not redelivered forever). A crash at any
point therefore loses nothing: unacked messages come back from the broker's persistent
session, acked ones are in the log.

Duplicates: a message redelivered after a crash carries the same payload `ts`, so the store
overwrites the same point. A payload without `ts` takes its receive time, so a redelivered
copy of it may be stored twice (at two receive times); devices should send `ts`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from paho.mqtt.client import topic_matches_sub

from devices.reading import Reading
from devices.registry import Registry
from devices.tls import TlsFiles
from devices.topics import is_sitewatch_output
from ingest.caps import DeviceCaps
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.decode import Decoder
from ingest.disk import LogDiskGuard
from ingest.log import LogError, ReadingLog, encode_reading
from ingest.mqtt import Delivery, MqttSession
from ingest.rejected import Rejected

log = logging.getLogger(__name__)

LOG_RETRY_S = 1.0  # wait before retrying a failed append to the log
ROOM_POLL_S = 0.5  # paho's thread, waiting for room in the queue, checks for a stop this often
# Given a batch's decoded messages and their readings as (log body, reading), the items to log;
# it has stored the others durably elsewhere before it returns (they are acked with the batch).
Hold = Callable[[Sequence[Delivery], list[tuple[str, Reading]]], list[tuple[str, Reading]]]


class IngestPipeline:
    """Owns the MQTT session, the bounded queue and the writer thread that fills the log.

    When the queue is full, paho's thread waits for the writer to take a batch
    (`_wait_for_room`): TCP then holds the broker back, memory stays bounded and nothing is
    refused. A message is refused (counted in `queue_refused`, left unacked) only when the
    writer is gone or a stop has begun; once the writer has emptied the queue the session
    reconnects, which makes the broker redeliver every unacked message of the session (QoS 0
    messages refused this way are lost, as QoS 0 allows).
    """

    def __init__(
        self,
        mqtt_url: str,
        client_id: str,
        prefix: str,
        registry: Registry,
        log: ReadingLog,
        counters: IngestCounters,
        deadletters: DeadLetters,
        queue_max: int,
        clock: Callable[[], float] = time.time,
        batch_max: int = 1000,  # messages per log transaction at most
        subscription: str | Sequence[str] | None = None,  # topic filters; `{prefix}/#`
        elsewhere: Sequence[str] = (),  # topic filters another session takes: acked, skipped
        elsewhere_ready: Callable[[], bool] = lambda: True,  # that session exists at the broker
        on_subscribed: Callable[[], None] | None = None,  # our session is subscribed
        disk: LogDiskGuard | None = None,  # past its hard limit, messages are left unacked
        name: str = "ingest",  # thread name
        tls: TlsFiles | None = None,  # mqtts://: private CA and client certificate
        hold: Hold | None = None,  # takes some decoded messages elsewhere (api/site_handover.py)
    ) -> None:
        self._prefix = prefix
        self._decode = Decoder(registry, prefix, counters.add_warning)
        self._caps = DeviceCaps(registry)  # bounds unregistered ids and unknown metric names
        self._name = name
        self._elsewhere = tuple(elsewhere)
        self._elsewhere_ready = elsewhere_ready
        self._elsewhere_last = {f.rsplit("/", 1)[-1] for f in self._elsewhere}
        self._disk = disk
        self._hold = hold
        self._disk_refusing = False  # refreshed by the writer, read on paho's thread
        self._log = log
        self.counters = counters
        self.deadletters = deadletters
        self._clock = clock
        self._batch_max = batch_max
        # A deque rather than queue.Queue: paho's thread is its only producer and the writer
        # its only consumer, so append/popleft (atomic) and a length check bound it without
        # a lock per message; `_queued` wakes the writer when it found the deque empty.
        self._queue: deque[Delivery] = deque()
        self._queue_max = queue_max
        self._queued = threading.Event()
        self._room = threading.Event()  # set by the writer when it takes a batch
        self._refused_unacked = threading.Event()  # a QoS 1 message awaits redelivery
        self._stop = threading.Event()
        self._session_lock = threading.Lock()  # `connect` against the start of a `stop`
        self._writer: threading.Thread | None = None
        # `{prefix}/#` rather than `{prefix}/+/+/+`: a device publishing to a topic with too
        # many or too few levels is then counted and dead-lettered as bad_topic, not invisible.
        self.session = MqttSession(
            mqtt_url, client_id, subscription or f"{prefix}/#", self._on_message, clock=clock,
            tls=tls, on_subscribed=on_subscribed,
        )

    def start(self, connect: bool = True) -> None:
        """Start the writer and (unless `connect` is False: `connect()` later) the session."""
        self._stop.clear()
        self._writer = threading.Thread(target=self._run, name=f"{self._name}-writer",
                                        daemon=True)
        self._writer.start()
        if connect:
            self.session.start()

    def connect(self) -> None:
        """Connect the broker session of a pipeline started with `connect=False` (from any
        thread; nothing once a stop has begun, so a late call leaves no session behind)."""
        with self._session_lock:
            if not self._stop.is_set():
                self.session.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop taking messages, finish and ack the current batch, then disconnect.

        Messages still queued are not acked: the broker redelivers them to the next session.
        """
        with self._session_lock:
            self._stop.set()
        self._room.set()
        if self._writer is not None:
            self._writer.join(timeout)
            self._writer = None
        self.session.stop()
        self._queue.clear()

    @property
    def writer_running(self) -> bool:
        """True while the writer thread is alive."""
        return self._writer is not None and self._writer.is_alive()

    @property
    def queue_depth(self) -> int:
        """Messages taken from the broker and waiting for the writer."""
        return len(self._queue)

    def health(self) -> dict[str, Any]:
        """Broker connection, writer thread, queue depth and log depth per consumer; ok when
        connected with the writer alive."""
        writer_running = self.writer_running
        return {
            "ok": self.session.connected and writer_running,
            "connected": self.session.connected,
            "queue_depth": self.queue_depth,
            "queue_max": self._queue_max,
            "writer_running": writer_running,
            "log_depth": {c: self._log.depth(c) for c in self._log.consumers()},
        }

    def _on_message(self, d: Delivery) -> None:
        # paho's network thread: it blocks only while the queue is full or telemetry is past
        # the log's disk hard limit (`_wait_for_room`, `_wait_for_disk`). Taken messages are
        # counted as received by the writer, a batch at a time; those left at a stop here.
        life_safety = bool(self._elsewhere) and self._taken_elsewhere(d.topic)
        if life_safety and self._elsewhere_ready():
            # The other session has its own copy (its own queue at the broker). Until it has
            # subscribed once (first start, upgrade), it has none: we take the message here.
            self.session.ack(d)
            return
        if self._disk_refusing and not life_safety and not self._wait_for_disk():
            self.counters.add_received()  # left unacked: the broker redelivers it
            if d.qos > 0:
                self._refused_unacked.set()
            return
        if len(self._queue) >= self._queue_max and not self._wait_for_room():
            self.counters.add_received()
            self.counters.add_queue_refused()
            if d.qos > 0:
                self._refused_unacked.set()
            return
        self._queue.append(d)
        if not self._queued.is_set():
            self._queued.set()

    def _wait_for_room(self) -> bool:
        """paho's thread, the queue full: wait for the writer to take a batch; False when
        stopping or when its thread is gone.

        Waiting holds the broker back (TCP) and loses nothing. Refusing lost readings: each
        refused message stayed in flight at the broker until a reconnect while later ones were
        taken and acked, and in bursts of 200,000 some were acked and never stored, most
        likely once the packet ids wrapped past 65,535 and an ack for a new message matched an
        old refused one (BENCHMARKS.md, "A loss under a burst"). So the writer's pace is the
        only limit here.
        """
        while len(self._queue) >= self._queue_max:
            self._room.clear()
            if len(self._queue) < self._queue_max:  # a batch was taken before the clear
                break
            if self._stop.is_set() or not self.writer_running:
                return False
            self._room.wait(ROOM_POLL_S)
        return True

    def _wait_for_disk(self) -> bool:
        """paho's thread, telemetry past the log's disk hard limit: hold it, and the broker
        behind it, until the writer measures the log under the limit again; False (refused,
        unacked) when stopping, or when this session also carries events (the life-safety
        session not subscribed yet): an event must not wait behind a held reading. Held, not
        refused, for the reason `_wait_for_room` gives; counted once per message."""
        assert self._disk is not None
        self._disk.refused += 1
        if not (self._elsewhere and self._elsewhere_ready()):
            return False
        while self._disk_refusing:
            if self._stop.is_set() or not self.writer_running:
                return False
            self._stop.wait(ROOM_POLL_S)
        return True

    def _taken_elsewhere(self, topic: str) -> bool:
        if topic[topic.rfind("/") + 1 :] not in self._elsewhere_last:
            return False  # the common case (telemetry), without matching any filter
        return any(topic_matches_sub(f, topic) for f in self._elsewhere)

    def _take(self) -> list[Delivery]:
        """Whatever is queued (at most batch_max), waiting up to 0.2 s only when nothing is."""
        q = self._queue
        if not q:
            self._queued.clear()
            if not q and not self._queued.wait(0.2):  # re-checked: an append may precede clear
                return []
        # Never waiting for more than is there: alert latency matters.
        batch = [q.popleft() for _ in range(min(len(q), self._batch_max))]
        self._room.set()  # paho's thread may be waiting for room
        return batch

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._disk is not None:
                self._disk_refusing = self._disk.refusing()  # measured at most once a second
            batch = self._take()
            if not batch:
                self._redeliver_refused()
                continue
            self.counters.add_received(len(batch))
            try:
                self._process(batch)
            except Exception:
                log.exception("ingest batch of %d failed; left unacked", len(batch))
                self._refused_unacked.set()  # have the broker redeliver them
            self._redeliver_refused()

    def _redeliver_refused(self) -> None:
        if self._disk_refusing:
            return  # redelivered now, they would only be refused again
        if self._refused_unacked.is_set() and not self._queue and not self._stop.is_set():
            self._refused_unacked.clear()
            log.info("reconnecting so the broker redelivers refused messages")
            self.session.reconnect()

    def _reject(self, d: Delivery, reason: str, detail: str) -> None:
        self.counters.add_rejected(reason)
        self.deadletters.add(d.topic, reason, detail, d.payload, d.received_at)

    def _process(self, batch: list[Delivery]) -> None:
        items: list[tuple[str, Reading]] = []
        sources: list[Delivery] = []  # the message of each item
        for d in batch:
            if is_sitewatch_output(d.topic, self._prefix):
                self.counters.add_warning("own_output")  # our incidents on MQTT: not a device
                continue
            if d.retained and d.topic.endswith("/event"):
                # The broker's retained copy, sent again at every (re)subscribe: a replay of
                # an old event, never a new alarm. Counted and acked, not evaluated.
                self.counters.add_warning("retained_event")
                continue
            try:
                r = self._caps(self._decode(d.topic, d.payload, d.received_at, d.retained))
                # Encoded here, per message: a reading that cannot be written is refused
                # alone instead of failing (and redelivering) the whole batch forever.
                items.append((encode_reading(r), r))
                sources.append(d)
            except Rejected as e:
                self._reject(d, e.reason, e.detail)
            except Exception as e:  # a decoder bug must not make a message redeliver forever
                log.exception("decoding %r failed", d.topic[:200])
                self._reject(d, "decode_error", repr(e))
        if self._hold is not None:
            items = self._hold(sources, items)
        while True:
            try:
                self._log.append_encoded(items)
                break
            except LogError:
                log.exception("cannot append %d readings to the log", len(items))
                if self._stop.wait(LOG_RETRY_S):
                    return  # stopping: leave them unacked, the broker redelivers
        self.counters.add_accepted(len(items))
        for _, r in items:
            if r.seq is not None:
                self.counters.observe_seq(r.site, r.device_id, r.seq)
        self.session.ack_all(batch)

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
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from devices.reading import Reading
from devices.registry import Registry
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.decode import Rejected, decode
from ingest.log import LogError, ReadingLog
from ingest.mqtt import Delivery, MqttSession

log = logging.getLogger(__name__)

LOG_RETRY_S = 1.0  # wait before retrying a failed append to the log


class Ingest:
    """Owns the MQTT session, the bounded queue and the writer thread that fills the log.

    When the queue is full a message is neither dropped nor acked: it is counted in
    `queue_refused` and left unacked, and once the writer has emptied the queue the session
    reconnects, which makes the broker redeliver every unacked message of the session. That
    keeps memory bounded without losing QoS 1 data (QoS 0 messages refused this way are lost,
    as QoS 0 allows). Blocking paho's thread instead would stall pings and acks.
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
    ) -> None:
        self._prefix = prefix
        self._registry = registry
        self._log = log
        self.counters = counters
        self.deadletters = deadletters
        self._clock = clock
        self._batch_max = batch_max
        self._queue: queue.Queue[Delivery] = queue.Queue(maxsize=queue_max)
        self._queue_max = queue_max
        self._refused_unacked = threading.Event()  # a QoS 1 message awaits redelivery
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        # `{prefix}/#` rather than `{prefix}/+/+/+`: a device publishing to a topic with too
        # many or too few levels is then counted and dead-lettered as bad_topic, not invisible.
        self.session = MqttSession(
            mqtt_url, client_id, f"{prefix}/#", self._on_message, clock=clock
        )

    def start(self) -> None:
        """Start the writer and connect to the broker."""
        self._stop.clear()
        self._writer = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._writer.start()
        self.session.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop taking messages, finish and ack the current batch, then disconnect.

        Messages still queued are not acked: the broker redelivers them to the next session.
        """
        self._stop.set()
        if self._writer is not None:
            self._writer.join(timeout)
            self._writer = None
        self.session.stop()
        while not self._queue.empty():
            self._queue.get_nowait()

    def health(self) -> dict[str, Any]:
        """Broker connection, queue depth and log depth per consumer."""
        return {
            "connected": self.session.connected,
            "queue_depth": self._queue.qsize(),
            "queue_max": self._queue_max,
            "writer_running": self._writer is not None and self._writer.is_alive(),
            "log_depth": {c: self._log.depth(c) for c in self._log.consumers()},
        }

    def _on_message(self, d: Delivery) -> None:
        # paho's network thread: never block here.
        self.counters.add_received()
        try:
            self._queue.put_nowait(d)
        except queue.Full:
            self.counters.add_queue_refused()
            if d.qos > 0:
                self._refused_unacked.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = [self._queue.get(timeout=0.2)]
            except queue.Empty:
                self._redeliver_refused()
                continue
            # Take whatever is queued, never waiting for more: alert latency matters.
            while len(batch) < self._batch_max:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._process(batch)
            except Exception:
                log.exception("ingest batch of %d failed; left unacked", len(batch))
                self._refused_unacked.set()  # have the broker redeliver them
            self._redeliver_refused()

    def _redeliver_refused(self) -> None:
        if self._refused_unacked.is_set() and self._queue.empty() and not self._stop.is_set():
            self._refused_unacked.clear()
            log.info("reconnecting so the broker redelivers refused messages")
            self.session.reconnect()

    def _reject(self, d: Delivery, reason: str, detail: str) -> None:
        self.counters.add_rejected(reason)
        self.deadletters.add(d.topic, reason, detail, d.payload, d.received_at)

    def _process(self, batch: list[Delivery]) -> None:
        readings: list[Reading] = []
        for d in batch:
            try:
                readings.append(
                    decode(d.topic, d.payload, d.received_at, self._registry, self._prefix)
                )
            except Rejected as e:
                self._reject(d, e.reason, e.detail)
            except Exception as e:  # a decoder bug must not make a message redeliver forever
                log.exception("decoding %r failed", d.topic[:200])
                self._reject(d, "decode_error", repr(e))
        while True:
            try:
                self._log.append(readings)
                break
            except LogError:
                log.exception("cannot append %d readings to the log", len(readings))
                if self._stop.wait(LOG_RETRY_S):
                    return  # stopping: leave them unacked, the broker redelivers
        self.counters.add_accepted(len(readings))
        for r in readings:
            if r.seq is not None:
                self.counters.observe_seq(r.site, r.device_id, r.seq)
        for d in batch:
            self.session.ack(d)

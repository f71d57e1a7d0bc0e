"""paho's MQTT client reading its socket up to 64 KiB at a time instead of a few bytes.

paho 2.x reads each packet with three or four `recv` calls (the type byte, each byte of the
remaining length, then the body) and goes back to `select` after every packet when nothing of
its own is in flight, as with QoS 1 messages acknowledged by hand: about five system calls per
reading on the network thread, a third of the service's CPU in a burst (BENCHMARKS.md, "More
than one core"). Here `recv` fills a buffer that paho's small reads are served from, and a read
event goes on parsing packets while whole ones are buffered. The bytes, their order and paho's
parsing are unchanged; the buffer is dropped with the socket, so a reconnect starts clean.

A QoS 0 or 1 PUBLISH of MQTT 3.1.1 acked by hand (our sessions) is handed to `on_publish_fast`
as its topic, payload, packet id and flags, read straight from the packet paho has just read:
paho's own path built an `MQTTMessage`, an `MQTTMessageInfo` with a `threading.Condition`, a
log line's arguments and a callback lookup for each one, about a quarter of the ingest child's
interpreter time in a drain (BENCHMARKS.md, "The telemetry session in a process of its own").
Any other PUBLISH (QoS 2 or the invalid 3, MQTT 5, a packet too short to hold what its header
says) and every other packet go through paho as before.
"""

from __future__ import annotations

from collections.abc import Callable

import paho.mqtt.client as mqtt

READ_SIZE = 65536  # bytes asked of the socket per recv
# topic (as read: bytes), payload, packet id (0 at QoS 0), qos, retain, dup
FastPublish = Callable[[bytearray, bytes, int, int, bool, bool], None]


class BufferedReadClient(mqtt.Client):
    """`mqtt.Client` with a read buffer under its private `_sock_recv` (paho 2.x)."""

    _rbuf: bytes = b""
    _rpos: int = 0
    on_publish_fast: FastPublish | None = None  # None: every PUBLISH through `on_message`

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(READ_SIZE)  # raises as paho expects when nothing is there
            if not data:
                return data  # the broker closed the connection
            self._rbuf, self._rpos = data, 0
        start = self._rpos
        self._rpos = min(start + bufsize, len(self._rbuf))
        return self._rbuf[start:self._rpos]

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        """paho's read step, repeated while buffered bytes remain: `select` would not wake for
        them. A partial packet left in the buffer is completed from the socket next time."""
        rc = super().loop_read(max_packets)
        while rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS and self._rpos < len(self._rbuf) \
                and self._sock is not None:
            rc = super().loop_read(max_packets)
        return rc

    def _sock_close(self) -> None:
        self._rbuf, self._rpos = b"", 0
        super()._sock_close()

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        fast = self.on_publish_fast
        command: int = self._in_packet["command"]
        qos = (command & 0x06) >> 1
        if fast is None or qos > 1 or not self._manual_ack or self._protocol == mqtt.MQTTv5:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        end = 2 + ((packet[0] << 8) | packet[1]) if len(packet) >= 2 else 0
        if end <= 2 or len(packet) < end + 2 * qos:  # empty topic, or cut short: paho refuses
            return super()._handle_publish()
        mid = (packet[end] << 8) | packet[end + 1] if qos else 0
        fast(packet[2:end], memoryview(packet)[end + 2 * qos:].tobytes(), mid, qos,
             bool(command & 0x01), bool(command & 0x08))
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

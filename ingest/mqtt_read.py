"""paho's MQTT client reading its socket up to 64 KiB at a time instead of a few bytes.

paho 2.x reads each packet with three or four `recv` calls (the type byte, each byte of the
remaining length, then the body) and goes back to `select` after every packet when nothing of
its own is in flight, as with QoS 1 messages acknowledged by hand: about five system calls per
reading on the network thread, a third of the service's CPU in a burst (BENCHMARKS.md, "More
than one core"). Here `recv` fills a buffer that paho's small reads are served from, and a read
event goes on parsing packets while whole ones are buffered. The bytes, their order and paho's
parsing are unchanged; the buffer is dropped with the socket, so a reconnect starts clean.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt

READ_SIZE = 65536  # bytes asked of the socket per recv


class BufferedReadClient(mqtt.Client):
    """`mqtt.Client` with a read buffer under its private `_sock_recv` (paho 2.x)."""

    _rbuf: bytes = b""
    _rpos: int = 0

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

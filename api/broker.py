"""An embedded MQTT broker (amqtt) for `sitewatch demo`: no server to install."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import threading
from concurrent.futures import Future
from pathlib import Path

from amqtt.broker import Broker


class EmbeddedBroker:
    """amqtt on 127.0.0.1:port, in a thread of its own with its own event loop."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self._config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "plugins": {
                # Demo only: anonymous clients, on the loopback interface.
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mqtt-broker",
                                        daemon=True)
        self._broker: Broker | None = None
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)

    def start(self, timeout: float = 15.0) -> None:
        """Start listening; raises if the port cannot be bound."""
        self._thread.start()

        async def _start() -> Broker:
            broker = Broker(self._config, loop=self._loop)
            await broker.start()
            return broker

        fut: Future[Broker] = asyncio.run_coroutine_threadsafe(_start(), self._loop)
        self._broker = fut.result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the broker down and end its thread."""
        if self._broker is not None:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(timeout)
            self._broker = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    @property
    def url(self) -> str:
        """The broker's URL for Sitewatch settings and the simulator."""
        return f"mqtt://{self.host}:{self.port}"


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
BELOW_EPHEMERAL = 12_000  # ports tried: this many under the kernel's ephemeral range
_PICK = random.SystemRandom()  # never seeded alike in two processes (test workers, forks)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody uses right now, below the kernel's ephemeral range.

    A port the kernel hands out itself (`bind(0)`) comes from the range outgoing connections
    take their local ports from, so between this call and the server's own bind a client's
    connection could take it (a demo's API once failed to start so: "address already in use").
    Ports below that range are only ever taken by an explicit bind, which the probe here sees.
    """
    try:
        low = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    for _ in range(100):
        port = _PICK.randrange(max(1024, low - BELOW_EPHEMERAL), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # that whole band in use: what the kernel gives
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

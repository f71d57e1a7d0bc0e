"""An embedded MQTT broker (amqtt) for `sitewatch demo`: no server to install."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from concurrent.futures import Future

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


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

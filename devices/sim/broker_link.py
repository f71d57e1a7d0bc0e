"""A simulator's connection to the broker: one paho client carrying devices and their wills."""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from devices.broker_url import BrokerAddress
from devices.tls import TlsFiles, tls_failure


class SimulatorError(RuntimeError):
    """The simulator cannot run: the broker refused or could not be reached."""


class BrokerLink:
    """One paho client carrying one device (with its last will) or a share of a fleet."""

    def __init__(
        self, client_id: str, address: BrokerAddress, status_topics: list[str], will: bool,
        queue_max: int, tls: TlsFiles | None = None,
    ) -> None:
        self.address = address
        self._tls = tls or TlsFiles()  # mqtts://: private CA and client certificate
        self.status_topics = status_topics
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True
        )
        if address.username is not None:
            self._client.username_pw_set(address.username, address.password)
        if address.tls:
            self._client.tls_set_context(self._tls.context())
        if will:
            self._client.will_set(status_topics[0], "offline", qos=1, retain=True)
        self._client.max_queued_messages_set(queue_max)  # bounded: refusals are counted
        self._client.reconnect_delay_set(1, 30)
        self._client.on_connect = self._on_connect
        self._answered = threading.Event()  # the broker accepted or refused us
        self._refusal: str | None = None
        self._offline: list[mqtt.MQTTMessageInfo] = []

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself after a drop."""
        self._client.connect_async(self.address.host, self.address.port, keepalive=30)
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> None:
        """Block until the broker accepted this client, or raise SimulatorError."""
        if not self._answered.wait(timeout):
            where = f"{self.address.host}:{self.address.port}"
            cause = tls_failure(self.address.host, self.address.port, self._tls) if (
                self.address.tls) else None
            raise SimulatorError(cause or f"no answer from the MQTT broker at {where} within "
                                 f"{timeout:.0f}s")
        if self._refusal is not None:
            raise SimulatorError(f"the MQTT broker refused the connection: {self._refusal}")

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        # paho's network thread: only non-blocking publishes here.
        if reason_code.is_failure:
            self._refusal = str(reason_code)
        else:
            for topic in self.status_topics:  # again after every reconnect: the will may have fired
                client.publish(topic, "online", qos=1, retain=True)
        self._answered.set()

    def publish(self, topic: str, payload: str, qos: int) -> bool:
        """Queue a message; False when it was refused (queue full, or QoS 0 while away)."""
        rc = self._client.publish(topic, payload, qos=qos).rc
        return rc == mqtt.MQTT_ERR_SUCCESS or (rc == mqtt.MQTT_ERR_NO_CONN and qos > 0)

    def go_offline(self) -> None:
        """Publish `offline` for every carried device: a clean disconnect fires no will."""
        self._offline = [
            self._client.publish(t, "offline", qos=1, retain=True) for t in self.status_topics
        ]

    def hang_up(self, timeout: float) -> None:
        """Wait up to `timeout` s for the `offline` messages, then disconnect."""
        deadline = time.monotonic() + timeout if self._client.is_connected() else 0.0
        while time.monotonic() < deadline and not all(i.is_published() for i in self._offline):
            time.sleep(0.02)
        self._client.disconnect()

    def join(self) -> None:
        """Stop paho's network thread (up to ~1 s if it sleeps between reconnects)."""
        self._client.loop_stop()

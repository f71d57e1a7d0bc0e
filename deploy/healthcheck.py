"""Container healthchecks for the Sitewatch image; exit 0 when healthy, 1 otherwise.

    healthcheck.py http URL                      the URL answers 2xx within 5 s (for
                                                 Sitewatch: /api/v1/health/live, liveness)
    healthcheck.py mqtt BROKER_URL TOPIC VALUE   the retained message on TOPIC is VALUE
"""

from __future__ import annotations

import sys
import threading
import urllib.parse
import urllib.request

TIMEOUT_S = 5.0


def http_ok(url: str) -> bool:
    """True when `url` answers with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return 200 <= response.status < 300
    except OSError:
        return False


def retained_is(broker_url: str, topic: str, expected: str) -> bool:
    """True when the broker holds `expected` as the retained message on `topic`."""
    import paho.mqtt.client as mqtt

    u = urllib.parse.urlsplit(broker_url)
    got: list[bytes] = []
    done = threading.Event()

    def on_connect(client: mqtt.Client, userdata: object, flags: object, rc: object,
                   props: object) -> None:
        client.subscribe(topic, qos=1)

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.payload)
        done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    if u.username:
        client.username_pw_set(urllib.parse.unquote(u.username),
                               urllib.parse.unquote(u.password or ""))
    if u.scheme == "mqtts":
        client.tls_set()
    client.on_connect = on_connect
    client.on_message = on_message
    try:
        client.connect(u.hostname or "127.0.0.1", u.port or (8883 if u.scheme == "mqtts" else 1883))
    except OSError:
        return False
    client.loop_start()
    try:
        done.wait(TIMEOUT_S)
    finally:
        client.disconnect()
        client.loop_stop()
    return bool(got) and got[0].decode("utf-8", "replace") == expected


def main(argv: list[str]) -> int:
    """Run the check named by argv[0]."""
    if len(argv) == 2 and argv[0] == "http":
        return 0 if http_ok(argv[1]) else 1
    if len(argv) == 4 and argv[0] == "mqtt":
        return 0 if retained_is(argv[1], argv[2], argv[3]) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Where the MQTT broker is: `mqtt[s]://[user[:pass]@]host[:port]` parsed once."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where and how to reach the broker, from an `mqtt://` or `mqtts://` URL."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None


class BrokerUrlError(ValueError):
    """The broker URL is not mqtt://[user[:pass]@]host[:port] or mqtts://..."""


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse `mqtt[s]://[user[:pass]@]host[:port]`, or raise BrokerUrlError."""
    u = urllib.parse.urlsplit(url)
    try:
        port = u.port
    except ValueError as e:
        raise BrokerUrlError(f"broker URL {url!r}: {e}") from None
    if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
        raise BrokerUrlError(f"broker URL {url!r} is not mqtt://[user:pass@]host[:port] or mqtts://")
    tls = u.scheme == "mqtts"
    return BrokerAddress(
        u.hostname,
        port or (8883 if tls else 1883),
        tls,
        urllib.parse.unquote(u.username) if u.username is not None else None,
        urllib.parse.unquote(u.password) if u.password is not None else None,
    )

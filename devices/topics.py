"""Topic <-> (site, device, channel) for `{prefix}/{site}/{device_id}/{channel}`."""

from __future__ import annotations

from dataclasses import dataclass

from devices.reading import Channel
from devices.registry import NAME_RE

CHANNELS: frozenset[str] = frozenset({"telemetry", "event", "status"})


class TopicError(ValueError):
    """The topic is not one Sitewatch accepts; `reason` is a short counter label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    """A parsed device topic."""

    site: str
    device_id: str
    channel: Channel


def parse_topic(topic: str, prefix: str = "sitewatch") -> DeviceTopic:
    """Split a topic into site, device id and channel, or raise TopicError."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != prefix:
        raise TopicError("bad_topic", f"topic {topic[:200]!r} is not {prefix}/SITE/DEVICE/CHANNEL")
    _, site, device_id, channel = parts
    if not NAME_RE.fullmatch(site):
        raise TopicError("bad_topic", f"site {site[:80]!r} does not match {NAME_RE.pattern}")
    if not NAME_RE.fullmatch(device_id):
        raise TopicError(
            "bad_topic", f"device id {device_id[:80]!r} does not match {NAME_RE.pattern}"
        )
    if channel not in CHANNELS:
        raise TopicError("bad_topic", f"channel {channel[:80]!r} is not one of {sorted(CHANNELS)}")
    return DeviceTopic(site, device_id, channel)  # type: ignore[arg-type]


def is_sitewatch_output(topic: str, prefix: str = "sitewatch") -> bool:
    """A topic Sitewatch itself publishes (`{prefix}/{site}/_incidents/...`, `.../_events`):
    its third level starts with `_`, which no device id can."""
    parts = topic.split("/", 3)
    return len(parts) >= 3 and parts[0] == prefix and parts[2].startswith("_")


def device_topic(site: str, device_id: str, channel: Channel, prefix: str = "sitewatch") -> str:
    """The topic a device publishes `channel` on."""
    return f"{prefix}/{site}/{device_id}/{channel}"


def subscription(prefix: str = "sitewatch") -> str:
    """The wildcard subscription that covers every device topic."""
    return f"{prefix}/+/+/+"

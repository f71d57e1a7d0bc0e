"""Topic and payload validation (SPEC §2): raw MQTT message -> Reading, or Rejected with a reason.

What is valid, exactly:

- Payload at most 64 KiB (checked first, before anything is parsed). Topic
  `{prefix}/{site}/{device_id}/{channel}`; ids match `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`, no
  control characters anywhere in the topic.
- Telemetry and event payloads are UTF-8 JSON objects. NaN/Infinity literals and duplicate
  keys are refused (`bad_json`). Telemetry keys: `ts`, `seq`, `metrics`; event keys: `ts`,
  `seq`, `event`, `data`.
- `ts` (optional; absent means the receive time): an RFC 3339 string with a zone (`Z` or
  `+hh:mm`; naive times are refused, `bad_ts`), or Unix seconds as a finite JSON number (not a
  bool).
- `seq` (optional): an integer in [0, 2**63), not a bool, not a float.
- `metrics`: a non-empty object; names match `[a-z][a-z0-9_]{0,63}`; values are finite numbers
  (stored as float, so 22 and 22.5 never conflict in the store), booleans, or strings of at
  most 64 characters. For a registered device a metric of its kind must have the kind's type
  (`bad_metric_value`).
- `event`: a name like a metric name. `data` (optional): a JSON object whose numbers are
  finite (`bad_data`).
- Status payloads are exactly `online` or `offline` after stripping whitespace.

Accepted, but counted as a warning (`on_warning(reason)`), because SPEC §2 does not make them
errors and dropping the reading would lose good data (or a fire alarm):
- `unknown_field`: other top-level keys (ignored); `unknown_metric`: a metric the registered
  device's kind does not have (stored); `out_of_range`: a value outside the kind's plausible
  range (stored); `unknown_event`: an event the kind does not list (stored and evaluated).
- `ts_replaced`: a `ts` before 2000-01-01 (unset clock, milliseconds read as seconds is the
  other way: more than a day after the receive time) is replaced by the receive time. An
  event's malformed `ts` is replaced too: an alarm with a broken clock is still an alarm.
- `site_mismatch`: a registered device id under another site's topic is kept apart from the
  registered one as the unregistered device `{device_id}@{site}`.

Telemetry JSON is parsed by orjson (compiled) when that provably gives what the strict
standard-library parse gives (see ingest/json_parse.py); any other payload, and any payload
refused after the fast parse, is parsed by the standard library, which decides and words every
rejection exactly as before. Each payload field has its checker in ingest/fields.py.
"""

from __future__ import annotations

from typing import Any

from devices.reading import Channel, Reading
from devices.registry import Device, Registry
from devices.topics import TopicError, parse_topic
from ingest.fields import (
    CONTROL_RE,
    MAX_FUTURE_S,
    MAX_SEQ,
    MAX_STRING_CHARS,
    MIN_TS,
    NAME_RE,
    Warn,
    event_ts,
    parse_event,
    parse_metrics,
    parse_seq,
    parse_ts,
)
from ingest.json_parse import fast_parse, strict_parse
from ingest.rejected import Rejected

MAX_PAYLOAD_BYTES = 64 * 1024  # SPEC §2: larger payloads are rejected unparsed
TOPICS_MAX = 65_536  # topics whose parse a Decoder remembers

_TELEMETRY_KEYS = frozenset({"ts", "seq", "metrics"})
_EVENT_KEYS = frozenset({"ts", "seq", "event", "data"})
_STATUSES = frozenset({"online", "offline"})

# The field limits stay importable from here, the module whose docstring states the contract.
__all__ = [
    "MAX_FUTURE_S", "MAX_PAYLOAD_BYTES", "MAX_SEQ", "MAX_STRING_CHARS", "MIN_TS", "NAME_RE",
    "TOPICS_MAX", "Decoder", "Rejected", "Source", "Warn", "decode",
]

Source = tuple[str, str, Channel, Device | None]  # site, device id, channel, registered device


def _ignore(reason: str) -> None:
    """The default warning sink: nothing counts them."""


class Decoder:
    """`decode` bound to one registry and topic prefix, remembering what each topic parsed to.

    A topic's checks and registry lookup depend on the topic and the registry alone, so each
    valid topic is parsed once; the memo holds at most TOPICS_MAX topics and starts over when
    full or when the registry changes (devices created at runtime). One Decoder per thread.
    """

    def __init__(
        self, registry: Registry, prefix: str = "sitewatch", on_warning: Warn = _ignore
    ) -> None:
        self._registry = registry
        self._prefix = prefix
        self._warn = on_warning
        self._sources: dict[str, Source] = {}
        self._version = registry.version  # the registry's version the memo was built on

    def __call__(
        self, topic: str, payload: bytes, received_at: float, retained: bool = False
    ) -> Reading:
        """Validate one MQTT message and turn it into a Reading, or raise Rejected.

        `retained`: the broker replayed it from its retained store (counted, as "retained")."""
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise Rejected("too_large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
        if self._version != self._registry.version:
            self._sources.clear()
            self._version = self._registry.version
        source = self._sources.get(topic)
        if source is None:
            source = self._source(topic)
            if len(self._sources) >= TOPICS_MAX:
                self._sources.clear()
            self._sources[topic] = source
        faults: list[str] = ["retained"] if retained else []  # counted once accepted
        if "@" in source[1]:  # ids cannot hold "@": only _source's site-mismatch rename does
            faults.append("site_mismatch")
        reading = _decode_payload(source, payload, received_at, faults)
        for reason in faults:
            self._warn(reason)
        return reading

    def _source(self, topic: str) -> Source:
        if CONTROL_RE.search(topic):
            raise Rejected("bad_topic", f"control character in topic {topic[:200]!r}")
        try:
            where = parse_topic(topic, self._prefix)
        except TopicError as e:
            raise Rejected(e.reason, str(e)) from None
        device = self._registry.get(where.site, where.device_id)
        device_id = where.device_id
        if device is None and device_id in self._registry.devices:
            # A registered id under another site: never merged into the registered device.
            device_id = f"{device_id}@{where.site}"
        return where.site, device_id, where.channel, device


def decode(
    topic: str,
    payload: bytes,
    received_at: float,
    registry: Registry,
    prefix: str = "sitewatch",
    on_warning: Warn = _ignore,
) -> Reading:
    """Validate one MQTT message and turn it into a Reading, or raise Rejected."""
    return Decoder(registry, prefix, on_warning)(topic, payload, received_at)


def _decode_payload(
    source: Source, payload: bytes, received_at: float, faults: list[str]
) -> Reading:
    site, device_id, channel, device = source
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Rejected("not_utf8", f"byte {e.start} is not UTF-8") from None
    if channel == "status":
        status = text.strip()
        if status not in _STATUSES:
            raise Rejected("bad_status", f"status {text[:40]!r} is not online/offline")
        kind, zone = (device.kind, device.zone) if device else (None, None)
        return Reading(site, device_id, channel, received_at, received_at, None, kind, zone,
                       status=status)
    if channel == "telemetry":
        fast = fast_parse(text)
        if fast is not None:
            before = len(faults)
            try:
                return _reading(fast, source, received_at, faults.append)
            except Rejected:
                del faults[before:]  # the strict parse below decides and words it again
    return _reading(strict_parse(text), source, received_at, faults.append)


def _reading(body: Any, source: Source, received_at: float, warn: Warn) -> Reading:
    if not isinstance(body, dict):
        raise Rejected("not_object", f"payload is a JSON {type(body).__name__}, not an object")
    site, device_id, channel, device = source
    allowed = _TELEMETRY_KEYS if channel == "telemetry" else _EVENT_KEYS
    if not body.keys() <= allowed:
        warn("unknown_field")
    seq = parse_seq(body["seq"]) if "seq" in body else None
    kind, zone = (device.kind, device.zone) if device else (None, None)
    if channel == "telemetry":
        ts = parse_ts(body["ts"], received_at, warn) if "ts" in body else received_at
        metrics = parse_metrics(body.get("metrics"), device, warn)
        return Reading(site, device_id, channel, ts, received_at, seq, kind, zone, metrics)
    event, data = parse_event(body, device, warn)
    ts = event_ts(body, received_at, warn)
    return Reading(site, device_id, channel, ts, received_at, seq, kind, zone, {}, event, data)

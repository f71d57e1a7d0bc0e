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
rejection exactly as before.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from devices.kinds import MetricSpec
from devices.reading import Channel, MetricValue, Reading
from devices.registry import Device, Registry
from devices.topics import TopicError, parse_topic
from ingest.json_parse import fast_parse, strict_parse
from ingest.rejected import Rejected

MAX_PAYLOAD_BYTES = 64 * 1024  # SPEC §2: larger payloads are rejected unparsed
MAX_STRING_CHARS = 64  # longest string metric value (SPEC §2)
MIN_TS = 946_684_800.0  # 2000-01-01T00:00:00Z, Unix seconds: older means an unset clock
MAX_FUTURE_S = 86_400.0  # a payload ts may lead the receive time by at most a day
MAX_SEQ = 2**63 - 1
TOPICS_MAX = 65_536  # topics whose parse a Decoder remembers

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")  # metric and event names, used with fullmatch
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_RFC3339_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)
_TELEMETRY_KEYS = frozenset({"ts", "seq", "metrics"})
_EVENT_KEYS = frozenset({"ts", "seq", "event", "data"})
_STATUSES = frozenset({"online", "offline"})

Source = tuple[str, str, Channel, Device | None]  # site, device id, channel, registered device
Warn = Callable[[str], None]  # counts an accepted message's fault by reason


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
        if _CONTROL_RE.search(topic):
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
    seq = _seq(body["seq"]) if "seq" in body else None
    kind, zone = (device.kind, device.zone) if device else (None, None)
    if channel == "telemetry":
        ts = _ts(body["ts"], received_at, warn) if "ts" in body else received_at
        metrics = _metrics(body.get("metrics"), device, warn)
        return Reading(site, device_id, channel, ts, received_at, seq, kind, zone, metrics)
    event, data = _event(body, device, warn)
    ts = _event_ts(body, received_at, warn)
    return Reading(site, device_id, channel, ts, received_at, seq, kind, zone, {}, event, data)


def _event_ts(body: dict[str, Any], received_at: float, warn: Warn) -> float:
    """An event's ts; a malformed one is replaced by the receive time, not refused."""
    if "ts" not in body:
        return received_at
    try:
        return _ts(body["ts"], received_at, warn)
    except Rejected:
        warn("ts_replaced")
        return received_at


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _ts(raw: object, received_at: float, warn: Warn) -> float:
    if isinstance(raw, str):
        m = _RFC3339_RE.fullmatch(raw)
        if not m:
            raise Rejected("bad_ts", f"ts {raw[:40]!r} is not RFC 3339 with a zone")
        date, clock, frac, zone = m.groups()
        frac = (frac or "")[:7]  # datetime keeps microseconds: 6 digits after the dot
        zone = "+00:00" if zone in ("Z", "z") else zone
        try:
            ts = datetime.fromisoformat(f"{date}T{clock}{frac}{zone}").timestamp()
        except ValueError as e:
            raise Rejected("bad_ts", f"ts {raw[:40]!r}: {e}") from None
    elif _is_number(raw):
        try:
            ts = float(raw)  # type: ignore[arg-type]
        except OverflowError:
            raise Rejected("bad_ts", "ts is too large") from None
        if not math.isfinite(ts):
            raise Rejected("bad_ts", "ts is not finite")
    else:
        raise Rejected("bad_ts", f"ts is a {type(raw).__name__}, not a string or a number")
    if ts < MIN_TS or ts > received_at + MAX_FUTURE_S:
        # An unset clock (1970), or milliseconds sent as seconds: the reading is good, its
        # time is not. Before 2000 or more than a day ahead: the receive time stands in.
        warn("ts_replaced")
        return received_at
    return ts


def _seq(raw: object) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise Rejected("bad_seq", f"seq is a {type(raw).__name__}, not an integer")
    if not 0 <= raw <= MAX_SEQ:
        raise Rejected("bad_seq", f"seq {raw} is outside [0, 2**63)")
    return raw


def _metrics(raw: object, device: Device | None, warn: Warn) -> dict[str, MetricValue]:
    if not isinstance(raw, dict):
        raise Rejected("bad_metrics", f"metrics is a {type(raw).__name__}, not an object")
    if not raw:
        raise Rejected("bad_metrics", "metrics is empty")
    out: dict[str, MetricValue] = {}
    specs = device.spec.metrics if device is not None else None
    for name, value in raw.items():
        if not _is_name(name):
            raise Rejected("bad_metric_name", f"metric name {name[:80]!r} is not [a-z][a-z0-9_]")
        # The common case, a finite float, without the general checks' calls.
        v = value if type(value) is float and math.isfinite(value) else _metric_value(name, value)
        if specs is not None:
            spec = specs.get(name)
            if spec is None:
                warn("unknown_metric")  # stored all the same: SPEC §2 makes it no error
            else:
                _check_spec(spec, v, warn)
        out[name] = v
    return out


@functools.lru_cache(maxsize=4096)
def _is_name(name: str) -> bool:
    """NAME_RE.fullmatch, remembered: a site sends the same few names over and over."""
    return NAME_RE.fullmatch(name) is not None


def _metric_value(name: str, value: object) -> MetricValue:
    if isinstance(value, bool):
        return value
    if _is_number(value):
        try:
            f = float(value)  # type: ignore[arg-type]
        except OverflowError:
            raise Rejected("bad_metric_value", f"{name} is too large") from None
        if not math.isfinite(f):
            raise Rejected("bad_metric_value", f"{name} is not finite")
        return f
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise Rejected("bad_metric_value", f"{name} is {len(value)} characters > 64")
        if _CONTROL_RE.search(value):  # a line break would end a line-protocol line
            raise Rejected("bad_metric_value", f"{name} holds a control character")
        return value
    raise Rejected("bad_metric_value", f"{name} is a {type(value).__name__}")


def _check_spec(spec: MetricSpec, v: MetricValue, warn: Warn) -> None:
    actual = "bool" if isinstance(v, bool) else "number" if isinstance(v, float) else "string"
    if actual != spec.type:
        raise Rejected("bad_metric_value", f"{spec.name} is a {actual}, expected {spec.type}")
    if isinstance(v, float) and (
        (spec.low is not None and v < spec.low) or (spec.high is not None and v > spec.high)
    ):
        warn("out_of_range")  # implausible, yet what the device said: stored and evaluated


def _event(
    body: dict[str, Any], device: Device | None, warn: Warn
) -> tuple[str, dict[str, Any]]:
    event = body.get("event")
    if not isinstance(event, str) or not _is_name(event):
        shown = event[:80] if isinstance(event, str) else type(event).__name__
        raise Rejected("bad_event", f"event {shown!r} is not a name [a-z][a-z0-9_]")
    if device is not None and event not in device.spec.events:
        warn("unknown_event")
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise Rejected("bad_data", f"data is a {type(data).__name__}, not an object")
    if not _all_finite(data):  # e.g. 1e400, which parses as inf and has no JSON spelling
        raise Rejected("bad_data", "data holds a number that is not finite")
    return event, data


def _all_finite(value: Any) -> bool:
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, float) and not math.isfinite(v):
            return False
        if isinstance(v, dict):
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
    return True

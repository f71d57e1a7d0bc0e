"""Topic and payload validation (SPEC §2): raw MQTT message -> Reading, or Rejected with a reason.

What is valid, exactly:

- Payload at most 64 KiB (checked first, before anything is parsed). Topic
  `{prefix}/{site}/{device_id}/{channel}`; ids match `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`, no
  control characters anywhere in the topic.
- Telemetry and event payloads are UTF-8 JSON objects. NaN/Infinity literals and duplicate
  keys are refused (`bad_json`). Telemetry keys: `ts`, `seq`, `metrics`; event keys: `ts`,
  `seq`, `event`, `data`. Any other key is `unknown_field`.
- `ts` (optional; absent means the receive time): an RFC 3339 string with a zone (`Z` or
  `+hh:mm`; naive times are refused), or Unix seconds as a finite JSON number (not a bool).
  Either way it must lie in [2000-01-01T00:00:00Z, receive time + 1 day]: that catches
  milliseconds sent as seconds, unset device clocks (1970) and clocks far in the future.
- `seq` (optional): an integer in [0, 2**63), not a bool, not a float.
- `metrics`: a non-empty object; names match `[a-z][a-z0-9_]{0,63}`; values are finite numbers
  (stored as float, so 22 and 22.5 never conflict in the store), booleans, or strings of at
  most 64 characters. For a registered device each metric must be one of its kind's, of the
  kind's type, and within the kind's plausible range (`unknown_metric`, `bad_metric_value`,
  `out_of_range`). Unregistered devices get only the generic checks and are still accepted.
- `event`: a name like a metric name; for a registered device one of its kind's events
  (`unknown_event`). `data` (optional): a JSON object.
- Status payloads are exactly `online` or `offline` after stripping whitespace.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any

from devices.kinds import MetricSpec
from devices.reading import MetricValue, Reading
from devices.registry import Device, Registry
from devices.topics import TopicError, parse_topic

MAX_PAYLOAD_BYTES = 64 * 1024  # SPEC §2: larger payloads are rejected unparsed
MAX_STRING_CHARS = 64  # longest string metric value (SPEC §2)
MIN_TS = 946_684_800.0  # 2000-01-01T00:00:00Z, Unix seconds: older means an unset clock
MAX_FUTURE_S = 86_400.0  # a payload ts may lead the receive time by at most a day
MAX_SEQ = 2**63 - 1

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")  # metric and event names, used with fullmatch
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_RFC3339_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)
_TELEMETRY_KEYS = frozenset({"ts", "seq", "metrics"})
_EVENT_KEYS = frozenset({"ts", "seq", "event", "data"})
_STATUSES = frozenset({"online", "offline"})


class Rejected(Exception):
    """A message Sitewatch refuses; `reason` is a short stable counter label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode(
    topic: str,
    payload: bytes,
    received_at: float,
    registry: Registry,
    prefix: str = "sitewatch",
) -> Reading:
    """Validate one MQTT message and turn it into a Reading, or raise Rejected."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected("too_large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    if _CONTROL_RE.search(topic):
        raise Rejected("bad_topic", f"control character in topic {topic[:200]!r}")
    try:
        where = parse_topic(topic, prefix)
    except TopicError as e:
        raise Rejected(e.reason, str(e)) from None
    device = registry.get(where.site, where.device_id)
    base: dict[str, Any] = {
        "site": where.site,
        "device_id": where.device_id,
        "channel": where.channel,
        "received_at": received_at,
        "kind": device.kind if device else None,
        "zone": device.zone if device else None,
    }
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Rejected("not_utf8", f"byte {e.start} is not UTF-8") from None
    if where.channel == "status":
        status = text.strip()
        if status not in _STATUSES:
            raise Rejected("bad_status", f"status {text[:40]!r} is not online/offline")
        return Reading(ts=received_at, status=status, **base)
    body = _parse_object(text)
    allowed = _TELEMETRY_KEYS if where.channel == "telemetry" else _EVENT_KEYS
    extra = sorted(set(body) - allowed)
    if extra:
        raise Rejected("unknown_field", f"unexpected keys {extra[:5]}; allowed {sorted(allowed)}")
    ts = _ts(body["ts"], received_at) if "ts" in body else received_at
    seq = _seq(body["seq"]) if "seq" in body else None
    if where.channel == "telemetry":
        return Reading(ts=ts, seq=seq, metrics=_metrics(body.get("metrics"), device), **base)
    event, data = _event(body, device)
    return Reading(ts=ts, seq=seq, event=event, data=data, **base)


def _refuse_constant(name: str) -> Any:
    raise Rejected("bad_json", f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)  # in C: this hook runs for every JSON object of every message
    if len(out) != len(pairs):  # some key came twice: name the first one repeated
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise Rejected("bad_json", f"duplicate key {k[:64]!r}")
            seen.add(k)
    return out


def _parse_object(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise Rejected("bad_json", f"{e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise Rejected("bad_json", "nested too deeply") from None
    if not isinstance(body, dict):
        raise Rejected("not_object", f"payload is a JSON {type(body).__name__}, not an object")
    return body


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _ts(raw: object, received_at: float) -> float:
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
    if ts < MIN_TS:
        raise Rejected("bad_ts", f"ts {ts} is before 2000-01-01 (unset clock?)")
    if ts > received_at + MAX_FUTURE_S:
        raise Rejected("bad_ts", f"ts {ts} is more than a day after the receive time")
    return ts


def _seq(raw: object) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise Rejected("bad_seq", f"seq is a {type(raw).__name__}, not an integer")
    if not 0 <= raw <= MAX_SEQ:
        raise Rejected("bad_seq", f"seq {raw} is outside [0, 2**63)")
    return raw


def _metrics(raw: object, device: Device | None) -> dict[str, MetricValue]:
    if not isinstance(raw, dict):
        raise Rejected("bad_metrics", f"metrics is a {type(raw).__name__}, not an object")
    if not raw:
        raise Rejected("bad_metrics", "metrics is empty")
    out: dict[str, MetricValue] = {}
    for name, value in raw.items():
        if not NAME_RE.fullmatch(name):
            raise Rejected("bad_metric_name", f"metric name {name[:80]!r} is not [a-z][a-z0-9_]")
        v = _metric_value(name, value)
        if device is not None:
            spec = device.spec.metrics.get(name)
            if spec is None:
                raise Rejected("unknown_metric", f"{device.kind} has no metric {name!r}")
            _check_spec(spec, v)
        out[name] = v
    return out


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
        return value
    raise Rejected("bad_metric_value", f"{name} is a {type(value).__name__}")


def _check_spec(spec: MetricSpec, v: MetricValue) -> None:
    actual = "bool" if isinstance(v, bool) else "number" if isinstance(v, float) else "string"
    if actual != spec.type:
        raise Rejected("bad_metric_value", f"{spec.name} is a {actual}, expected {spec.type}")
    if isinstance(v, float) and (
        (spec.low is not None and v < spec.low) or (spec.high is not None and v > spec.high)
    ):
        raise Rejected(
            "out_of_range", f"{spec.name}={v} outside [{spec.low}, {spec.high}] {spec.unit}"
        )


def _event(body: dict[str, Any], device: Device | None) -> tuple[str, dict[str, Any]]:
    event = body.get("event")
    if not isinstance(event, str) or not NAME_RE.fullmatch(event):
        shown = event[:80] if isinstance(event, str) else type(event).__name__
        raise Rejected("bad_event", f"event {shown!r} is not a name [a-z][a-z0-9_]")
    if device is not None and event not in device.spec.events:
        raise Rejected("unknown_event", f"{device.kind} has no event {event!r}")
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise Rejected("bad_data", f"data is a {type(data).__name__}, not an object")
    return event, data

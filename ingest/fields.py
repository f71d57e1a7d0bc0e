"""The payload fields of SPEC §2, one checker each: ts, seq, metrics, event and data.

Each returns the field's value or raises Rejected with its reason; what SPEC §2 accepts with
a warning is counted through `warn`. The message-level rules (size, topic, JSON, which keys)
are in ingest/decode.py, which documents the whole contract.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from devices.kinds import MetricSpec
from devices.reading import MetricValue
from devices.registry import Device
from ingest.rejected import Rejected

MAX_STRING_CHARS = 64  # longest string metric value (SPEC §2)
MIN_TS = 946_684_800.0  # 2000-01-01T00:00:00Z, Unix seconds: older means an unset clock
MAX_FUTURE_S = 86_400.0  # a payload ts may lead the receive time by at most a day
MAX_SEQ = 2**63 - 1

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")  # metric and event names, used with fullmatch
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_RFC3339_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)

Warn = Callable[[str], None]  # counts an accepted message's fault by reason


def event_ts(body: dict[str, Any], received_at: float, warn: Warn) -> float:
    """An event's ts; a malformed one is replaced by the receive time, not refused."""
    if "ts" not in body:
        return received_at
    try:
        return parse_ts(body["ts"], received_at, warn)
    except Rejected:
        warn("ts_replaced")
        return received_at


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def parse_ts(raw: object, received_at: float, warn: Warn) -> float:
    """A ts as Unix seconds (RFC 3339 with a zone, or a number); implausible: received_at."""
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


def parse_seq(raw: object) -> int:
    """A seq: an integer in [0, 2**63)."""
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise Rejected("bad_seq", f"seq is a {type(raw).__name__}, not an integer")
    if not 0 <= raw <= MAX_SEQ:
        raise Rejected("bad_seq", f"seq {raw} is outside [0, 2**63)")
    return raw


def parse_metrics(
    raw: object, device: Device | None, warn: Warn
) -> dict[str, MetricValue]:
    """The metrics object, checked against the registered device's kind if any."""
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
            elif type(v) is float and spec.type == "number":  # _check_spec's common case
                if (spec.low is not None and v < spec.low) or (
                        spec.high is not None and v > spec.high):
                    warn("out_of_range")
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
        if CONTROL_RE.search(value):  # a line break would end a line-protocol line
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


def parse_event(
    body: dict[str, Any], device: Device | None, warn: Warn
) -> tuple[str, dict[str, Any]]:
    """The event name and its data object (finite numbers only)."""
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

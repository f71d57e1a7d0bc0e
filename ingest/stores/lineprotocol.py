"""Readings -> InfluxDB line protocol (the README's schema), shared by the v1 and v2 stores."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence

from devices.reading import Reading
from ingest.stores.base import BadData

TELEMETRY = "telemetry"
EVENTS = "events"
DEVICE_STATUS = "device_status"

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})  # tag keys/values, field keys
# Line breaks never end a line inside a string: decode refuses them, and should one get
# here anyway it is written as the two characters backslash-n / backslash-r.
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})


def ts_us(ts: float) -> int:
    """Unix seconds -> integer microseconds; a redelivered reading maps to the same point."""
    return round(ts * 1_000_000)


def escape_measurement(name: str) -> str:
    """Escape a measurement name (commas, spaces)."""
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key (commas, equals signs, spaces)."""
    if "\n" in text or "\r" in text:
        raise BadData(f"line breaks are not allowed in tags or field keys: {text[:80]!r}")
    return text.translate(_KEY_ESCAPES)


def field_value(value: object) -> str:
    """One field value: numbers always as floats (no `i`), booleans, quoted strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        try:
            f = float(value)
        except OverflowError:  # an int beyond the float range
            f = math.inf
        if not math.isfinite(f):
            raise BadData(f"non-finite number {value!r} cannot be stored")
        return repr(f)  # '22.0', '1e+20': InfluxDB parses both as floats
    if isinstance(value, str):
        return '"' + value.translate(_STRING_ESCAPES) + '"'
    raise BadData(f"unsupported field value type {type(value).__name__}")


def _tags(reading: Reading, extra: Iterable[tuple[str, str]] = ()) -> str:
    return _tag_text(reading.site, reading.zone, reading.device_id, reading.kind, tuple(extra))


@functools.lru_cache(maxsize=65_536)  # one entry per device (and event name): ~10 MB at most
def _tag_text(site: str, zone: str | None, device_id: str, kind: str | None,
              extra: tuple[tuple[str, str], ...]) -> str:
    pairs = [("site", site), ("zone", zone), ("device_id", device_id), ("kind", kind), *extra]
    # Empty tag values are invalid line protocol, so None and "" both mean "omit the tag".
    return "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in sorted(pairs) if v)


@functools.lru_cache(maxsize=4096)  # a site sends the same few metric names over and over
def _field_key(name: str) -> str:
    return escape_key(name) + "="


_ESCAPED = {m: escape_measurement(m) for m in (TELEMETRY, EVENTS, DEVICE_STATUS)}  # per line


def _line(measurement: str, tags: str, fields: Mapping[str, object], ts: float) -> str:
    parts = []
    for k, v in fields.items():
        # The common case, a finite float, written as field_value writes it, without its calls.
        text = repr(v) if type(v) is float and v - v == 0.0 else field_value(v)
        parts.append(_field_key(k) + text)
    name = _ESCAPED.get(measurement) or escape_measurement(measurement)
    return f"{name}{tags} {','.join(parts)} {round(ts * 1_000_000)}"


def event_json(reading: Reading) -> str:
    """An event's data as compact JSON ("{}" when empty), as every store keeps it."""
    try:
        data = dict(reading.data)
        return json.dumps(data, sort_keys=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise BadData(f"event data of {reading.device_id!r} is not JSON: {e}") from e


def to_line(reading: Reading) -> str | None:
    """One reading as one line, or None when it carries nothing to store (no metrics)."""
    if reading.channel == "telemetry":
        if not reading.metrics:
            return None
        return _line(TELEMETRY, _tags(reading), reading.metrics, reading.ts)
    if reading.channel == "event":
        if not reading.event:
            raise BadData(f"event reading from {reading.device_id!r} has no event name")
        fields: dict[str, object] = {"data": event_json(reading)}
        if reading.seq is not None:
            fields["seq"] = float(reading.seq)
        return _line(EVENTS, _tags(reading, [("event", reading.event)]), fields, reading.ts)
    if reading.channel == "status":
        if reading.status not in ("online", "offline"):
            raise BadData(f"status reading with state {reading.status!r}")
        return _line(DEVICE_STATUS, _tags(reading), {"state": reading.status}, reading.ts)
    raise BadData(f"unknown channel {reading.channel!r}")


def to_lines(batch: Sequence[Reading]) -> list[str]:
    """The batch as line protocol lines (timestamps in microseconds), skipping empty readings."""
    return [line for r in batch if (line := to_line(r)) is not None]

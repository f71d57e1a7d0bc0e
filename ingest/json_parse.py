"""JSON parsing of payloads: the strict standard-library parse, which refuses NaN/Infinity
literals and duplicate keys (`bad_json`), and the orjson fast path proven to agree with it."""

from __future__ import annotations

import json
from typing import Any

import orjson

from ingest.rejected import Rejected


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


def fast_parse(text: str) -> Any:
    """orjson's parse of a telemetry payload when it is the strict parse's value, else None.

    orjson refuses NaN/Infinity and invalid JSON itself (None here: the strict parse then
    gives the reason) but keeps the last of duplicate keys silently. Without a backslash in
    the text every `"` opens or closes a string, and no string holds a `"`; so the text holds
    count('"') / 2 strings (keys and values), and so does orjson's rewrite of the parsed value
    unless a duplicate was dropped, which takes at least its key with it. orjson reads an
    integer beyond 64 bits as the nearest float: a metric becomes that float either way, and
    a `ts` or `seq` that large is refused, so the caller decodes a refused payload again
    strictly. Events (whose `data` is stored as sent) always take the strict parse.
    """
    if "\\" in text:
        return None
    try:
        body = orjson.loads(text)
        quotes = orjson.dumps(body).count(b'"')
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None
    return body if quotes == text.count('"') else None


def strict_parse(text: str) -> Any:
    """The strict parse: refuses NaN/Infinity literals and duplicate keys (`bad_json`)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise Rejected("bad_json", f"{e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise Rejected("bad_json", "nested too deeply") from None

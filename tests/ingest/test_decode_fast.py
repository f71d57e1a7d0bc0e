"""The orjson fast path of decode gives exactly what the strict standard-library parse gives.

A property test (Hypothesis) over generated telemetry payloads, valid and hostile: NaN and
Infinity tokens, integers past 64 bits, duplicate keys, deep nesting, lone surrogates,
non-UTF-8 bytes, wrong types. The strict-only answer for a payload is the answer for the same
JSON written with one character of its first string as a `\\uXXXX` escape: the fast path
never takes a text with a backslash, and the escape does not change the JSON value.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from devices.reading import Reading
from ingest.decode import Decoder
from ingest.json_parse import fast_parse, strict_parse
from ingest.rejected import Rejected
from tests.ingest.helpers import small_registry

NOW = 1_800_000_000.0  # receive time of every message here, Unix seconds
REG = small_registry()
T = "sitewatch/hq/zs-1/telemetry"  # a registered zone sensor
U = "sitewatch/hq/unknown-7/telemetry"  # a device the registry does not know
PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- the strict-only twin of a payload ------------------------------------------------------


def strict_twin(text: str) -> str:
    """`text` with the first plain character of its first string written as a \\u escape.

    Same JSON value, so the same strict parse; but a backslash, so never the fast path.
    A string whose first character is a quote, backslash, control character or surrogate is
    skipped (escaping those would change what the strict parser says).
    """
    i, n = 0, len(text)
    while i < n:
        if text[i] != '"':
            i += 1
            continue
        first = text[i + 1] if i + 1 < n else ""
        if first and first not in '"\\' and first.isprintable() and not _surrogate(first):
            return f"{text[: i + 1]}\\u{ord(first):04x}{text[i + 2:]}"
        i += 1  # skip this string: walk to its closing quote
        while i < n and text[i] != '"':
            i += 2 if text[i] == "\\" else 1
        i += 1
    return text


def _surrogate(c: str) -> bool:
    return 0xD800 <= ord(c) <= 0xDFFF


def outcome(topic: str, payload: bytes) -> tuple[Any, list[str]]:
    """What decode answers (a Reading, or the rejection's reason and detail) and its warnings."""
    warnings: list[str] = []
    decoder = Decoder(REG, "sitewatch", warnings.append)
    try:
        reading: Reading | tuple[str, str, str | None] = decoder(topic, payload, NOW)
    except Rejected as e:
        # A bad byte's offset moves with the escape; the reason must not.
        reading = ("rejected", e.reason, None if e.reason == "not_utf8" else e.detail)
    return reading, warnings


def assert_fast_equals_strict(topic: str, text: str, prefix: bytes = b"") -> None:
    """decode(text) == decode(its strict twin), readings, rejections and warnings alike."""
    twin = strict_twin(text)
    payload = prefix + text.encode("utf-8", "surrogatepass")
    reference = prefix + twin.encode("utf-8", "surrogatepass")
    got = outcome(topic, payload)
    event("fast path" if fast_parse(text) is not None else "strict only")
    event("accepted" if isinstance(got[0], Reading) else f"rejected: {got[0][1]}")
    assert got == outcome(topic, reference)


# --- generated payloads ---------------------------------------------------------------------

KEYS = ["ts", "seq", "metrics", "event", "data", "temperature_c", "co2_ppm", "label", "x"]
BIG = st.integers(min_value=2**63 - 2, max_value=2**200) | st.integers(
    min_value=-(2**200), max_value=-(2**63) + 2)
HOSTILE_STRINGS = st.sampled_from(["\ud800", "a\udfffb", "", "\x00", 'say "hi"', "back\\slash",
                                   "x" * 65, "2026-11-27T10:00:00Z", "NaN", "été ☃"])
SCALARS = st.one_of(
    st.integers(), BIG, st.floats(), st.booleans(), st.none(),
    st.text(max_size=70), HOSTILE_STRINGS,
)


class Obj(list):  # type: ignore[type-arg]
    """A JSON object as its (key, value) pairs, in order, duplicates allowed."""


def objects(values: st.SearchStrategy[Any], keys: st.SearchStrategy[str]) -> st.SearchStrategy[Obj]:
    return st.lists(st.tuples(keys, values), max_size=6).map(Obj)


ANY_KEY = st.sampled_from(KEYS) | st.text(max_size=12) | HOSTILE_STRINGS
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | objects(inner, ANY_KEY),
                      max_leaves=20)
DEEP = st.integers(min_value=1, max_value=3000).map(lambda n: ("deep", n))
METRIC_NAMES = st.sampled_from(["temperature_c", "co2_ppm", "humidity_pct", "label", "v"]) | (
    st.from_regex(r"[a-z][a-z0-9_]{0,70}", fullmatch=True)) | st.text(max_size=8)
METRICS = objects(SCALARS | VALUES | DEEP, METRIC_NAMES)
TS = st.floats(min_value=1.0e9, max_value=1.9e9) | st.integers(1_000_000_000, 1_900_000_000) | (
    st.sampled_from(["2026-11-27T10:00:00.250Z", "2026-11-27 10:00:00+02:00", "yesterday"])
) | SCALARS
TOP_FIELD = st.one_of(
    st.tuples(st.just("metrics"), METRICS | VALUES),
    st.tuples(st.just("ts"), TS),
    st.tuples(st.just("seq"), st.integers(-5, 2**64) | SCALARS),
    st.tuples(ANY_KEY, VALUES),
)
TELEMETRY = st.tuples(st.tuples(st.just("metrics"), METRICS), st.lists(TOP_FIELD, max_size=4)).map(
    lambda t: Obj([t[0], *t[1]]))
GOOD_VALUE = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53) | (
    st.booleans()) | st.text(max_size=64).filter(lambda v: not any(map(_surrogate, v)))
VALID = st.tuples(
    objects(GOOD_VALUE, st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)),
    st.lists(st.tuples(st.just("ts"), TS) | st.tuples(st.just("seq"), st.integers(0, 2**63)),
             max_size=2),
).map(lambda t: Obj([("metrics", t[0]), *t[1]]))
PAYLOADS = st.one_of(VALID, TELEMETRY, VALUES)  # about a third well-formed telemetry


@st.composite
def texts(draw: st.DrawFn) -> str:
    """A payload's text: orjson-like compact or json-like spaced, strings raw or \\u-escaped."""
    compact = draw(st.booleans())
    ascii_only = draw(st.booleans())
    return dump(draw(PAYLOADS), compact, ascii_only)


def dump(value: Any, compact: bool, ascii_only: bool) -> str:
    """JSON text of a generated value (NaN/Infinity as bare tokens, duplicates kept)."""
    comma, colon = (",", ":") if compact else (", ", ": ")
    if isinstance(value, Obj):
        return "{" + comma.join(
            json.dumps(k, ensure_ascii=ascii_only) + colon + dump(v, compact, ascii_only)
            for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + comma.join(dump(v, compact, ascii_only) for v in value) + "]"
    if isinstance(value, tuple):  # ("deep", n): n nested arrays around a 1
        return "[" * value[1] + "1" + "]" * value[1]
    return json.dumps(value, ensure_ascii=ascii_only)


@given(topic=st.sampled_from([T, U]), text=texts(),
       prefix=st.sampled_from([b""] * 8 + [b"\xff", b"\xc3"]))  # 1 in 5 starts with a bad byte
@PROPERTY
@example(T, '{"ts": 1795773600.25, "seq": 7, "metrics": {"temperature_c": 22.4, "co2_ppm": 400}}',
         b"")
@example(T, '{"metrics": {"co2_ppm": 1}, "metrics": {"co2_ppm": 2}}', b"")
@example(T, '{"metrics": {"co2_ppm": 1}, "ts": 1795773600, "ts": 1795773601}', b"")
@example(T, '{"seq": 123456789012345678901234, "metrics": {"co2_ppm": 1}}', b"")
@example(T, '{"ts": 123456789012345678901234, "metrics": {"co2_ppm": 1}}', b"")
@example(T, '{"metrics": {"co2_ppm": 1e400}}', b"")
@example(T, '{"metrics": {"co2_ppm": NaN}}', b"")
@example(U, '{"metrics": {"big": 123456789012345678901234567890, "small": -9223372036854775809}}',
         b"")
@example(U, '{"metrics": {"v": [[[[1]]]]}}', b"")
@example(U, '[{"metrics": {"v": 1}}]', b"")
def test_fast_and_strict_parse_give_the_same_reading_or_the_same_rejection(
    topic: str, text: str, prefix: bytes
) -> None:
    assert_fast_equals_strict(topic, text, prefix)


@given(text=texts())
@PROPERTY
def test_what_the_fast_parse_accepts_the_strict_parse_accepts_as_the_same_value(
    text: str,
) -> None:
    fast = fast_parse(text)
    if fast is None:
        return
    assert _same_json(fast, strict_parse(text))


def _same_json(fast: Any, strict: Any) -> bool:
    """Equal, except that orjson reads an integer past 64 bits as the nearest float."""
    if isinstance(strict, int) and not isinstance(strict, bool) and isinstance(fast, float):
        return abs(strict) >= 2**63 and fast == float(strict)
    if isinstance(strict, dict):
        return (isinstance(fast, dict) and list(fast) == list(strict)
                and all(_same_json(fast[k], strict[k]) for k in strict))
    if isinstance(strict, list):
        return (isinstance(fast, list) and len(fast) == len(strict)
                and all(_same_json(a, b) for a, b in zip(fast, strict, strict=True)))
    return type(fast) is type(strict) and fast == strict


def test_the_twin_of_a_payload_is_the_same_json_and_never_takes_the_fast_path() -> None:
    text = '{"metrics": {"co2_ppm": 400}}'
    twin = strict_twin(text)
    assert twin == '{"\\u006detrics": {"co2_ppm": 400}}'
    assert json.loads(twin) == json.loads(text) and fast_parse(twin) is None
    assert strict_twin('{"": 1, "\\"q": 2, "ab": 3}') == '{"": 1, "\\"q": 2, "\\u0061b": 3}'


def test_a_plain_telemetry_payload_takes_the_fast_path() -> None:
    assert fast_parse('{"ts": 1795773600, "metrics": {"co2_ppm": 400}}') == {
        "ts": 1795773600,
        "metrics": {"co2_ppm": 400},
    }


@pytest.mark.parametrize(
    "text",
    [
        '{"metrics": {"co2_ppm": 1, "co2_ppm": 2}}',
        '{"a": {"x": "1"}, "a": {"x": "1"}}',
        '{"metrics": {"label": "\\"quoted\\""}}',
        '{"metrics": {"co2_ppm": Infinity}}',
    ],
)
def test_duplicates_escapes_and_invalid_json_leave_the_fast_path(text: str) -> None:
    assert fast_parse(text) is None


def test_duplicate_key_is_still_refused_with_its_name() -> None:
    reading, _ = outcome(T, b'{"metrics": {"co2_ppm": 1, "co2_ppm": 2}}')
    assert reading == ("rejected", "bad_json", "duplicate key 'co2_ppm'")


def test_event_data_with_a_number_too_large_for_a_float_is_refused_as_bad_data() -> None:
    reading, _ = outcome("sitewatch/hq/door-1/event", b'{"event": "tamper", "data": {"v": 1e400}}')
    assert reading[:2] == ("rejected", "bad_data")

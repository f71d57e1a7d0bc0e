"""The orjson fast path of decode gives exactly what the strict standard-library parse gives."""

from __future__ import annotations

import pytest

import ingest.decode as decoding
from ingest.decode import decode
from ingest.rejected import Rejected
from tests.ingest.helpers import small_registry

NOW = 1_800_000_000.0  # receive time of every message here, Unix seconds
REG = small_registry()
T = "sitewatch/hq/zs-1/telemetry"  # a registered zone sensor
U = "sitewatch/hq/unknown-7/telemetry"  # a device the registry does not know

PAYLOADS = [
    (T, '{"ts": 1795773600.25, "seq": 7, "metrics": {"temperature_c": 22.4, "co2_ppm": 400}}'),
    (T, '{"ts": "2026-11-27T10:00:00.250Z", "metrics": {"humidity_pct": 41}}'),
    (T, '{"metrics": {"co2_ppm": 1}, "metrics": {"co2_ppm": 2}}'),
    (T, '{"metrics": {"co2_ppm": 1, "co2_ppm": 2}}'),
    (T, '{"metrics": {"co2_ppm": 1, "co\\u0032_ppm": 2}}'),
    (T, '{"metrics": {"co2_ppm": 1}, "ts": 1795773600, "ts": 1795773601}'),
    (T, '{"seq": 18446744073709551615, "metrics": {"co2_ppm": 1}}'),
    (T, '{"seq": 123456789012345678901234, "metrics": {"co2_ppm": 1}}'),
    (T, '{"ts": 123456789012345678901234, "metrics": {"co2_ppm": 1}}'),
    (T, '{"metrics": {"co2_ppm": 1e400}}'),
    (T, '{"metrics": {"co2_ppm": NaN}}'),
    (U, '{"metrics": {"big": 123456789012345678901234567890, "small": -9223372036854775809}}'),
    (U, '{"metrics": {"label": "a:b,c{}[]", "ok": true, "n": -0}}'),
    (U, '{"metrics": {"label": "\u00e9t\u00e9 \u2603", "x": 1.5e-7}}'),
    (U, '{"metrics": {"label": "\\ud800"}}'),
    (U, '{"metrics": {"v": [[[[1]]]]}}'),
    (U, '[{"metrics": {"v": 1}}]'),
]


def _outcome(topic: str, payload: str) -> object:
    try:
        return decode(topic, payload.encode(), NOW, REG)
    except Rejected as e:
        return ("rejected", e.reason, e.detail)


@pytest.mark.parametrize(("topic", "payload"), PAYLOADS)
def test_fast_and_strict_parse_give_the_same_reading_or_the_same_rejection(
    topic, payload, monkeypatch
):
    fast = _outcome(topic, payload)
    monkeypatch.setattr(decoding, "_fast_parse", lambda text: None)
    assert fast == _outcome(topic, payload)


def test_a_plain_telemetry_payload_takes_the_fast_path():
    assert decoding._fast_parse('{"ts": 1795773600, "metrics": {"co2_ppm": 400}}') == {
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
def test_duplicates_escapes_and_invalid_json_leave_the_fast_path(text):
    assert decoding._fast_parse(text) is None


def test_duplicate_key_is_still_refused_with_its_name():
    with pytest.raises(Rejected) as info:
        decode(T, b'{"metrics": {"co2_ppm": 1, "co2_ppm": 2}}', NOW, REG)
    assert (info.value.reason, info.value.detail) == ("bad_json", "duplicate key 'co2_ppm'")


def test_event_data_with_a_number_too_large_for_a_float_is_refused_as_bad_data():
    with pytest.raises(Rejected) as info:
        decode("sitewatch/hq/door-1/event", b'{"event": "tamper", "data": {"v": 1e400}}', NOW, REG)
    assert info.value.reason == "bad_data"

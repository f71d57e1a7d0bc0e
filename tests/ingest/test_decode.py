"""Decoding and validation of topics and payloads (SPEC §2)."""

from __future__ import annotations

import json

import pytest

from ingest.decode import decode
from ingest.rejected import Rejected
from tests.ingest.helpers import small_registry

NOW = 1_800_000_000.0  # receive time of every message here (2027-01-15), Unix seconds
REG = small_registry()
T = "sitewatch/hq/zs-1/telemetry"  # a registered zone sensor
E = "sitewatch/hq/door-1/event"  # a registered door
U = "sitewatch/hq/unknown-7/telemetry"  # a device the registry does not know


def _decode(topic: str, payload: bytes | str):
    raw = payload.encode() if isinstance(payload, str) else payload
    return decode(topic, raw, NOW, REG)


def test_telemetry_with_rfc3339_ts_becomes_a_reading_with_registry_facts():
    r = _decode(
        T,
        '{"ts": "2026-11-27T10:00:00.250Z", "seq": 1042,'
        ' "metrics": {"temperature_c": 22.4, "humidity_pct": 41}}',
    )
    assert (r.site, r.device_id, r.channel, r.kind, r.zone) == (
        "hq",
        "zs-1",
        "telemetry",
        "zone_sensor",
        "office-1",
    )
    assert r.ts == 1795773600.25
    assert r.received_at == NOW
    assert r.seq == 1042
    assert r.metrics == {"temperature_c": 22.4, "humidity_pct": 41.0}
    assert isinstance(r.metrics["humidity_pct"], float)  # ints stored as floats: no type conflict


def test_event_with_unix_ts_and_data_is_accepted():
    r = _decode(
        E,
        '{"ts": 1795773600.25, "seq": 1043, "event": "door_forced_open", "data": {"reader": "R2"}}',
    )
    assert (r.channel, r.event, r.data, r.ts, r.seq) == (
        "event",
        "door_forced_open",
        {"reader": "R2"},
        1795773600.25,
        1043,
    )


def test_ts_with_offset_is_converted_to_utc_seconds():
    r = _decode(T, '{"ts": "2026-11-27T11:00:00.5+01:00", "metrics": {"co2_ppm": 400}}')
    assert r.ts == 1795773600.5


def test_missing_ts_takes_the_receive_time_and_missing_seq_stays_none():
    r = _decode(T, '{"metrics": {"co2_ppm": 400}}')
    assert (r.ts, r.seq) == (NOW, None)


def test_unregistered_device_is_accepted_with_any_valid_metric():
    r = _decode(U, '{"metrics": {"whatever_metric": 3, "label": "abc", "ok": true}}')
    assert (r.kind, r.zone) == (None, None)
    assert r.metrics == {"whatever_metric": 3.0, "label": "abc", "ok": True}


def test_unregistered_device_event_is_accepted():
    r = _decode("sitewatch/hq/smoke-99/event", '{"event": "alarm"}')
    assert (r.event, r.kind, r.data) == ("alarm", None, {})


@pytest.mark.parametrize("payload", ["online", "offline", " offline\n"])
def test_status_payload_online_or_offline_is_accepted(payload):
    r = _decode("sitewatch/hq/sd-1/status", payload)
    assert (r.channel, r.status, r.ts) == ("status", payload.strip(), NOW)


def test_boolean_metric_of_a_registered_door_is_kept_as_bool():
    r = _decode("sitewatch/hq/door-1/telemetry", '{"metrics": {"door_open": false}}')
    assert r.metrics == {"door_open": False}


def test_string_of_64_characters_is_accepted_for_an_unregistered_device():
    r = _decode(U, json.dumps({"metrics": {"label": "x" * 64}}))
    assert r.metrics["label"] == "x" * 64


def test_prefix_is_configurable():
    r = decode("plant1/hq/zs-1/telemetry", b'{"metrics": {"co2_ppm": 1}}', NOW, REG, "plant1")
    assert r.device_id == "zs-1"
    with pytest.raises(Rejected):
        decode(T, b'{"metrics": {"co2_ppm": 1}}', NOW, REG, "plant1")


CORPUS = [
    # (case id, topic, payload, expected reason)
    (
        "payload_1mb",
        T,
        b'{"metrics": {"co2_ppm": 1}, "x": "' + b"a" * 1_000_000 + b'"}',
        "too_large",
    ),
    ("payload_64k_plus_1_of_garbage", T, b"\xff" * (64 * 1024 + 1), "too_large"),
    ("topic_dot_dot", "sitewatch/hq/../x/telemetry", "{}", "bad_topic"),
    ("topic_dot_dot_as_device", "sitewatch/hq/../telemetry", "{}", "bad_topic"),
    ("topic_plus_wildcard", "sitewatch/hq/+/telemetry", "{}", "bad_topic"),
    ("topic_hash_wildcard", "sitewatch/hq/#", "{}", "bad_topic"),
    ("topic_extra_level", "sitewatch/hq/zs-1/telemetry/extra", "{}", "bad_topic"),
    ("topic_missing_level", "sitewatch/hq/telemetry", "{}", "bad_topic"),
    ("topic_empty_device", "sitewatch/hq//telemetry", "{}", "bad_topic"),
    ("topic_empty_site", "sitewatch//zs-1/telemetry", "{}", "bad_topic"),
    ("topic_device_id_65_chars", "sitewatch/hq/" + "d" * 65 + "/telemetry", "{}", "bad_topic"),
    ("topic_unknown_channel", "sitewatch/hq/zs-1/command", "{}", "bad_topic"),
    ("topic_wrong_prefix", "other/hq/zs-1/telemetry", "{}", "bad_topic"),
    ("topic_trailing_newline_in_id", "sitewatch/hq/zs-1\n/telemetry", "{}", "bad_topic"),
    ("topic_nul_byte", "sitewatch/hq/zs\x00/telemetry", "{}", "bad_topic"),
    ("topic_space_in_id", "sitewatch/hq/zs 1/telemetry", "{}", "bad_topic"),
    ("topic_leading_slash", "/sitewatch/hq/zs-1/telemetry", "{}", "bad_topic"),
    ("not_utf8", T, b'{"metrics": {"co2_ppm": 1}, "x": "\xff\xfe"}', "not_utf8"),
    ("bad_json_truncated", T, '{"metrics": {"co2_ppm": 1}', "bad_json"),
    ("bad_json_empty", T, "", "bad_json"),
    ("bad_json_nan_literal", T, '{"metrics": {"co2_ppm": NaN}}', "bad_json"),
    ("bad_json_infinity_literal", T, '{"metrics": {"co2_ppm": Infinity}}', "bad_json"),
    ("bad_json_minus_infinity_ts", T, '{"ts": -Infinity, "metrics": {"co2_ppm": 1}}', "bad_json"),
    (
        "bad_json_duplicate_key",
        T,
        '{"metrics": {"co2_ppm": 1}, "metrics": {"co2_ppm": 2}}',
        "bad_json",
    ),
    ("bad_json_single_quotes", T, "{'metrics': {}}", "bad_json"),
    (
        "bad_json_deep_nesting",
        E,
        '{"event": "tamper", "data": ' + "[" * 10_000 + "]" * 10_000 + "}",
        "bad_json",
    ),
    ("not_object_array", T, "[1, 2, 3]", "not_object"),
    ("not_object_number", T, "42", "not_object"),
    ("not_object_null", T, "null", "not_object"),
    ("bad_ts_naive", T, '{"ts": "2026-11-27T10:00:00", "metrics": {"co2_ppm": 1}}', "bad_ts"),
    ("bad_ts_not_a_date", T, '{"ts": "yesterday", "metrics": {"co2_ppm": 1}}', "bad_ts"),
    (
        "bad_ts_impossible_date",
        T,
        '{"ts": "2026-02-30T10:00:00Z", "metrics": {"co2_ppm": 1}}',
        "bad_ts",
    ),
    ("bad_ts_bool", T, '{"ts": true, "metrics": {"co2_ppm": 1}}', "bad_ts"),
    ("bad_ts_null", T, '{"ts": null, "metrics": {"co2_ppm": 1}}', "bad_ts"),
    ("bad_ts_huge_integer", T, '{"ts": 1' + "0" * 400 + ', "metrics": {"co2_ppm": 1}}', "bad_ts"),
    ("bad_seq_string", T, '{"seq": "12", "metrics": {"co2_ppm": 1}}', "bad_seq"),
    ("bad_seq_float", T, '{"seq": 12.5, "metrics": {"co2_ppm": 1}}', "bad_seq"),
    ("bad_seq_bool", T, '{"seq": true, "metrics": {"co2_ppm": 1}}', "bad_seq"),
    ("bad_seq_negative", T, '{"seq": -1, "metrics": {"co2_ppm": 1}}', "bad_seq"),
    ("bad_metrics_missing", T, '{"ts": 1795773600}', "bad_metrics"),
    ("bad_metrics_list", T, '{"metrics": [1, 2]}', "bad_metrics"),
    ("bad_metrics_empty", T, '{"metrics": {}}', "bad_metrics"),
    ("bad_metric_name_upper", U, '{"metrics": {"Temp": 1}}', "bad_metric_name"),
    ("bad_metric_name_injection", U, '{"metrics": {"t,x=1 y": 1}}', "bad_metric_name"),
    ("bad_metric_name_65_chars", U, json.dumps({"metrics": {"m" * 65: 1}}), "bad_metric_name"),
    ("bad_metric_value_null", U, '{"metrics": {"temp": null}}', "bad_metric_value"),
    ("bad_metric_value_nested", U, '{"metrics": {"temp": {"v": 1}}}', "bad_metric_value"),
    ("bad_metric_value_list", U, '{"metrics": {"temp": [1]}}', "bad_metric_value"),
    (
        "bad_metric_value_long_string",
        U,
        json.dumps({"metrics": {"label": "x" * 65}}),
        "bad_metric_value",
    ),
    ("bad_metric_value_overflowing_number", U, '{"metrics": {"temp": 1e400}}', "bad_metric_value"),
    (
        "bad_metric_value_wrong_type_for_kind",
        T,
        '{"metrics": {"co2_ppm": "high"}}',
        "bad_metric_value",
    ),
    (
        "bad_metric_value_number_for_bool_metric",
        "sitewatch/hq/door-1/telemetry",
        '{"metrics": {"door_open": 1}}',
        "bad_metric_value",
    ),
    ("bad_event_missing", E, '{"data": {}}', "bad_event"),
    ("bad_event_number", E, '{"event": 5}', "bad_event"),
    ("bad_event_name_with_spaces", E, '{"event": "door forced"}', "bad_event"),
    ("bad_data_string", E, '{"event": "tamper", "data": "R2"}', "bad_data"),
    ("bad_status_word", "sitewatch/hq/sd-1/status", "up", "bad_status"),
    ("bad_status_json", "sitewatch/hq/sd-1/status", '"online"', "bad_status"),
    ("bad_status_uppercase", "sitewatch/hq/sd-1/status", "ONLINE", "bad_status"),
    ("not_utf8_status", "sitewatch/hq/sd-1/status", b"\xc3\x28", "not_utf8"),
]


# Accepted, and counted as a warning: SPEC §2 makes none of these an error, and dropping
# the reading would lose good data (or an alarm from a device with a broken clock).
WARNED = [
    # (case id, topic, payload, expected warning)
    ("unknown_field_telemetry", T, '{"metrics": {"co2_ppm": 1}, "unit": "ppm"}', "unknown_field"),
    (
        "unknown_field_event_in_telemetry",
        T,
        '{"metrics": {"co2_ppm": 1}, "event": "x"}',
        "unknown_field"),
    ("unknown_field_metrics_in_event", E, '{"event": "tamper", "metrics": {}}', "unknown_field"),
    ("ts_milliseconds", T, '{"ts": 1795773600250, "metrics": {"co2_ppm": 1}}', "ts_replaced"),
    ("ts_before_2000", T, '{"ts": 0, "metrics": {"co2_ppm": 1}}', "ts_replaced"),
    (
        "ts_two_days_ahead",
        T,
        f'{{"ts": {NOW + 2 * 86400}, "metrics": {{"co2_ppm": 1}}}}',
        "ts_replaced"),
    ("unknown_metric_for_kind", T, '{"metrics": {"battery_pct": 50}}', "unknown_metric"),
    ("out_of_range_humidity", T, '{"metrics": {"humidity_pct": 140}}', "out_of_range"),
    ("out_of_range_negative_co2", T, '{"metrics": {"co2_ppm": -5}}', "out_of_range"),
    ("unknown_event_for_kind", E, '{"event": "fire_alarm"}', "unknown_event"),
    (
        "unknown_event_zone_sensor_has_none",
        "sitewatch/hq/zs-1/event",
        '{"event": "alarm"}',
        "unknown_event"),
]


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [pytest.param(t, p, r, id=i) for i, t, p, r in CORPUS],
)
def test_malformed_message_is_rejected_with_its_reason(topic, payload, reason):
    with pytest.raises(Rejected) as info:
        _decode(topic, payload)
    assert info.value.reason == reason
    assert info.value.detail


def test_the_corpus_covers_at_least_thirty_cases_and_every_reason():
    assert len(CORPUS) >= 30
    assert {c[3] for c in CORPUS} >= {
        "too_large",
        "bad_topic",
        "not_utf8",
        "bad_json",
        "not_object",
        "bad_ts",
        "bad_seq",
        "bad_metrics",
        "bad_metric_name",
        "bad_metric_value",
        "bad_event",
        "bad_data",
        "bad_status",
    }


@pytest.mark.parametrize(
    ("topic", "payload", "warning"),
    [pytest.param(t, p, w, id=i) for i, t, p, w in WARNED],
)
def test_a_faulty_but_valid_message_is_accepted_and_its_fault_counted(topic, payload, warning):
    faults: list[str] = []
    reading = decode(topic, payload.encode(), NOW, REG, on_warning=faults.append)
    assert faults == [warning]
    if warning == "ts_replaced":
        assert reading.ts == NOW


def test_an_alarm_with_a_malformed_ts_is_kept_at_its_receive_time():
    faults: list[str] = []
    reading = decode("sitewatch/hq/sd-1/event", b'{"ts": "yesterday", "event": "alarm"}', NOW, REG,
                     on_warning=faults.append)
    assert (reading.event, reading.ts, faults) == ("alarm", NOW, ["ts_replaced"])


def test_a_registered_id_under_another_site_is_kept_apart_as_an_unregistered_device():
    faults: list[str] = []
    reading = decode("sitewatch/annex/sd-1/event", b'{"event": "alarm"}', NOW, REG,
                     on_warning=faults.append)
    assert (reading.site, reading.device_id, reading.kind) == ("annex", "sd-1@annex", None)
    assert faults == ["site_mismatch"]


def test_a_rejected_message_counts_no_warning():
    faults: list[str] = []
    with pytest.raises(Rejected):
        decode(T, b'{"metrics": {}, "extra": 1}', NOW, REG, on_warning=faults.append)
    assert faults == []


def test_size_limit_is_checked_before_the_topic():
    with pytest.raises(Rejected) as info:
        _decode("not/a/valid/topic/at/all", b"x" * (64 * 1024 + 1))
    assert info.value.reason == "too_large"


def test_payload_of_exactly_64_kib_is_parsed_not_refused_for_size():
    body = b'{"metrics": {"co2_ppm": 1}}'
    r = _decode(T, body + b" " * (64 * 1024 - len(body)))
    assert r.metrics == {"co2_ppm": 1.0}

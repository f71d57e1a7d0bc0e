"""The session's stand-in for paho's per-topic callback matcher."""

from __future__ import annotations

from ingest.mqtt import MqttSession, _NoFilters


def test_without_filters_no_callback_matches_any_topic() -> None:
    assert list(_NoFilters().iter_match("sitewatch/hq/zs-1/telemetry")) == []


def test_with_a_filter_registered_topics_are_matched_as_paho_does() -> None:
    m = _NoFilters()
    m["sitewatch/+/zs-1/#"] = "callback"
    assert list(m.iter_match("sitewatch/hq/zs-1/telemetry")) == ["callback"]
    assert list(m.iter_match("sitewatch/hq/zs-2/telemetry")) == []


def test_the_session_installs_it_in_place_of_paho_s_matcher() -> None:
    session = MqttSession("mqtt://127.0.0.1:1", "matcher-test", "x/#", lambda d: None)
    assert isinstance(session._client._on_message_filtered, _NoFilters)

"""The device registry file and the topic <-> device mapping, including hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.kinds import KINDS
from devices.registry import Device, Registry, RegistryError, load_registry, parse_registry
from devices.topics import TopicError, device_topic, parse_topic, subscription

GOOD = """
zones: {hall: Hall}
devices:
  - {id: sd-1, kind: smoke_detector, site: hq, zone: hall, name: Smoke 1}
  - {id: door.2, kind: door, site: hq, zone: hall, interval_s: 5}
"""


def test_the_built_in_sample_site_loads_with_every_kind_at_one_site() -> None:
    site = load_registry()
    assert len(site) == 42
    assert {d.kind for d in site.devices.values()} == set(KINDS)
    assert {d.site for d in site.devices.values()} == {"hq"}
    assert {d.zone for d in site.devices.values()} <= set(site.zones)


def test_a_good_registry_file_loads_with_interval_overrides(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(GOOD)
    site = load_registry(path)
    assert site.zones == {"hall": "Hall"}
    assert site.get("hq", "sd-1") == Device(
        id="sd-1", kind="smoke_detector", site="hq", zone="hall", name="Smoke 1"
    )
    assert site.devices["sd-1"].stale_after_s == 3 * KINDS["smoke_detector"].interval_s
    assert site.devices["door.2"].stale_after_s == 15


def test_a_device_is_found_only_at_its_own_site() -> None:
    site = parse_registry(GOOD)
    assert site.get("other-site", "sd-1") is None
    assert site.get("hq", "nope") is None


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("devices: [", "not valid YAML"),
        ("- just\n- a list\n", "site.yaml: "),
        ("zones: {}\n", "devices"),
        ("devices:\n  - {id: sd-1, kind: sprinkler, site: hq, zone: z}\n", "devices.0.kind"),
        ("devices:\n  - {id: 'sd/1', kind: door, site: hq, zone: z}\n", "devices.0.id"),
        ("devices:\n  - {id: sd-1, kind: door, site: 'h q', zone: z}\n", "devices.0.site"),
        ("devices:\n  - {id: '#', kind: door, site: hq, zone: z}\n", "devices.0.id"),
        ("devices:\n  - {id: '+', kind: door, site: hq, zone: z}\n", "devices.0.id"),
        ("devices:\n  - {id: " + "a" * 65 + ", kind: door, site: hq, zone: z}\n", "devices.0.id"),
        ("devices:\n  - {id: d, kind: door, site: hq, zone: z, colour: red}\n", "colour"),
        ("devices:\n  - {id: d, kind: door, site: hq, zone: z, interval_s: 0}\n", "interval_s"),
        ("devices:\n  - {id: d, kind: door, site: hq}\n", "devices.0.zone"),
        (
            "devices:\n  - {id: d, kind: door, site: hq, zone: z}\n"
            "  - {id: d, kind: door, site: hq, zone: y}\n",
            "duplicate device id 'd'",
        ),
    ],
)
def test_a_bad_registry_file_is_refused_naming_the_file_and_entry(text: str, expect: str) -> None:
    with pytest.raises(RegistryError, match="^site.yaml: ") as e:
        parse_registry(text, "site.yaml")
    assert expect in str(e.value)


def test_a_missing_registry_file_is_reported_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read"):
        load_registry(tmp_path / "absent.yaml")


def test_an_id_with_a_trailing_newline_is_refused_in_topics_and_registry_files() -> None:
    with pytest.raises(TopicError):
        parse_topic("sitewatch/hq/sd-01\n/telemetry")
    with pytest.raises(RegistryError):
        parse_registry('devices:\n  - {id: "sd-1\\n", kind: door, site: hq, zone: z}\n')


def test_registry_from_devices_refuses_duplicate_ids() -> None:
    d = Device(id="x", kind="door", site="hq", zone="z")
    with pytest.raises(RegistryError, match="duplicate"):
        Registry.from_devices([d, d])


def test_a_device_topic_round_trips_through_parse() -> None:
    topic = device_topic("hq", "sd-01", "telemetry", "sw")
    assert topic == "sw/hq/sd-01/telemetry"
    parsed = parse_topic(topic, "sw")
    assert (parsed.site, parsed.device_id, parsed.channel) == ("hq", "sd-01", "telemetry")
    assert subscription("sw") == "sw/+/+/+"


@pytest.mark.parametrize(
    "topic",
    [
        "other/hq/sd-01/telemetry",  # wrong prefix
        "sitewatch/hq/sd-01",  # too short
        "sitewatch/hq/sd-01/telemetry/extra",  # too long
        "sitewatch/hq/sd-01/commands",  # unknown channel
        "sitewatch//sd-01/telemetry",  # empty site
        "sitewatch/hq/../telemetry",  # path traversal as a device id
        "sitewatch/hq/./telemetry",
        "sitewatch/hq/+/telemetry",  # wildcards are not ids
        "sitewatch/#/sd-01/telemetry",
        "sitewatch/hq/sd 01/telemetry",  # spaces
        "sitewatch/hq/sd-01\x00/telemetry",  # NUL smuggling
        "sitewatch/hq/sd-01';DROP TABLE devices;--/telemetry",  # SQL in an id
        'sitewatch/hq/sd-01",kind="x/telemetry',  # line-protocol tag injection
        "sitewatch/hq/sd\u200b01/telemetry",  # zero-width space
        "sitewatch/hq/sd-０1/telemetry",  # fullwidth digit
        "sitewatch/hq/" + "d" * 65 + "/telemetry",  # over 64 characters
        "/sitewatch/hq/sd-01/telemetry",  # leading slash
        "sitewatch/hq/sd-01/Telemetry",  # channel is case-sensitive
    ],
)
def test_hostile_or_malformed_topics_are_refused_as_bad_topic(topic: str) -> None:
    with pytest.raises(TopicError) as e:
        parse_topic(topic)
    assert e.value.reason == "bad_topic"
    assert len(str(e.value)) < 400  # the detail is truncated, not an echo of the whole input


def test_a_huge_topic_is_refused_with_a_short_detail() -> None:
    with pytest.raises(TopicError) as e:
        parse_topic("sitewatch/hq/" + "x" * 100_000 + "/telemetry")
    assert len(str(e.value)) < 400

"""What one device (or one stolen device password) can make the service store or remember."""

from __future__ import annotations

import json

import pytest

from devices.reading import Reading
from devices.registry import Device, RegistryError, parse_registry
from ingest.caps import DeviceCaps
from ingest.decode import Decoder
from ingest.rejected import Rejected
from ingest.stores.lineprotocol import field_value
from tests.ingest.helpers import small_registry

NOW = 1_800_000_000.0  # Unix seconds
REG = small_registry()


def telemetry(**metrics: object) -> bytes:
    return json.dumps({"metrics": metrics}).encode()


def test_a_string_metric_with_a_line_break_is_rejected_before_line_protocol() -> None:
    with pytest.raises(Rejected) as e:
        Decoder(REG)("sitewatch/hq/zs-1/telemetry", telemetry(note="ok\nfake,x=1 y=2"), NOW)
    assert e.value.reason == "bad_metric_value"


def test_line_protocol_never_writes_a_raw_line_break_in_a_string_field() -> None:
    assert "\n" not in field_value("a\nb\rc") and field_value("a\nb") == '"a\\nb"'


def test_a_retained_message_is_counted_as_retained() -> None:
    warnings: list[str] = []
    decode = Decoder(REG, on_warning=warnings.append)
    decode("sitewatch/hq/zs-1/status", b"online", NOW, retained=True)
    decode("sitewatch/hq/zs-1/status", b"online", NOW)
    assert warnings == ["retained"]


def unregistered(device_id: str, channel: str = "telemetry", **metrics: object) -> Reading:
    return Reading(site="hq", device_id=device_id, channel=channel, ts=NOW,  # type: ignore[arg-type]
                   received_at=NOW, metrics=metrics or {"x": 1.0},
                   event="alarm" if channel == "event" else None)


def test_new_unregistered_devices_past_the_cap_are_refused_but_their_events_still_pass() -> None:
    caps = DeviceCaps(REG, unregistered_max=2)
    caps(unregistered("u-1"))
    caps(unregistered("u-2"))
    with pytest.raises(Rejected) as e:
        caps(unregistered("u-3"))
    assert e.value.reason == "unregistered_cap"
    caps(unregistered("u-1"))  # one already known goes on
    alarm = unregistered("u-4", channel="event")
    assert caps(alarm) is alarm  # SPEC §2: an alarm from an unknown detector is never dropped


def test_metric_names_outside_a_devices_kind_are_capped_per_device() -> None:
    caps = DeviceCaps(REG, unknown_metrics_max=2)
    r = Reading(site="hq", device_id="zs-1", channel="telemetry", ts=NOW, received_at=NOW,
                kind="zone_sensor", zone="office-1",
                metrics={"temperature_c": 20.0, "a": 1.0, "b": 2.0, "c": 3.0})
    kept = caps(r)
    assert set(kept.metrics) == {"temperature_c", "a", "b"}
    only_new = Reading(site="hq", device_id="zs-1", channel="telemetry", ts=NOW,
                       received_at=NOW, kind="zone_sensor", metrics={"d": 1.0})
    with pytest.raises(Rejected) as e:
        caps(only_new)
    assert e.value.reason == "unknown_metric_cap"


@pytest.mark.parametrize("device_id", ["sitewatch", "simulator", "SiteWatch"])
def test_the_broker_accounts_ids_cannot_be_registered_as_devices(device_id: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        Device(id=device_id, kind="door", site="hq", zone="z")
    with pytest.raises(RegistryError, match="reserved"):
        parse_registry(f"devices:\n  - {{id: {device_id}, kind: door, site: hq, zone: z}}\n")

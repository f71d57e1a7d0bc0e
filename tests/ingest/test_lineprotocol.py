"""Readings -> line protocol: the README's schema, escaping, floats, microsecond timestamps."""

from __future__ import annotations

import json
import re

import pytest

from devices.reading import Reading
from ingest.stores.base import BadData
from ingest.stores.lineprotocol import to_lines

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def _telemetry(**metrics: object) -> Reading:
    return Reading(
        "hq", "ahu-1", "telemetry", T0 + 0.25, T0 + 0.3,
        kind="air_handler", zone="plant", metrics=metrics,  # type: ignore[arg-type]
    )


def test_telemetry_is_one_point_with_sorted_tags_and_microsecond_timestamp() -> None:
    (line,) = to_lines([_telemetry(supply_air_temp_c=18.5, fan_running=True)])
    assert line == (
        "telemetry,device_id=ahu-1,kind=air_handler,site=hq,zone=plant"
        " supply_air_temp_c=18.5,fan_running=true 1800000000250000"
    )


def test_integers_are_written_as_floats_so_22_and_22_5_share_one_field_type() -> None:
    lines = to_lines([_telemetry(temperature_c=22), _telemetry(temperature_c=22.5)])
    assert [ln.split(" ")[1] for ln in lines] == ["temperature_c=22.0", "temperature_c=22.5"]
    assert to_lines([_telemetry(runtime_hours=10**20)])[0].split(" ")[1] == "runtime_hours=1e+20"


def test_booleans_stay_booleans_and_strings_escape_their_quotes_and_backslashes() -> None:
    (line,) = to_lines([_telemetry(door_open=False, mode='say "hi" \\ bye')])
    assert ' door_open=false,mode="say \\"hi\\" \\\\ bye" ' in line


def test_spaces_commas_and_equals_signs_are_escaped_in_tag_values() -> None:
    r = Reading(
        "hq", "ahu-1", "telemetry", T0, T0, kind="air_handler", zone="Plant room, level=2",
        metrics={"setpoint_c": 21.0},
    )
    (line,) = to_lines([r])
    assert line.startswith("telemetry,device_id=ahu-1,kind=air_handler,site=hq,"
                           "zone=Plant\\ room\\,\\ level\\=2 setpoint_c=21.0 ")


def test_an_unregistered_device_has_no_zone_or_kind_tag() -> None:
    r = Reading("hq", "ghost-9", "telemetry", T0, T0, metrics={"temperature_c": 30.0})
    assert to_lines([r]) == [
        "telemetry,device_id=ghost-9,site=hq temperature_c=30.0 1800000000000000"
    ]


def test_an_event_carries_its_name_as_a_tag_and_its_data_as_a_json_string() -> None:
    r = Reading(
        "hq", "door-3", "event", T0, T0, seq=1043, kind="door", zone="lobby",
        event="door_forced_open", data={"reader": "R2", "note": 'a "b"'},
    )
    (line,) = to_lines([r])
    head, _, rest = line.partition(" ")
    fields, _, ts = rest.rpartition(" ")
    assert head == "events,device_id=door-3,event=door_forced_open,kind=door,site=hq,zone=lobby"
    assert ts == "1800000000000000"
    data_field, seq_field = fields.split(",seq=")
    assert seq_field == "1043.0"
    raw = re.sub(r"\\(.)", r"\1", data_field.removeprefix('data="').removesuffix('"'))
    assert json.loads(raw) == {"reader": "R2", "note": 'a "b"'}


def test_an_event_without_data_stores_an_empty_json_object_and_no_seq() -> None:
    r = Reading("hq", "mcp-1", "event", T0, T0, event="activated")
    assert to_lines([r]) == [
        'events,device_id=mcp-1,event=activated,site=hq data="{}" 1800000000000000'
    ]


def test_a_status_change_is_a_device_status_point_with_its_state() -> None:
    r = Reading("hq", "ahu-1", "status", T0, T0, kind="air_handler", zone="plant", status="offline")
    assert to_lines([r]) == [
        'device_status,device_id=ahu-1,kind=air_handler,site=hq,zone=plant state="offline" '
        "1800000000000000"
    ]


def test_telemetry_without_metrics_is_skipped_rather_than_sent_as_an_invalid_line() -> None:
    assert to_lines([_telemetry(), _telemetry(battery_pct=90)]) == [
        "telemetry,device_id=ahu-1,kind=air_handler,site=hq,zone=plant battery_pct=90.0 "
        "1800000000250000"
    ]


def test_a_redelivered_reading_maps_to_the_same_timestamp_to_the_microsecond() -> None:
    a = Reading("hq", "d", "telemetry", T0 + 0.1234564, T0, metrics={"x": 1.0})
    b = Reading("hq", "d", "telemetry", T0 + 0.1234561, T0 + 9, metrics={"x": 1.0})
    expected = ["telemetry,device_id=d,site=hq x=1.0 1800000000123456"]
    assert to_lines([a]) == to_lines([b]) == expected


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 10**400, [1, 2], None])
def test_values_the_store_cannot_hold_are_refused_as_bad_data(bad: object) -> None:
    with pytest.raises(BadData):
        to_lines([_telemetry(temperature_c=bad)])


def test_a_line_break_in_a_tag_is_refused_as_bad_data() -> None:
    r = Reading("hq", "d", "telemetry", T0, T0, zone="a\nb", metrics={"x": 1.0})
    with pytest.raises(BadData):
        to_lines([r])

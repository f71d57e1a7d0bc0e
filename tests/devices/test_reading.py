"""Reading: built by its own __init__, and as immutable as the generated one made it."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from devices.reading import Reading


def test_a_reading_cannot_be_changed_once_built():
    r = Reading("hq", "zs-01", "telemetry", 1.0, 2.0, metrics={"temperature_c": 21.5})
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.site = "annex"
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.metrics = {}


def test_every_field_is_set_and_omitted_mappings_are_empty_and_not_shared():
    r = Reading("hq", "sd-01", "event", 1.0, 2.0, 7, "smoke_detector", "z1", event="alarm",
                data={"level": 3}, status=None)
    assert dataclasses.astuple(r) == ("hq", "sd-01", "event", 1.0, 2.0, 7, "smoke_detector",
                                      "z1", {}, "alarm", {"level": 3}, None)
    a, b = Reading("hq", "a", "status", 1, 1), Reading("hq", "b", "status", 1, 1)
    assert a.metrics == {} and a.data == {}
    assert a.metrics is not b.metrics and a.data is not b.data


def test_replace_equality_and_pickling_work_as_for_a_generated_dataclass():
    r = Reading("hq", "zs-01", "telemetry", 1.0, 2.0, metrics={"temperature_c": 21.5})
    moved = dataclasses.replace(r, device_id="zs-01@annex")
    assert moved.device_id == "zs-01@annex" and moved.metrics == r.metrics
    assert moved != r and dataclasses.replace(moved, device_id="zs-01") == r
    assert pickle.loads(pickle.dumps(r)) == r

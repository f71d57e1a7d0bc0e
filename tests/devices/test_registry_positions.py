"""The registry's optional floor and position of a device, for the console's site map."""

from __future__ import annotations

import pytest

from devices.registry import RegistryError, load_registry, parse_registry


def test_the_sample_site_places_every_device_on_a_floor() -> None:
    registry = load_registry()
    for d in registry.devices.values():
        assert d.floor is not None, d.id
        assert d.x is not None and 0 <= d.x <= 100, d.id
        assert d.y is not None and 0 <= d.y <= 100, d.id


def test_a_device_without_a_position_is_still_valid() -> None:
    reg = parse_registry("devices:\n  - {id: d1, kind: door, site: hq, zone: z}\n")
    assert reg.devices["d1"].floor is None and reg.devices["d1"].x is None


def test_a_position_off_the_plan_is_refused_naming_the_field() -> None:
    with pytest.raises(RegistryError, match=r"devices\.0\.x"):
        parse_registry("devices:\n  - {id: d1, kind: door, site: hq, zone: z, x: 140, y: 3}\n")

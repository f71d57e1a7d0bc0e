"""The device registry table: imports are idempotent and never delete; every change is recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.registry import Device, Registry, parse_registry
from devices.snapshot import DeviceSnapshot
from rules.db.database import open_database
from rules.db.device_registry import DeviceExists, DeviceMissing, DeviceTable
from rules.db.device_states import DeviceStateStore
from tests.databases import DATABASES, migrated_sqlite

T = 1_800_000_000.0

FILE = """
zones: {hall: Hall, lobby: Lobby}
devices:
  - {id: sd-1, kind: smoke_detector, site: hq, zone: hall, name: Smoke 1}
  - {id: door-1, kind: door, site: hq, zone: lobby, interval_s: 5}
"""


@pytest.fixture(params=DATABASES)
def table(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeviceTable]:
    """The registry tables on SQLite and on a real PostgreSQL."""
    engine = (migrated_sqlite(tmp_path / "db.sqlite") if request.param == "sqlite"
              else open_database(request.getfixturevalue("pg_migrated_url")))
    yield DeviceTable(engine)
    engine.dispose()


def test_importing_the_same_file_twice_changes_and_records_nothing_the_second_time(
    table: DeviceTable,
) -> None:
    first = table.import_registry(parse_registry(FILE), "file")
    second = table.import_registry(parse_registry(FILE), "file")
    assert sorted(first.created) == ["door-1", "sd-1"]
    assert (second.created, second.updated) == ([], [])
    loaded = table.load()
    assert loaded.devices == parse_registry(FILE).devices
    assert loaded.zones == {"hall": "Hall", "lobby": "Lobby"}
    assert len(table.changes()) == 2


def test_an_import_updates_changed_devices_and_never_deletes_missing_ones(
    table: DeviceTable,
) -> None:
    table.import_registry(parse_registry(FILE), "file")
    table.create(Device(id="hd-9", kind="heat_detector", site="hq", zone="hall"), "alice")
    smaller = FILE.replace("Smoke 1", "Smoke one").split("  - {id: door-1")[0]
    result = table.import_registry(parse_registry(smaller), "file")
    assert result.updated == ["sd-1"]
    assert set(table.load().devices) == {"sd-1", "door-1", "hd-9"}
    assert table.changes("sd-1")[-1]["changes"] == {"name": ["Smoke 1", "Smoke one"]}


def test_creating_an_id_in_service_is_refused_but_a_retired_one_comes_back(
    table: DeviceTable,
) -> None:
    d = Device(id="hd-9", kind="heat_detector", site="hq", zone="hall")
    table.create(d, "alice")
    with pytest.raises(DeviceExists):
        table.create(d, "alice")
    table.retire("hd-9", "bob")
    assert "hd-9" not in table.load().devices
    with pytest.raises(DeviceMissing):
        table.retire("hd-9", "bob")
    table.create(d, "carol")
    assert "hd-9" in table.load().devices
    assert [(c["action"], c["actor"]) for c in table.changes("hd-9")] == [
        ("create", "alice"), ("retire", "bob"), ("create", "carol"),
    ]


def test_a_device_an_operator_retired_stays_retired_when_the_file_still_lists_it(
    table: DeviceTable,
) -> None:
    table.import_registry(parse_registry(FILE), "file")
    table.retire("door-1", "alice")
    result = table.import_registry(parse_registry(FILE), "file")
    assert result.kept_retired == ["door-1"]
    assert set(table.load().devices) == {"sd-1"}


def test_an_update_records_the_actor_and_each_changed_field(table: DeviceTable) -> None:
    table.import_registry(parse_registry(FILE), "file")
    before = table.update(
        Device(id="sd-1", kind="smoke_detector", site="hq", zone="lobby", name="Smoke 1"), "alice"
    )
    assert before.zone == "hall"
    last = table.changes("sd-1")[-1]
    assert (last["action"], last["actor"], last["changes"]) == (
        "update", "alice", {"zone": ["hall", "lobby"]},
    )
    with pytest.raises(DeviceMissing):
        table.update(Device(id="nope", kind="door", site="hq", zone="hall"), "alice")


def test_an_empty_registry_loads_as_an_empty_registry(table: DeviceTable) -> None:
    assert table.load().devices == Registry.from_devices([]).devices


def test_retiring_forgets_the_devices_saved_liveness_so_a_restart_does_not_list_it(
    table: DeviceTable,
) -> None:
    table.import_registry(parse_registry(FILE), "file")
    states = DeviceStateStore(table._engine)
    states.save([DeviceSnapshot("door-1", "hq", "lobby", "door", True, T, T, None, {}, 1),
                 DeviceSnapshot("sd-1", "hq", "hall", "smoke_detector", True, T, T, None, {}, 2)])
    table.retire("door-1", "alice")
    assert [s.device_id for s in states.load()] == ["sd-1"]

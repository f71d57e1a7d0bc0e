"""The backtest's fast path (a device's columns, quiet rows left out: backtest_columns.py) gives
exactly the incidents, resolutions and diff of the general path (a Reading per stored row) and
of the first version's loop, on seeded periods of the embedded store that fire every kind of
rule of the built-in pack: holds, rate and count windows, staleness, events and statuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.columns import DeviceColumns
from devices.reading import Reading
from devices.registry import Device, Registry
from ingest.stores.embedded import EmbeddedStore
from ingest.stores.influx_v1 import InfluxV1Store
from rules.engine import conditions as c
from rules.engine.backtest import Recorded, diff, replay_devices
from rules.engine.backtest_columns import device_items, values_wanted
from rules.engine.evaluator import Evaluator
from rules.engine.loader import load_rules, parse_rules
from rules.engine.models import ThresholdRule
from rules.engine.state import MemoryStateStore
from tests.rules.backtest_period import HOURS, REGISTRY, T0, first_version, opened, seeded_period
from tests.rules.test_backtest import RULES

START, END = T0, T0 + HOURS * 3600
ColumnStore = EmbeddedStore | InfluxV1Store


def _moved_zone(readings: list[Reading]) -> list[Reading]:
    """zs-1's second half-hour in another zone: its rows differ, so it has no columns."""
    return [Reading(r.site, r.device_id, r.channel, r.ts, r.received_at, r.seq, r.kind, "z2",
                    r.metrics, r.event, r.data, r.status)
            if r.device_id == "zs-1" and r.ts > T0 + 1800 else r for r in readings]


@pytest.mark.parametrize("seed", [20, 7])
def test_columns_give_the_general_paths_incidents_resolutions_and_diff(
    replay_store: ColumnStore, seed: int,
) -> None:
    pack = load_rules()
    readings = _moved_zone(seeded_period(seed))
    replay_store.write(readings)
    ids = replay_store.reading_devices(START, END)
    reference = first_version(pack, replay_store.readings(START, END), START, END, REGISTRY)
    assert {rule for rule, *_ in reference} >= {  # holds, windows, staleness, events
        "smoke_obscuration", "heat_rise", "heat_fixed",
        "life_safety_stale", "door_held_open", "door_open_too_long", "access_denied_burst",
        "unregistered_fire_alarm"}
    assert any(resolved is not None for *_, resolved in reference)

    def readings_of(d: str) -> object:
        return replay_store.device_readings(d, START, END)

    general = replay_devices(pack, ids, readings_of, START, END, REGISTRY)  # type: ignore[arg-type]
    wanted = values_wanted(pack)  # as run_backtest reads: values only where a rule looks
    fast = replay_devices(
        pack, ids, readings_of, START, END, REGISTRY,  # type: ignore[arg-type]
        columns_of=lambda d: replay_store.device_columns(d, START, END, None, wanted))
    every = replay_devices(pack, ids, readings_of, START, END, REGISTRY,  # type: ignore[arg-type]
                           columns_of=lambda d: replay_store.device_columns(d, START, END))
    assert fast.readings == every.readings == general.readings == len(readings)
    assert opened(fast) == opened(every) == opened(general) == reference
    recorded = [Recorded(1, w.rule, w.device_id, w.opened_at + 30 * i, None)
                for i, w in enumerate(general.would_open[:3])]
    assert diff(fast, recorded).as_json() == diff(general, recorded).as_json()

    # The fast path did take columns, and left rows out: only zs-1 (two zones) had none.
    columns = {d: replay_store.device_columns(d, START, END, None, wanted) for d in ids}
    ahu = columns["ahu-1"]  # fan_running: no rule reads it (InfluxDB returns it anyway)
    assert ahu is not None and "filter_dp_pa" in ahu.series
    assert "fan_running" not in ahu.series or isinstance(replay_store, InfluxV1Store)
    assert ahu.times() == sorted({round(r.ts * 1e6) for r in readings
                                  if r.device_id == "ahu-1" and r.channel == "telemetry"})
    assert [d for d, cols in columns.items() if cols is None] == ["zs-1"]
    left_out = sum(_quiet_rows(pack, cols) for cols in columns.values() if cols is not None)
    assert left_out > len(readings) / 10, left_out


def _quiet_rows(pack: object, cols: DeviceColumns) -> int:
    ev = Evaluator(pack, MemoryStateStore())  # type: ignore[arg-type]
    items, _ = device_items(ev, cols)
    return sum(len(item) for item in items if type(item) is list)


def test_stored_values_come_back_exactly_through_columns_and_readings(
    replay_store: ColumnStore,
) -> None:
    values = [21.123456789012345, 0.1 + 0.2, 1e-300, -0.0, 98765.43210987654, 3.0]
    replay_store.write([Reading("hq", "zs-9", "telemetry", T0 + i, T0 + i, kind="zone_sensor",
                                zone="z1", metrics={"temperature_c": v, "fan_on": i % 2 == 0}
                                if i != 4 else {"temperature_c": v})  # one without fan_on
                        for i, v in enumerate(values)])
    cols = replay_store.device_columns("zs-9", START, END)
    assert cols is not None
    assert cols.series["temperature_c"] == ([round((T0 + i) * 1e6) for i in range(6)], values)
    assert cols.series["fan_on"] == ([round((T0 + i) * 1e6) for i in (0, 1, 2, 3, 5)],
                                     [True, False, True, False, False])
    readings = replay_store.device_readings("zs-9", START, END)
    assert [r.metrics["temperature_c"] for r in readings] == values


def test_a_quiet_device_back_from_silence_resolves_its_stale_ticket_at_its_first_row(
    tmp_path: Path,
) -> None:
    """A zone sensor whose every row is left out (22 °C, never past the hold's limit) goes
    silent for 10 minutes: the stale ticket opens three intervals after its last row and
    resolves at its first row back, as the general path has it; a warm one holds and fires."""
    registry = Registry.from_devices([Device(id="zs-q", kind="zone_sensor", site="hq", zone="z1"),
                                      Device(id="zs-w", kind="zone_sensor", site="hq", zone="z1")])
    rows = [(t, "zs-q", 22.0) for t in range(0, 3600, 5) if not 600 <= t < 1200]
    rows += [(t, "zs-w", 30.0 if 1000 <= t < 2500 else 22.5) for t in range(0, 3600, 5)]
    store = EmbeddedStore(tmp_path / "telemetry.db")
    store.write([Reading("hq", d, "telemetry", T0 + t, T0 + t, kind="zone_sensor", zone="z1",
                         metrics={"temperature_c": v, "humidity_pct": 40.0})
                 for t, d, v in sorted(rows)])
    ids = store.reading_devices(START, END)

    def readings_of(d: str) -> object:
        return store.device_readings(d, START, END)

    general = replay_devices(RULES, ids, readings_of, START, END, registry)  # type: ignore[arg-type]
    fast = replay_devices(RULES, ids, readings_of, START, END, registry,  # type: ignore[arg-type]
                          columns_of=lambda d: store.device_columns(d, START, END))
    interval = registry.devices["zs-q"].spec.interval_s
    assert opened(fast) == opened(general) == sorted([
        ("hot", "zs-w", T0 + 1000 + 900, T0 + 2500),
        ("silent", "zs-q", T0 + 595 + 3 * interval, T0 + 1200)])
    cols = store.device_columns("zs-q", START, END)
    assert cols is not None and _quiet_rows(RULES, cols) == len(cols.times())
    store.close()


@pytest.mark.parametrize("limit", ["above: 28", "below: 5", "equals: true", "equals: false",
                                   "equals: 'on'", "equals: 3"])
def test_first_triggered_is_the_first_value_threshold_triggered_holds_for(limit: str) -> None:
    (rule,) = parse_rules(f"""
- {{id: r, title: R, description: R, kind: threshold, metric: m, {limit},
   raises: {{type: ticket, priority: P3}}}}
""", "t.yaml").rules
    assert isinstance(rule, ThresholdRule)
    values: list[object] = [22.0, 1, True, 0, "on", float("nan"), 3, False, 3.0, 4.0, 30, "x",
                            1.0, True, 29.5, "on", False]
    for start in range(len(values) + 1):
        tail = values[start:]
        expected = next((i for i, v in enumerate(tail) if c.threshold_triggered(rule, v)), None)
        assert c.first_triggered(rule, tail) == expected


def test_metrics_no_rule_reads_come_back_as_times_and_a_move_among_them_is_seen(
    tmp_path: Path,
) -> None:
    store = EmbeddedStore(tmp_path / "telemetry.db")
    store.write([Reading("hq", d, "telemetry", T0 + t, T0 + t, kind="zone_sensor",
                         zone="z2" if d == "zs-m" and t >= 50 else "z1",
                         metrics={"humidity_pct": 40.0})
                 for d in ("zs-h", "zs-m") for t in range(0, 100, 5)])
    wanted = values_wanted(RULES)  # RULES read zone sensors' temperature_c only
    cols = store.device_columns("zs-h", START, END, None, wanted)
    assert cols is not None and not cols.series
    assert cols.times() == [round((T0 + t) * 1e6) for t in range(0, 100, 5)]
    assert store.device_columns("zs-m", START, END, None, wanted) is None
    store.close()

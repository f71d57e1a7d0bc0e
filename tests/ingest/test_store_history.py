"""events() and readings() of the stores, against the embedded store, a real InfluxDB 1.6.7
and the InfluxDB 3 stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.reading import Reading
from ingest.stores.base import StoredEvent, TelemetryStore
from ingest.stores.influx_v3 import InfluxV3Store
from tests.ingest.fake_influx_v3 import serve as serve_influx_v3
from tests.stores import embedded_or_influx_v1

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.fixture(params=["embedded", "influx_v1", "influx_v3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TelemetryStore]:
    """Each store the backtest and the event history read from (InfluxDB 3: its stand-in)."""
    s: TelemetryStore
    if request.param == "influx_v3":
        with serve_influx_v3() as fake:
            s = InfluxV3Store(fake.url, "sitewatch", token=fake.token)
            yield s
            s.close()
        return
    s = embedded_or_influx_v1(request, tmp_path)
    yield s
    s.close()


def _event(i: int, name: str, device: str = "door-3", site: str = "hq") -> Reading:
    return Reading(site, device, "event", T0 + i, T0 + i, seq=i, kind="door", zone="lobby",
                   event=name, data={"badge": f"B{i}"})


def _temp(i: int, device: str = "zs-1", site: str = "hq") -> Reading:
    return Reading(site, device, "telemetry", T0 + i + 0.5, T0 + i + 0.5, kind="zone_sensor",
                   zone="office", metrics={"temperature_c": 20.0 + i, "humidity_pct": 40.0,
                                                  "fan_on": i % 2 == 0, "mode": 'say "hi"'})


def test_events_of_a_device_come_back_oldest_first_filtered_and_paged(
    store: TelemetryStore,
) -> None:
    store.write([_event(i, "access_granted" if i % 3 else "access_denied") for i in range(10)]
                + [_event(5, "access_granted", device="door-4")])
    everything = store.events("door-3", T0, T0 + 100)
    assert [e.ts for e in everything] == [T0 + i for i in range(10)]
    assert everything[1] == StoredEvent(T0 + 1, "access_granted", {"badge": "B1"}, 1)
    denied = store.events("door-3", T0, T0 + 100, event="access_denied")
    assert [e.ts - T0 for e in denied] == [0, 3, 6, 9]
    page = store.events("door-3", T0, T0 + 100, limit=4, offset=4)
    assert [e.ts - T0 for e in page] == [4, 5, 6, 7]
    assert [e.ts - T0 for e in store.events("door-3", T0 + 2, T0 + 4)] == [2, 3]
    assert store.events("nobody", T0, T0 + 100) == []


def test_readings_replay_telemetry_events_and_status_in_time_order_per_site(
    store: TelemetryStore,
) -> None:
    offline = Reading("hq", "zs-1", "status", T0 + 2.7, T0 + 2.7, kind="zone_sensor",
                      zone="office", status="offline")
    store.write([_temp(i) for i in range(4)] + [_event(i, "access_granted") for i in range(4)]
                + [offline, _temp(1, device="zs-9", site="annex")])
    got = list(store.readings(T0, T0 + 3.6, site="hq"))
    assert [(round(r.ts - T0, 3), r.channel) for r in got] == [
        (0, "event"), (0.5, "telemetry"), (1, "event"), (1.5, "telemetry"), (2, "event"),
        (2.5, "telemetry"), (2.7, "status"), (3, "event"), (3.5, "telemetry"),
    ]
    first = got[1]
    assert (first.device_id, first.kind, first.zone, dict(first.metrics)) == (
        "zs-1", "zone_sensor", "office",
        {"temperature_c": 20.0, "humidity_pct": 40.0, "fan_on": True, "mode": 'say "hi"'})
    assert got[3].metrics["fan_on"] is False
    assert got[0].data == {"badge": "B0"} and got[0].event == "access_granted"
    assert got[6].status == "offline"
    assert all(r.received_at == r.ts for r in got)
    both = list(store.readings(T0, T0 + 10))
    assert len(both) == len(got) + 1
    assert list(store.readings(T0 + 100, T0 + 200)) == []

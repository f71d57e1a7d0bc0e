"""The InfluxDB 3 store's requests, as InfluxDB 3's documentation gives them, and its errors.
(The behaviour it shares with every store is in test_stores_contract.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devices.reading import Reading
from ingest.stores.base import Sample, StoreUnavailable
from ingest.stores.factory import open_store
from ingest.stores.influx_v3 import InfluxV3Store
from tests.ingest.fake_influx_v3 import FakeInfluxV3, serve
from tests.servers import free_port

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
AHU = Reading("hq", "ahu-1", "telemetry", T0 + 0.25, T0 + 0.3, kind="air_handler",
              zone="plant", metrics={"supply_air_temp_c": 22.0})


@pytest.fixture
def fake() -> Iterator[FakeInfluxV3]:
    """A local InfluxDB 3 stand-in."""
    with serve() as f:
        yield f


def test_writes_go_to_write_lp_in_microseconds_all_or_nothing_with_a_bearer_token(
    fake: FakeInfluxV3,
) -> None:
    store = InfluxV3Store(fake.url, "site_hq", token=fake.token)
    store.write([AHU])
    path, content_type, params = fake.requests[-1]
    assert path == "/api/v3/write_lp" and content_type.startswith("text/plain")
    assert params == {"db": "site_hq", "precision": "microsecond", "accept_partial": "false"}
    assert store.query("ahu-1", "supply_air_temp_c", T0, T0 + 1) == [Sample(T0 + 0.25, 22.0)]
    assert fake.requests[-1][0] == "/api/v3/query_sql"


def test_averages_are_epoch_aligned_windows_from_date_bin(fake: FakeInfluxV3) -> None:
    store = InfluxV3Store(fake.url, "sitewatch", token=fake.token)
    store.write([Reading("hq", "ahu-1", "telemetry", T0 + i * 20, T0, metrics={"t": float(i)})
                 for i in range(6)])
    got = store.query("ahu-1", "t", T0 + 30, T0 + 120, every_s=60)
    assert got == [Sample(T0, 2.0), Sample(T0 + 60, 4.0)]  # [40 s] and [60, 80, 100 s]


def test_a_metric_never_written_answers_empty_without_asking_for_a_missing_column(
    fake: FakeInfluxV3,
) -> None:
    store = InfluxV3Store(fake.url, "sitewatch", token=fake.token)
    assert store.query("ahu-1", "nothing_yet", T0, T0 + 60) == []  # no table at all yet
    store.write([AHU])
    assert store.query("ahu-1", "co2_ppm", T0, T0 + 60) == []


def test_a_wrong_token_and_a_failing_server_are_retry_later_with_the_cause_named(
    fake: FakeInfluxV3,
) -> None:
    with pytest.raises(StoreUnavailable, match="check the token"):
        InfluxV3Store(fake.url, "sitewatch", token="wrong").write([AHU])
    fake.fail_with = 503
    store = InfluxV3Store(fake.url, "sitewatch", token=fake.token)
    with pytest.raises(StoreUnavailable, match="503"):
        store.write([AHU])
    assert store.ping() is False
    fake.fail_with = None
    store.write([AHU])
    assert store.ping() is True


def test_an_unreachable_server_is_retry_later() -> None:
    store = InfluxV3Store(f"http://127.0.0.1:{free_port()}", "sitewatch", timeout_s=1)
    with pytest.raises(StoreUnavailable, match="unreachable"):
        store.write([AHU])
    assert store.ping() is False


def test_the_settings_choose_the_v3_store(fake: FakeInfluxV3, tmp_path: object) -> None:
    from api.settings import Settings

    settings = Settings(influx_url=fake.url, influx_api="v3", influx_db="site_hq",
                        influx_token=fake.token, data_dir=tmp_path)
    store = open_store(settings)
    assert isinstance(store, InfluxV3Store)
    store.write([AHU])
    assert fake.requests[-1][2]["db"] == "site_hq"

"""events() and readings() of the InfluxDB 2.x store against the local fake v2 server."""

from __future__ import annotations

import json

from ingest.stores.base import StoredEvent
from ingest.stores.influx_v2 import InfluxV2Store
from tests.ingest.test_store_influx_v2 import T0, FakeInfluxV2, fake, store

__all__ = ["fake", "store"]  # the fixtures, shared with the write and query tests

_EVENTS = (
    "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,string,string,"
    "string,string,string,string,string,double\r\n"
    "#group,false,false,false,false,false,false,false,false,false,false,false,false,false\r\n"
    "#default,_result,,,,,,,,,,,,\r\n"
    ",result,table,_start,_stop,_time,_measurement,device_id,event,kind,site,zone,data,seq\r\n"
    ',,0,2027-01-15T08:00:00Z,2027-01-15T09:00:00Z,2027-01-15T08:00:01Z,events,door-3,'
    'access_granted,door,hq,lobby,"{""badge"":""B1""}",1\r\n'
    ',,0,2027-01-15T08:00:00Z,2027-01-15T09:00:00Z,2027-01-15T08:00:02Z,events,door-3,'
    'access_denied,door,hq,lobby,{},\r\n'
    "\r\n"
)
_TELEMETRY = (
    "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,string,string,"
    "string,string,string,double,boolean\r\n"
    "#group,false,false,false,false,false,false,false,false,false,false,false,false\r\n"
    "#default,_result,,,,,,,,,,,\r\n"
    ",result,table,_start,_stop,_time,_measurement,device_id,kind,site,zone,"
    "supply_air_temp_c,fan_running\r\n"
    ",,0,2027-01-15T08:00:00Z,2027-01-15T09:00:00Z,2027-01-15T08:00:00.5Z,telemetry,ahu-1,"
    "air_handler,hq,plant,21.5,true\r\n"
    ",,0,2027-01-15T08:00:00Z,2027-01-15T09:00:00Z,2027-01-15T08:00:03Z,telemetry,ahu-1,"
    "air_handler,hq,plant,22,\r\n"
    "\r\n"
)


def test_events_ask_for_one_device_pivoted_sorted_and_paged_and_read_the_rows(
    fake: FakeInfluxV2, store: InfluxV2Store
) -> None:
    fake.reply(200, _EVENTS, "text/csv; charset=utf-8")
    got = store.events("door-3", T0, T0 + 3600, event="access_denied", limit=2, offset=4)
    assert got == [StoredEvent(T0 + 1, "access_granted", {"badge": "B1"}, 1),
                   StoredEvent(T0 + 2, "access_denied", {}, None)]
    flux = json.loads(fake.requests[0].body)["query"]
    assert 'r._measurement == "events" and r.device_id == "door-3"' in flux
    assert 'r.event == "access_denied"' in flux
    assert 'pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")' in flux
    assert 'sort(columns: ["_time", "event"])' in flux
    assert "limit(n: 2, offset: 4)" in flux


def test_readings_stream_each_measurement_of_a_site_and_merge_them_by_time(
    fake: FakeInfluxV2, store: InfluxV2Store
) -> None:
    answers = {"telemetry": _TELEMETRY, "events": _EVENTS, "device_status": "\r\n"}
    fake.reply(200, "", "text/csv; charset=utf-8")
    fake.route = lambda body: next(
        a for m, a in answers.items()
        if f'r._measurement == "{m}"' in json.loads(body)["query"]).encode()
    got = list(store.readings(T0, T0 + 3600, site="hq"))
    assert [(round(r.ts - T0, 3), r.channel) for r in got] == [
        (0.5, "telemetry"), (1, "event"), (2, "event"), (3, "telemetry")]
    first = got[0]
    assert (first.device_id, first.zone, dict(first.metrics)) == (
        "ahu-1", "plant", {"supply_air_temp_c": 21.5, "fan_running": True})
    assert dict(got[3].metrics) == {"supply_air_temp_c": 22.0}
    assert (got[1].event, got[1].data, got[1].seq) == ("access_granted", {"badge": "B1"}, 1)
    queries = [json.loads(r.body)["query"] for r in fake.requests]
    assert len(queries) == 3
    for measurement, q in zip(("telemetry", "events", "device_status"), queries, strict=True):
        assert f'r._measurement == "{measurement}" and r.site == "hq"' in q
        assert 'sort(columns: ["_time"])' in q

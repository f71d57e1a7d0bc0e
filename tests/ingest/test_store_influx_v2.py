"""The InfluxDB 2.x store against a local HTTP server that checks the documented v2 API."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from devices.reading import Reading
from ingest.stores.base import BadData, Sample, StoreUnavailable
from ingest.stores.influx_v2 import InfluxV2Store
from tests.servers import free_port

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
TOKEN = "s3cr3t-token=="


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeInfluxV2:
    """Records every request and answers with the reply set by the test."""

    url: str
    requests: list[Seen] = field(default_factory=list)
    status: int = 204
    content_type: str = "application/json"
    body: bytes = b""
    route: Callable[[bytes], bytes] | None = None  # request body -> answer, instead of `body`

    def reply(self, status: int, body: str | bytes = b"", content_type: str = "") -> None:
        """Answer the next requests with this status, body and content type."""
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.content_type = content_type or self.content_type


@pytest.fixture
def fake() -> Iterator[FakeInfluxV2]:
    """A local HTTP server standing in for InfluxDB 2.x."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = FakeInfluxV2(f"http://127.0.0.1:{server.server_port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            url = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append(Seen("POST", url.path, parse_qs(url.query), headers, body))
            answer = state.route(body) if state.route is not None else state.body
            self.send_response(state.status)
            self.send_header("Content-Type", state.content_type)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server.RequestHandlerClass = Handler
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def store(fake: FakeInfluxV2) -> Iterator[InfluxV2Store]:
    """The v2 store pointed at the fake."""
    s = InfluxV2Store(fake.url, TOKEN, "acme facilities", "site/hq", timeout_s=5)
    yield s
    s.close()


AHU = Reading(
    "hq", "ahu-1", "telemetry", T0 + 0.25, T0 + 0.3, kind="air_handler",
    zone="Plant room, level=2",
    metrics={"supply_air_temp_c": 22, "fan_running": True, "mode": 'say "hi" \\ bye'},
)
FORCED = Reading("hq", "door-3", "event", T0 + 1, T0 + 1, seq=7, kind="door", zone="lobby",
                 event="door_forced_open", data={"reader": "R2"})


def test_write_sends_the_documented_v2_request_with_escaped_line_protocol(
    fake: FakeInfluxV2, store: InfluxV2Store
) -> None:
    store.write([AHU, FORCED])
    (req,) = fake.requests
    assert (req.method, req.path) == ("POST", "/api/v2/write")
    assert req.params == {"org": ["acme facilities"], "bucket": ["site/hq"], "precision": ["us"]}
    assert req.headers["authorization"] == f"Token {TOKEN}"
    # influxdb-client sends bare `text/plain` (its generated service overrides the charset it
    # was given), uncompressed since gzip is off; the body is UTF-8 either way.
    media, _, params = req.headers["content-type"].partition(";")
    assert media.strip() == "text/plain"
    assert params.strip() in ("", "charset=utf-8")
    assert "content-encoding" not in req.headers
    assert req.body.decode("utf-8").split("\n") == [
        "telemetry,device_id=ahu-1,kind=air_handler,site=hq,zone=Plant\\ room\\,\\ level\\=2"
        ' supply_air_temp_c=22.0,fan_running=true,mode="say \\"hi\\" \\\\ bye" 1800000000250000',
        "events,device_id=door-3,event=door_forced_open,kind=door,site=hq,zone=lobby"
        ' data="{\\"reader\\":\\"R2\\"}",seq=7.0 1800000001000000',
    ]


def test_an_empty_batch_sends_nothing(fake: FakeInfluxV2, store: InfluxV2Store) -> None:
    store.write([])
    assert fake.requests == []


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (503, StoreUnavailable, "503"),
        (500, StoreUnavailable, "500"),
        (400, BadData, "unable to parse"),
        (422, BadData, "unable to parse"),
        (401, StoreUnavailable, "token"),
        (403, StoreUnavailable, "token"),
    ],
)
def test_server_refusals_become_retry_later_or_bad_data(
    fake: FakeInfluxV2, store: InfluxV2Store, status: int, error: type[Exception], words: str
) -> None:
    fake.reply(status, json.dumps({"code": "x", "message": "unable to parse 'telemetry'"}))
    with pytest.raises(error, match=words):
        store.write([AHU])
    assert len(fake.requests) == 1  # no hidden retry loop: the durable buffer retries


def test_an_unreachable_server_is_retry_later() -> None:
    s = InfluxV2Store(f"http://127.0.0.1:{free_port()}", TOKEN, "acme", "b", timeout_s=2)
    with pytest.raises(StoreUnavailable):
        s.write([AHU])
    assert s.ping() is False
    s.close()


# Annotated CSV as InfluxDB 2.x answers /api/v2/query (datatype, group, default, header rows).
_HEAD = (
    "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,{t},string,string,"
    "string,string,string,string\r\n"
    "#group,false,false,true,true,false,false,true,true,true,true,true,true\r\n"
    "#default,_result,,,,,,,,,,,\r\n"
    ",result,table,_start,_stop,_time,_value,_field,_measurement,device_id,kind,site,zone\r\n"
)
_SPAN = "2027-01-15T08:00:00Z,2027-01-15T08:02:00Z"


def _row(table: int, time: str, value: str, fld: str, zone: str = "plant") -> str:
    return f",,{table},{_SPAN},{time},{value},{fld},telemetry,ahu-1,air_handler,hq,{zone}\r\n"


def test_query_sends_flux_with_bucket_range_and_filters_and_reads_the_annotated_csv(
    fake: FakeInfluxV2, store: InfluxV2Store
) -> None:
    fake.reply(200, _HEAD.format(t="double")
               + _row(0, "2027-01-15T08:00:00.25Z", "21.5", "supply_air_temp_c")
               + _row(0, "2027-01-15T08:00:10Z", "22", "supply_air_temp_c") + "\r\n",
               "text/csv; charset=utf-8")
    got = store.query("ahu-1", "supply_air_temp_c", T0, T0 + 120)
    assert got == [Sample(T0 + 0.25, 21.5), Sample(T0 + 10, 22.0)]
    (req,) = fake.requests
    assert (req.path, req.params["org"]) == ("/api/v2/query", ["acme facilities"])
    assert req.headers["authorization"] == f"Token {TOKEN}"
    flux = json.loads(req.body)["query"]
    assert 'from(bucket: "site/hq")' in flux
    assert "range(start: 2027-01-15T08:00:00.000000Z, stop: 2027-01-15T08:02:00.000000Z)" in flux
    assert 'r._measurement == "telemetry"' in flux
    assert 'r.device_id == "ahu-1"' in flux
    assert 'r._field == "supply_air_temp_c"' in flux
    assert "aggregateWindow" not in flux
    assert "limit(n: 10000)" in flux


def test_an_averaged_query_asks_for_epoch_aligned_windows_named_by_their_start(
    fake: FakeInfluxV2, store: InfluxV2Store
) -> None:
    fake.reply(200, _HEAD.format(t="double")
               + _row(0, "2027-01-15T08:00:00Z", "20.75", "supply_air_temp_c")
               + _row(0, "2027-01-15T08:01:00Z", "21.25", "supply_air_temp_c") + "\r\n",
               "text/csv; charset=utf-8")
    got = store.query("ahu-1", "supply_air_temp_c", T0, T0 + 120, every_s=60, limit=50)
    assert got == [Sample(T0, 20.75), Sample(T0 + 60, 21.25)]
    flux = json.loads(fake.requests[0].body)["query"]
    assert 'aggregateWindow(every: 60000000us, fn: mean, timeSrc: "_start"' in flux
    assert "limit(n: 50)" in flux


def test_quotes_and_interpolation_in_a_device_id_stay_inside_the_flux_string(
    fake: FakeInfluxV2, store: InfluxV2Store
) -> None:
    fake.reply(200, "\r\n", "text/csv; charset=utf-8")
    assert store.query('x" or true or "${y}', "m", T0, T0 + 1) == []
    flux = json.loads(fake.requests[0].body)["query"]
    assert 'r.device_id == "x\\" or true or \\"\\${y}"' in flux


def test_latest_keeps_the_newest_value_of_each_field_across_series_and_types(
    fake: FakeInfluxV2, store: InfluxV2Store
) -> None:
    fake.reply(200, _HEAD.format(t="double")
               + _row(0, "2027-01-15T08:01:50Z", "21.5", "supply_air_temp_c")
               + _row(1, "2027-01-15T07:00:00Z", "19", "supply_air_temp_c", zone="old")
               + "\r\n" + _HEAD.format(t="boolean")
               + _row(2, "2027-01-15T08:01:40Z", "false", "fan_running") + "\r\n",
               "text/csv; charset=utf-8")
    assert store.latest("ahu-1") == {
        "supply_air_temp_c": Sample(T0 + 110, 21.5),
        "fan_running": Sample(T0 + 100, False),
    }
    flux = json.loads(fake.requests[0].body)["query"]
    assert 'r.device_id == "ahu-1"' in flux and "last()" in flux


def test_a_failing_query_is_retry_later(fake: FakeInfluxV2, store: InfluxV2Store) -> None:
    fake.reply(503, json.dumps({"code": "unavailable", "message": "shutting down"}))
    with pytest.raises(StoreUnavailable, match="shutting down"):
        store.query("ahu-1", "supply_air_temp_c", T0, T0 + 120)

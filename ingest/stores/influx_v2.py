"""The InfluxDB 2.x / 3.x / Cloud store through influxdb-client: line protocol in, Flux out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.flux_csv_parser import FluxQueryException
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from devices.reading import MetricValue, Reading
from ingest.stores.base import (
    EVENTS_PAGE_MAX,
    BadData,
    Sample,
    StoredEvent,
    StoreUnavailable,
    every_us,
)
from ingest.stores.lineprotocol import DEVICE_STATUS, EVENTS, TELEMETRY, to_lines, ts_us
from ingest.stores.replay import (
    event_data,
    event_reading,
    merged,
    status_reading,
    telemetry_reading,
)

# Columns of a pivoted row that are not metrics.
_NOT_METRICS = frozenset({"result", "table", "_start", "_stop", "_time", "_measurement",
                          "device_id", "site", "zone", "kind"})
_PIVOT = '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def flux_string(text: str) -> str:
    """A Flux string literal; escapes quotes, backslashes and `${` interpolation."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def flux_time(ts: float) -> str:
    """A Flux RFC 3339 time literal with microseconds, UTC."""
    return (_EPOCH + timedelta(microseconds=ts_us(ts))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _value(v: Any) -> MetricValue:
    return v if isinstance(v, bool | str) else float(v)


class InfluxV2Store:
    """Telemetry in an InfluxDB 2.x bucket (the README's schema, microsecond timestamps)."""

    def __init__(self, url: str, token: str, org: str, bucket: str, timeout_s: float = 10) -> None:
        self._url, self._org, self._bucket = url, org, bucket
        # retries=False: the caller's durable buffer retries, never a hidden loop in here.
        self._client = InfluxDBClient(
            url=url, token=token, org=org, timeout=int(timeout_s * 1000), retries=False
        )
        # SYNCHRONOUS: the batching WriteApi buffers in memory and loses points on crash/close.
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._query_api = self._client.query_api()

    def write(self, batch: Sequence[Reading]) -> None:
        """Write the batch; raises StoreUnavailable (retry) or BadData (a point was refused)."""
        lines = to_lines(batch)
        if not lines:
            return
        with self._translated("write"):
            self._write_api.write(
                bucket=self._bucket,
                org=self._org,
                record=lines,
                write_precision=WritePrecision.US,  # type: ignore[arg-type]  # a str constant
            )

    def query(
        self,
        device_id: str,
        metric: str,
        start: float,
        end: float,
        every_s: float | None = None,
        limit: int = 10_000,
    ) -> list[Sample]:
        """A metric's samples in [start, end), oldest first; averaged per `every_s` if given."""
        flux = self._from(start, end) + (
            f"  |> filter(fn: (r) => r._measurement == {flux_string(TELEMETRY)}"
            f" and r.device_id == {flux_string(device_id)} and r._field == {flux_string(metric)})\n"
            # One table: a device whose zone/kind tags changed has several series.
            "  |> group()\n"
            '  |> sort(columns: ["_time"])\n'
        )
        if every_s is not None:
            every = every_us(every_s)
            # timeSrc _start: a window is named by its start, as InfluxQL's GROUP BY time.
            flux += (
                f"  |> aggregateWindow(every: {every}us, fn: mean,"
                ' timeSrc: "_start", createEmpty: false)\n'
            )
        flux += f"  |> limit(n: {int(limit)})\n"
        return [
            Sample(rec.get_time().timestamp(), _value(rec.get_value()))
            for table in self._run(flux)
            for rec in table.records
            if rec.get_value() is not None
        ]

    def latest(self, device_id: str) -> dict[str, Sample]:
        """The most recent value of each of the device's metrics."""
        flux = self._from(0, None) + (
            f"  |> filter(fn: (r) => r._measurement == {flux_string(TELEMETRY)}"
            f" and r.device_id == {flux_string(device_id)})\n"
            "  |> last()\n"
        )
        out: dict[str, Sample] = {}
        for table in self._run(flux):
            for rec in table.records:  # last() per series: keep the newest series per field
                s = Sample(rec.get_time().timestamp(), _value(rec.get_value()))
                if rec.get_field() not in out or out[rec.get_field()].ts < s.ts:
                    out[rec.get_field()] = s
        return out

    def events(
        self,
        device_id: str,
        start: float,
        end: float,
        event: str | None = None,
        limit: int = EVENTS_PAGE_MAX,
        offset: int = 0,
    ) -> list[StoredEvent]:
        """The device's events in [start, end), oldest first (ties by name), one page."""
        cond = f"r.device_id == {flux_string(device_id)}"
        if event is not None:
            cond += f" and r.event == {flux_string(event)}"
        flux = self._from(start, end) + (
            f"  |> filter(fn: (r) => r._measurement == {flux_string(EVENTS)} and {cond})\n"
            + _PIVOT + "  |> group()\n"
            '  |> sort(columns: ["_time", "event"])\n'
            f"  |> limit(n: {int(limit)}, offset: {int(offset)})\n"
        )
        out: list[StoredEvent] = []
        for table in self._run(flux):
            for rec in table.records:
                seq = rec.values.get("seq")
                out.append(StoredEvent(rec.get_time().timestamp(), str(rec.values.get("event")),
                                       event_data(rec.values.get("data")),
                                       int(seq) if seq is not None else None))
        return out

    def readings(self, start: float, end: float, site: str | None = None) -> Iterator[Reading]:
        """Every reading in [start, end) (of one site if given), in time order, streamed."""
        yield from merged(self._stream(TELEMETRY, start, end, site),
                          self._stream(EVENTS, start, end, site),
                          self._stream(DEVICE_STATUS, start, end, site))

    def _stream(self, measurement: str, start: float, end: float,
                site: str | None) -> Iterator[Reading]:
        cond = f"r._measurement == {flux_string(measurement)}"
        if site is not None:
            cond += f" and r.site == {flux_string(site)}"
        flux = (self._from(start, end) + f"  |> filter(fn: (r) => {cond})\n" + _PIVOT
                + '  |> group()\n  |> sort(columns: ["_time"])\n')
        with self._translated("query"):
            records = self._query_api.query_stream(flux, org=self._org)
            for rec in records:
                v = rec.values
                ts = rec.get_time().timestamp()
                where = (v["site"], v["device_id"], ts, v.get("zone"), v.get("kind"))
                if measurement == TELEMETRY:
                    metrics = {k: _value(x) for k, x in v.items()
                               if k not in _NOT_METRICS and x is not None}
                    yield telemetry_reading(*where, metrics)
                elif measurement == EVENTS:
                    yield event_reading(*where, v["event"], v.get("data"), v.get("seq"))
                else:
                    yield status_reading(*where, v["state"])

    def ping(self) -> bool:
        """True if InfluxDB answers /ping now."""
        try:
            return bool(self._client.ping())
        except Exception:  # ping must answer, never raise: any failure means "not now"
            return False

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()

    def _from(self, start: float, end: float | None) -> str:
        stop = f", stop: {flux_time(end)}" if end is not None else ""
        return (
            f"from(bucket: {flux_string(self._bucket)})\n"
            f"  |> range(start: {flux_time(start)}{stop})\n"
        )

    def _run(self, flux: str) -> Any:
        with self._translated("query"):
            return self._query_api.query(flux, org=self._org)

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        """Turn influxdb-client and urllib3 errors into StoreUnavailable or BadData."""
        try:
            yield
        except ApiException as e:
            status, msg = e.status or 0, getattr(e, "message", None) or e.reason
            if status in (401, 403):
                raise StoreUnavailable(
                    f"InfluxDB {what} refused ({status}): check the v2 token, org and its"
                    f" permissions on bucket {self._bucket!r} ({msg})"
                ) from e
            if status in (400, 413, 422):
                raise BadData(f"InfluxDB {what} refused ({status}): {msg}") from e
            raise StoreUnavailable(f"InfluxDB {what} failed ({status}): {msg}") from e
        except FluxQueryException as e:
            raise BadData(f"InfluxDB refused the query: {e.message}") from e
        except (InfluxDBError, urllib3.exceptions.HTTPError, OSError) as e:
            raise StoreUnavailable(f"InfluxDB at {self._url} unreachable: {e!r}") from e

"""The InfluxDB 1.x store: line protocol to /write, InfluxQL to /query, over plain HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import orjson

from devices.reading import MetricValue, Reading
from ingest.stores.base import (
    EVENTS_PAGE_MAX,
    BadData,
    Sample,
    StoredEvent,
    StoreUnavailable,
    every_us,
)
from ingest.stores.influx_v1_columns import TAGS, Chunk, InfluxV1Columns
from ingest.stores.influxql import quote_ident, quote_string, select_all
from ingest.stores.lineprotocol import DEVICE_STATUS, EVENTS, TELEMETRY, to_lines, ts_us
from ingest.stores.replay import (
    ROWS_PER_FETCH,
    event_data,
    event_reading,
    merged,
    merged_few,
    status_reading,
    telemetry_reading,
)

_TAGS = TAGS  # columns that are not metrics


def _value(v: Any) -> MetricValue:
    # InfluxDB's JSON writes the float 22.0 as 22; every stored number is a float field.
    if isinstance(v, bool | str):
        return v
    return float(v)


class InfluxV1Store(InfluxV1Columns):
    """Telemetry in an InfluxDB 1.x database (the README's schema, microsecond timestamps)."""

    def __init__(
        self,
        url: str,
        database: str,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10,
        create_database: bool = True,
        retention_s: float | None = None,  # duration of a database this store creates; None: ∞
    ) -> None:
        self._db = database
        self._retention_s = retention_s
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._http = httpx.Client(base_url=url.rstrip("/"), auth=auth, timeout=timeout_s)
        # Created lazily on first use, so the service starts while InfluxDB is still down.
        self._db_ready = not create_database
        self._lock = threading.Lock()

    def write(self, batch: Sequence[Reading]) -> None:
        """Write the batch; raises StoreUnavailable (retry) or BadData (a point was refused)."""
        lines = to_lines(batch)
        if not lines:
            return
        self._ensure_database()
        body = ("\n".join(lines) + "\n").encode("utf-8")
        params = {"db": self._db, "precision": "u"}
        resp = self._request("POST", "/write", params=params, content=body)
        if resp.status_code == 404 and "database not found" in resp.text:
            self._db_ready = False  # someone dropped it: create again and retry once
            self._ensure_database()
            resp = self._request("POST", "/write", params=params, content=body)
        self._check(resp, "write")

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
        where = (
            f"{quote_ident('device_id')} = {quote_string(device_id)}"
            f" AND time >= {ts_us(start)}u AND time < {ts_us(end)}u"
        )
        field, measurement = quote_ident(metric), quote_ident(TELEMETRY)
        if every_s is None:
            q = f"SELECT {field} FROM {measurement} WHERE {where} ORDER BY time ASC"
        else:
            window_us = every_us(every_s)
            q = (
                f"SELECT mean({field}) FROM {measurement} WHERE {where}"
                f" GROUP BY time({window_us}u) fill(none) ORDER BY time ASC"
            )
        q += f" LIMIT {int(limit)}"
        (result,) = self._select(q)
        return [
            Sample(row[0] / 1_000_000, _value(row[1]))
            for series in result.get("series", [])
            for row in series["values"]
            if row[1] is not None
        ]

    def latest(self, device_id: str) -> dict[str, Sample]:
        """The most recent value of each of the device's metrics."""
        (keys,) = self._select(f"SHOW FIELD KEYS FROM {quote_ident(TELEMETRY)}")
        fields = sorted({row[0] for s in keys.get("series", []) for row in s["values"]})
        if not fields:
            return {}
        # One LAST() per field: a multi-field LAST(*) reports time 0 instead of each field's time.
        cond = f"{quote_ident('device_id')} = {quote_string(device_id)}"
        q = ";".join(
            f"SELECT last({quote_ident(f)}) FROM {quote_ident(TELEMETRY)} WHERE {cond}"
            for f in fields
        )
        out: dict[str, Sample] = {}
        for name, result in zip(fields, self._select(q), strict=True):
            for series in result.get("series", []):
                for row in series["values"]:
                    if row[1] is not None:
                        out[name] = Sample(row[0] / 1_000_000, _value(row[1]))
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
        """The device's events in [start, end), oldest first, one page."""
        where = (f"{quote_ident('device_id')} = {quote_string(device_id)}"
                 f" AND time >= {ts_us(start)}u AND time < {ts_us(end)}u")
        if event is not None:
            where += f" AND {quote_ident('event')} = {quote_string(event)}"
        q = (f"SELECT {quote_ident('data')}, {quote_ident('seq')}, {quote_ident('event')}"
             f" FROM {quote_ident(EVENTS)} WHERE {where} ORDER BY time ASC"
             f" LIMIT {int(limit)} OFFSET {int(offset)}")
        (result,) = self._select(q)
        return [
            StoredEvent(row[0] / 1_000_000, row[3], event_data(row[1]),
                        int(row[2]) if row[2] is not None else None)
            for series in result.get("series", [])
            for row in series["values"]
        ]

    def readings(self, start: float, end: float, site: str | None = None) -> Iterator[Reading]:
        """Every reading in [start, end) (of one site if given), in time order, streamed with
        InfluxDB's chunked responses."""
        yield from merged(self._stream(TELEMETRY, start, end, site),
                          self._stream(EVENTS, start, end, site),
                          self._stream(DEVICE_STATUS, start, end, site))

    def reading_devices(self, start: float, end: float, site: str | None = None) -> list[str]:
        """Every device id the measurements hold (some may have nothing in the period)."""
        q = (f"SHOW TAG VALUES FROM {quote_ident(TELEMETRY)}, {quote_ident(EVENTS)},"
             f" {quote_ident(DEVICE_STATUS)} WITH KEY = {quote_ident('device_id')}")
        if site is not None:
            q += f" WHERE {quote_ident('site')} = {quote_string(site)}"
        (result,) = self._select(q)
        return sorted({row[1] for series in result.get("series", []) for row in series["values"]})

    def device_readings(self, device_id: str, start: float, end: float,
                        site: str | None = None) -> Iterator[Reading]:
        """One device's readings in [start, end) (of one site if given), in time order as
        readings() gives them; its telemetry streamed, its events and status read first."""
        few = self._others(device_id, start, end, site)
        yield from merged_few(self._stream(TELEMETRY, start, end, site, device_id), few)

    def _stream(self, measurement: str, start: float, end: float,
                site: str | None, device_id: str | None = None) -> Iterator[Reading]:
        q = select_all(measurement, start, end, site, device_id)
        for columns, rows in self._chunks(q):
            col = {c: i for i, c in enumerate(columns)}
            t, dev, st = col["time"], col["device_id"], col["site"]
            zone, kind = col.get("zone"), col.get("kind")
            if measurement == TELEMETRY:
                fields = [(c, i) for c, i in col.items() if c not in _TAGS]
                for row in rows:
                    # _value() inline (one per field of every row): JSON writes 22.0 as 22.
                    metrics = {c: float(v) if type(v) is int else v
                               for c, i in fields if (v := row[i]) is not None}
                    yield telemetry_reading(row[st], row[dev], row[t] / 1e6,
                                            _at(row, zone), _at(row, kind), metrics)
            elif measurement == EVENTS:
                seq = col.get("seq")
                for row in rows:
                    yield event_reading(row[st], row[dev], row[t] / 1e6, _at(row, zone),
                                        _at(row, kind), row[col["event"]], row[col["data"]],
                                        _at(row, seq))
            else:
                for row in rows:
                    yield status_reading(row[st], row[dev], row[t] / 1e6, _at(row, zone),
                                         _at(row, kind), row[col["state"]])

    def _chunks(self, q: str) -> Iterator[Chunk]:
        """(columns, rows) per chunk of a chunked query, as InfluxDB streams them."""
        self._ensure_database()
        params = {"db": self._db, "q": q, "epoch": "u", "chunked": "true",
                  "chunk_size": str(ROWS_PER_FETCH)}
        try:
            with self._http.stream("GET", "/query", params=params, timeout=None) as resp:
                if resp.status_code >= 300:
                    resp.read()
                    self._check(resp, "query")
                for line in resp.iter_lines():
                    if not line.strip():
                        continue
                    for result in orjson.loads(line).get("results", []):
                        if "error" in result:
                            raise BadData(f"InfluxDB refused the query: {result['error']}")
                        for series in result.get("series", []):
                            yield series["columns"], series["values"]
        except httpx.HTTPError as e:
            raise StoreUnavailable(f"InfluxDB at {self._http.base_url} failed: {e!r}") from e

    def ping(self) -> bool:
        """True if InfluxDB answers /ping now."""
        try:
            return self._http.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        """Release the HTTP connections."""
        self._http.close()

    def _ensure_database(self) -> None:
        with self._lock:
            if self._db_ready:
                return
            q = f"CREATE DATABASE {quote_ident(self._db)}"  # idempotent in InfluxDB 1.x
            if self._retention_s:
                # Only for a database that does not exist yet: on an existing one a different
                # duration is an error ("retention policy conflicts"), and its policy is the
                # operator's to keep.
                shown = self._request("GET", "/query", params={"q": "SHOW DATABASES"})
                self._check(shown, "show databases")
                series = (shown.json().get("results") or [{}])[0].get("series") or [{}]
                names = {v[0] for v in series[0].get("values") or []}
                if self._db not in names:
                    hours = max(1, round(self._retention_s / 3600))  # InfluxDB's minimum: 1 h
                    q += f" WITH DURATION {hours}h"
            self._check(self._request("POST", "/query", params={"q": q}), "create database")
            self._db_ready = True

    def _select(self, q: str) -> list[dict[str, Any]]:
        """Run read statements; one result per statement, statement errors raise BadData."""
        self._ensure_database()
        params = {"db": self._db, "q": q, "epoch": "u"}
        resp = self._request("GET", "/query", params=params)
        self._check(resp, "query")
        results: list[dict[str, Any]] = resp.json().get("results", [])
        for r in results:
            if "error" in r:
                raise BadData(f"InfluxDB refused the query: {r['error']}")
        return results

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kw)
        except httpx.HTTPError as e:  # connect refused, timeout, reset
            raise StoreUnavailable(f"InfluxDB at {self._http.base_url} unreachable: {e!r}") from e

    def _check(self, resp: httpx.Response, what: str) -> None:
        code = resp.status_code
        if code < 300:
            return
        msg = _error_text(resp)
        if code in (401, 403):
            raise StoreUnavailable(
                f"InfluxDB {what} refused ({code}): check the v1 username and password ({msg})"
            )
        if code in (400, 413, 422):
            raise BadData(f"InfluxDB {what} refused ({code}): {msg}")
        raise StoreUnavailable(f"InfluxDB {what} failed ({code}): {msg}")


def _at(row: list[Any], index: int | None) -> Any:
    return row[index] if index is not None else None


def _error_text(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error", resp.text))[:500]
    except ValueError:
        return resp.text[:500]

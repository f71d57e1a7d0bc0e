"""The InfluxDB 3 store (Core, Enterprise): line protocol to /api/v3/write_lp, SQL to
/api/v3/query_sql, over plain HTTP with a bearer token. No Flux anywhere.

Tested against a local server that checks the requests InfluxDB 3's documentation gives and
answers in its JSON format (no InfluxDB 3 server runs on the development machines).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

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
    ROWS_PER_FETCH,
    event_data,
    event_reading,
    merged,
    status_reading,
    telemetry_reading,
)

TAGS = frozenset({"time", "site", "zone", "device_id", "kind", "event"})
COLUMNS_TTL_S = 30.0  # how long the telemetry table's column list is trusted
LATEST_LOOKBACK_S = 30 * 86_400  # latest() looks this far back (bounded scans)


def sql_ident(name: str) -> str:
    """A SQL identifier in double quotes, so no name can end the quoting."""
    return '"' + name.replace('"', '""') + '"'


def parse_time(value: str) -> float:
    """InfluxDB 3's JSON time ('2027-01-15T08:00:10.25', UTC without a zone) -> Unix seconds."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _value(v: Any) -> MetricValue:
    return v if isinstance(v, bool | str) else float(v)


class InfluxV3Store:
    """Telemetry in an InfluxDB 3 database (the README's schema, microsecond timestamps)."""

    def __init__(
        self, url: str, database: str, token: str | None = None, timeout_s: float = 10
    ) -> None:
        self._db = database
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)
        self._columns: tuple[float, frozenset[str]] = (0.0, frozenset())

    def write(self, batch: Sequence[Reading]) -> None:
        """Write the batch; raises StoreUnavailable (retry) or BadData (a point was refused).

        `accept_partial=false`: a refused line refuses the whole batch, so the caller's
        bisection finds it and nothing is half written."""
        lines = to_lines(batch)
        if not lines:
            return
        params = {"db": self._db, "precision": "microsecond", "accept_partial": "false"}
        resp = self._request(
            "POST", "/api/v3/write_lp", params=params,
            content=("\n".join(lines) + "\n").encode("utf-8"),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
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
        if metric not in self._telemetry_columns():
            return []
        col = sql_ident(metric)
        where = (f"device_id = $device_id AND time >= to_timestamp_micros($start)"
                 f" AND time < to_timestamp_micros($end) AND {col} IS NOT NULL")
        if every_s is None:
            q = f"SELECT time, {col} AS value FROM {TELEMETRY} WHERE {where} ORDER BY time"
        else:
            q = (f"SELECT date_bin(INTERVAL '{every_us(every_s)} microseconds', time,"
                 f" to_timestamp_micros(0)) AS time, avg({col}) AS value FROM {TELEMETRY}"
                 f" WHERE {where} GROUP BY 1 ORDER BY 1")
        rows = self._sql(f"{q} LIMIT {int(limit)}", device_id=device_id, start=ts_us(start),
                         end=ts_us(end))
        return [Sample(parse_time(r["time"]), _value(r["value"])) for r in rows
                if r.get("value") is not None]

    def latest(self, device_id: str) -> dict[str, Sample]:
        """The most recent value of each of the device's metrics (within LATEST_LOOKBACK_S)."""
        since = ts_us(time.time() - LATEST_LOOKBACK_S)
        out: dict[str, Sample] = {}
        for name in sorted(self._telemetry_columns(fresh=True)):
            col = sql_ident(name)
            rows = self._sql(
                f"SELECT time, {col} AS value FROM {TELEMETRY} WHERE device_id = $device_id"
                f" AND time >= to_timestamp_micros($since) AND {col} IS NOT NULL"
                " ORDER BY time DESC LIMIT 1", device_id=device_id, since=since)
            if rows:
                out[name] = Sample(parse_time(rows[0]["time"]), _value(rows[0]["value"]))
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
        where = ("device_id = $device_id AND time >= to_timestamp_micros($start)"
                 " AND time < to_timestamp_micros($end)")
        params: dict[str, Any] = {"device_id": device_id, "start": ts_us(start), "end": ts_us(end)}
        if event is not None:
            where += " AND event = $event"
            params["event"] = event
        rows = self._sql(f"SELECT time, event, data, seq FROM {EVENTS} WHERE {where}"
                         f" ORDER BY time, event LIMIT {int(limit)} OFFSET {int(offset)}", **params)
        return [StoredEvent(parse_time(r["time"]), r["event"], event_data(r.get("data")),
                            int(r["seq"]) if r.get("seq") is not None else None) for r in rows]

    def readings(self, start: float, end: float, site: str | None = None) -> Iterator[Reading]:
        """Every reading in [start, end) (of one site if given), in time order, paged."""
        yield from merged(*(self._stream(table, start, end, site)
                            for table in (TELEMETRY, EVENTS, DEVICE_STATUS)))

    def _stream(self, table: str, start: float, end: float, site: str | None) -> Iterator[Reading]:
        where = "time >= to_timestamp_micros($start) AND time < to_timestamp_micros($end)"
        params: dict[str, Any] = {"start": ts_us(start), "end": ts_us(end)}
        if site is not None:
            where += " AND site = $site"
            params["site"] = site
        offset = 0
        while True:
            rows = self._sql(f"SELECT * FROM {table} WHERE {where} ORDER BY time, device_id"
                             f" LIMIT {ROWS_PER_FETCH} OFFSET {offset}", **params)
            for r in rows:
                ts, zone, kind = parse_time(r["time"]), r.get("zone"), r.get("kind")
                if table == TELEMETRY:
                    metrics = {k: _value(v) for k, v in r.items() if k not in TAGS}
                    yield telemetry_reading(r["site"], r["device_id"], ts, zone, kind, metrics)
                elif table == EVENTS:
                    yield event_reading(r["site"], r["device_id"], ts, zone, kind, r["event"],
                                        r.get("data"), r.get("seq"))
                else:
                    yield status_reading(r["site"], r["device_id"], ts, zone, kind, r["state"])
            if len(rows) < ROWS_PER_FETCH:
                return
            offset += ROWS_PER_FETCH

    def ping(self) -> bool:
        """True if InfluxDB answers /health now."""
        try:
            return self._http.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        """Release the HTTP connections."""
        self._http.close()

    def _telemetry_columns(self, fresh: bool = False) -> frozenset[str]:
        at, names = self._columns
        if fresh or time.monotonic() - at > COLUMNS_TTL_S:
            rows = self._sql(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'iox' AND table_name = $table", table=TELEMETRY)
            names = frozenset(r["column_name"] for r in rows) - TAGS
            self._columns = (time.monotonic(), names)
        return names

    def _sql(self, q: str, **params: Any) -> list[dict[str, Any]]:
        body = {"db": self._db, "q": q, "format": "json", "params": params}
        resp = self._request("POST", "/api/v3/query_sql", json=body)
        if resp.status_code == 404 and "not found" in resp.text.lower():
            return []  # no database (or table) yet: nothing written, nothing to answer
        self._check(resp, "query")
        rows = resp.json()
        if not isinstance(rows, list):
            raise BadData(f"InfluxDB answered a query with {type(rows).__name__}, not rows")
        return rows

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kw)
        except httpx.HTTPError as e:  # connect refused, timeout, reset
            raise StoreUnavailable(f"InfluxDB at {self._http.base_url} unreachable: {e!r}") from e

    @staticmethod
    def _check(resp: httpx.Response, what: str) -> None:
        code = resp.status_code
        if code < 300:
            return
        try:
            msg = str(resp.json().get("error", resp.text))[:500]
        except (ValueError, AttributeError):
            msg = resp.text[:500]
        if code in (401, 403):
            raise StoreUnavailable(f"InfluxDB {what} refused ({code}): check the token ({msg})")
        if code in (400, 413, 422):
            raise BadData(f"InfluxDB {what} refused ({code}): {msg}")
        raise StoreUnavailable(f"InfluxDB {what} failed ({code}): {msg}")

"""Helpers the stores share to stream stored points back as Readings in time order."""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from devices.reading import MetricValue, Reading

ROWS_PER_FETCH = 10_000  # rows fetched from a store per round trip while streaming


def merged(*streams: Iterable[Reading]) -> Iterator[Reading]:
    """Time-ordered streams merged into one, by ts (stable: the first stream wins ties)."""
    return heapq.merge(*streams, key=lambda r: r.ts)


def merged_few(main: Iterable[Reading], few: Sequence[Reading]) -> Iterator[Reading]:
    """A long time-ordered stream and a short time-ordered list merged by ts, as merged()
    (the stream first on ties) but without a heap step per reading of the stream."""
    if not few:
        yield from main
        return
    i, n = 0, len(few)
    for r in main:
        while i < n and few[i].ts < r.ts:
            yield few[i]
            i += 1
        yield r
    yield from few[i:]


def event_data(text: str | None) -> dict[str, Any]:
    """Stored event data (a JSON object string) back as a dict; anything else as {}."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def telemetry_reading(site: str, device_id: str, ts: float, zone: str | None,
                      kind: str | None, metrics: dict[str, MetricValue]) -> Reading:
    """A replayed telemetry reading (received at its own ts)."""
    return Reading(site, device_id, "telemetry", ts, ts, None, kind or None, zone or None,
                   metrics)  # by position: a third quicker, and there is one per reading


def event_reading(site: str, device_id: str, ts: float, zone: str | None, kind: str | None,
                  event: str, data: str | None, seq: float | int | None) -> Reading:
    """A replayed event reading."""
    return Reading(site, device_id, "event", ts, ts, seq=int(seq) if seq is not None else None,
                   kind=kind or None, zone=zone or None, event=event, data=event_data(data))


def status_reading(site: str, device_id: str, ts: float, zone: str | None, kind: str | None,
                   state: str) -> Reading:
    """A replayed status reading."""
    return Reading(site, device_id, "status", ts, ts, kind=kind or None, zone=zone or None,
                   status=state)

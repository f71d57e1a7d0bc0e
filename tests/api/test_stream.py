"""The live stream: incident changes as Server-Sent Events, resumable with Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.broadcast import IncidentBroadcaster
from api.runtime import Runtime
from tests.api.conftest import bearer, raise_alert
from tests.servers import free_port


@dataclass
class Event:
    """One parsed SSE event."""

    id: int
    event: str
    data: dict[str, Any]


class SseReader:
    """Reads a text/event-stream response line by line (blocking, with a deadline)."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()
        self.comments: list[str] = []

    def next_event(self, timeout: float = 5.0) -> Event:
        deadline = time.monotonic() + timeout
        fields: dict[str, str] = {}
        for line in self.lines:
            if time.monotonic() > deadline:
                break
            if line.startswith(":"):
                self.comments.append(line)
            elif line == "":
                if "data" in fields:
                    return Event(int(fields["id"]), fields["event"], json.loads(fields["data"]))
                fields = {}
            else:
                key, _, value = line.partition(":")
                fields[key] = value.removeprefix(" ")
        raise AssertionError("no event before the deadline")

    def wait_comment(self, text: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if line.startswith(":") and text in line:
                return
            if time.monotonic() > deadline:
                break
        raise AssertionError(f"no comment {text!r}")


@pytest.fixture
def server(rt: Runtime) -> Iterator[str]:
    """A real uvicorn serving the app on a free port (TestClient would buffer the stream)."""
    port = free_port()
    config = uvicorn.Config(
        create_app(rt, heartbeat_s=0.2), host="127.0.0.1", port=port, log_level="warning",
        timeout_graceful_shutdown=1,
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def open_stream(
    http: httpx.Client, url: str, token: str, last_event_id: int | None = None
) -> Any:
    headers = bearer(token)
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    return http.stream("GET", f"{url}/api/v1/stream", headers=headers)


def attached(reader: SseReader) -> None:
    """Wait for the first heartbeat: the client is attached and any replay is done."""
    reader.wait_comment("keepalive")


def test_a_guard_sees_an_alert_opened_by_the_service_and_a_ticket_opened_over_http(
    rt: Runtime, server: str, tokens: dict[str, str]
) -> None:
    with httpx.Client(timeout=5) as http, open_stream(http, server, tokens["security"]) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(r)
        attached(reader)
        alert = raise_alert(rt)
        e = reader.next_event()
        assert e.event == "opened"
        assert e.id == rt.incidents.timeline(alert)[0].id
        assert e.data["incident"]["id"] == alert
        assert e.data["incident"]["severity"] == "critical"
        assert e.data["entry"]["to_state"] == "active"
        created = http.post(f"{server}/api/v1/tickets", json={"title": "Lift stuck"},
                            headers=bearer(tokens["security"]))
        assert created.status_code == 201
        e = reader.next_event()
        assert (e.event, e.data["incident"]["id"]) == ("opened", created.json()["id"])
        ack = http.post(f"{server}/api/v1/incidents/{alert}/acknowledge",
                        headers=bearer(tokens["security"]))
        assert ack.status_code == 200
        e = reader.next_event()
        assert (e.event, e.data["entry"]["actor"]) == ("acknowledged", "security-user")
        assert e.data["incident"]["state"] == "acknowledged"


def test_reconnecting_with_last_event_id_gets_exactly_the_missed_changes_then_live_ones(
    rt: Runtime, server: str, tokens: dict[str, str]
) -> None:
    token = tokens["viewer"]
    with httpx.Client(timeout=5) as http:
        with open_stream(http, server, token) as r:
            reader = SseReader(r)
            attached(reader)
            first = raise_alert(rt)
            seen = reader.next_event().id
        # Disconnected: these happen while nobody listens.
        second = raise_alert(rt)
        rt.incidents.transition(first, "acknowledge", actor="guard")
        missed = [e.id for e in rt.incidents.changes_since(seen)]
        assert len(missed) == 2
        with open_stream(http, server, token, last_event_id=seen) as r:
            reader = SseReader(r)
            replayed = [reader.next_event(), reader.next_event()]
            assert [e.id for e in replayed] == missed
            assert [e.event for e in replayed] == ["opened", "acknowledged"]
            assert replayed[0].data["incident"]["id"] == second
            attached(reader)
            third = raise_alert(rt)
            live = reader.next_event()
            assert live.data["incident"]["id"] == third
            assert live.id > missed[-1]


def test_the_last_event_id_query_parameter_resumes_too(
    rt: Runtime, server: str, tokens: dict[str, str]
) -> None:
    ids = [raise_alert(rt) for _ in range(3)]
    after = rt.incidents.timeline(ids[0])[0].id
    with httpx.Client(timeout=5) as http, http.stream(
        "GET", f"{server}/api/v1/stream", params={"last_event_id": after},
        headers=bearer(tokens["viewer"]),
    ) as r:
        reader = SseReader(r)
        got = [reader.next_event().data["incident"]["id"] for _ in range(2)]
    assert got == ids[1:]


def test_an_idle_stream_carries_heartbeat_comments_and_a_closed_one_is_forgotten(
    rt: Runtime, server: str, tokens: dict[str, str]
) -> None:
    with httpx.Client(timeout=5) as http:
        with open_stream(http, server, tokens["viewer"]) as r:
            reader = SseReader(r)
            attached(reader)
            reader.wait_comment("keepalive")
            scrape = bearer(tokens["admin"])
            assert "sitewatch_sse_clients 1.0" in http.get(f"{server}/metrics", headers=scrape).text
        deadline = time.monotonic() + 5
        while "sitewatch_sse_clients 0.0" not in http.get(f"{server}/metrics", headers=scrape).text:
            assert time.monotonic() < deadline, "the closed client was never detached"
            time.sleep(0.05)


def test_the_stream_needs_a_token(client: TestClient) -> None:
    r = client.get("/api/v1/stream")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_a_client_too_slow_to_keep_up_is_cut_off_and_counted(rt: Runtime) -> None:
    async def scenario() -> tuple[list[str], int, int]:
        broadcaster = IncidentBroadcaster(rt.incidents, client_queue_max=2)
        await broadcaster.start()
        rt.incidents.subscribe(broadcaster.publish)
        try:
            events = broadcaster.events(None, heartbeat_s=10)
            first = await anext(events)  # attached; then reads nothing while changes pile up
            for _ in range(4):
                await asyncio.to_thread(raise_alert, rt)
            deadline = time.monotonic() + 5
            while broadcaster.slow_disconnects == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            rest = [text async for text in events]  # the stream ends instead of blocking
            return [first, *rest], broadcaster.slow_disconnects, broadcaster.client_count
        finally:
            await broadcaster.stop()

    started = time.monotonic()
    texts, slow, clients = asyncio.run(asyncio.wait_for(scenario(), 30))
    # stop() ends the fan-out at once (it once lost its cancel and polled on until the 30 s
    # timeout's own cancel was swallowed in stop(): the test passed, 30 s late)
    assert time.monotonic() - started < 10
    assert slow == 1 and clients == 0
    assert texts[0].startswith("retry:")
    assert len(texts) == 1  # cut off: it resumes from its Last-Event-ID instead

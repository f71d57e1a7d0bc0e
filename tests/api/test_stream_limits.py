"""Streams per token are capped, and a revoked token's stream ends at the next heartbeat."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from api.app import create_app
from api.runtime import Runtime
from api.settings import Settings
from api.tokens import create_token, revoke_token
from tests.api.test_stream import SseReader, attached, open_stream
from tests.servers import free_port


@contextmanager
def serving(rt: Runtime, **settings: object) -> Iterator[str]:
    """A real uvicorn over `rt` with a 0.2 s heartbeat and these settings."""
    rt.settings = Settings(data_dir=rt.settings.data_dir, **settings)  # type: ignore[arg-type]
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(
        create_app(rt, heartbeat_s=0.2), host="127.0.0.1", port=port, log_level="warning",
        timeout_graceful_shutdown=1,
    ))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


def test_a_revoked_tokens_open_stream_ends_within_a_heartbeat_or_two(rt: Runtime) -> None:
    token = create_token(rt.engine, "guard", "viewer")
    with serving(rt) as url, httpx.Client(timeout=5) as http:
        with open_stream(http, url, token) as r:
            reader = SseReader(r)
            attached(reader)
            revoke_token(rt.engine, "guard")
            started = time.monotonic()
            for _ in reader.lines:  # ends when the server closes the stream
                assert time.monotonic() - started < 5, "the stream outlived its revoked token"
        assert time.monotonic() - started < 5


def test_one_token_cannot_take_more_than_its_stream_slots(rt: Runtime) -> None:
    token = create_token(rt.engine, "greedy", "viewer")
    other = create_token(rt.engine, "other", "viewer")
    with serving(rt, streams_per_token=1) as url, httpx.Client(timeout=5) as http:
        with open_stream(http, url, token) as first:
            reader = SseReader(first)  # kept: dropping it would close the response
            attached(reader)
            with open_stream(http, url, token) as second:
                assert second.status_code == 429 and "Retry-After" in second.headers
            with open_stream(http, url, other) as third:
                assert third.status_code == 200
        deadline = time.monotonic() + 10  # the slot comes back once the first one closed
        while True:
            with open_stream(http, url, token) as again:
                if again.status_code == 200:
                    break
            assert time.monotonic() < deadline, "the closed stream's slot never came back"
            time.sleep(0.1)

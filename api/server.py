"""The HTTP server: uvicorn running the app until SIGINT/SIGTERM, ending event streams first."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from api.heap import freeze_startup_heap
from api.runtime import Runtime


class _StreamEndingServer(uvicorn.Server):
    """uvicorn waits for open requests before the app's shutdown; SSE streams never finish
    by themselves, so they are told to end as soon as the exit signal arrives."""

    def __init__(self, config: uvicorn.Config, end_streams: Callable[[], None],
                 on_exit: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self._end_streams = end_streams
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: Any) -> None:
        """Shut down as uvicorn does, ending the event streams first (and starting `on_exit`
        in a thread of its own, beside the API's shutdown)."""
        self._end_streams()
        if self._on_exit is not None and not self.should_exit:
            threading.Thread(target=self._on_exit, name="on-exit", daemon=True).start()
        super().handle_exit(sig, frame)


def serve_api(
    runtime: Runtime, host: str, port: int, on_ready: Callable[[], None] | None = None,
    on_exit: Callable[[], None] | None = None,  # at the exit signal (sites handed over)
) -> None:
    """Run the HTTP API in this thread until SIGINT/SIGTERM; `on_ready` once it listens."""
    from api.app import create_app

    app = create_app(runtime)
    freeze_startup_heap()  # built for the process's life: out of the collector's full passes
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning",
        timeout_graceful_shutdown=5,  # a stream that still will not end is cut after this
    )
    server = _StreamEndingServer(config, app.state.broadcaster.end_streams, on_exit)
    if runtime.settings.metrics_port is not None:
        from api.metrics_server import start_metrics_server

        start_metrics_server(app.state.metrics, host, runtime.settings.metrics_port)
    if on_ready is not None:
        ready = on_ready

        def _announce() -> None:
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.started:
                ready()

        threading.Thread(target=_announce, name="api-ready", daemon=True).start()
    if threading.current_thread() is threading.main_thread():
        # uvicorn re-raises the signal it handled once it has shut down, with the handler it
        # found: SIGTERM's default would end the process before the caller's stop (sessions
        # handed over, rate windows and device states saved). As SIGINT, it returns here.
        signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it handled
        server.run()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt

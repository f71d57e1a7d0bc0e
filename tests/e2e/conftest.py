"""Fixtures for end-to-end tests: a started Service on the real broker, a real API server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.app import create_app
from api.service import Service
from api.settings import Settings
from api.tokens import create_token
from devices.registry import Registry
from tests.e2e.helpers import Site
from tests.servers import Server, free_port

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in tests/e2e/ is `slow` (a real broker, a whole Service): the fast loop
    `-m "not slow"` leaves them out."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)


CONNECT_TIMEOUT_S = 15.0  # broker connect and subscribe at start
HEARTBEAT_S = 0.2  # SSE keepalive comments this often, so a test sees it is attached


class Services:
    """Builds, starts and (at teardown) stops in-process Services of one test.

    Every Service of a test shares the broker session id, the topic prefix, the database and
    the data dir, so a second one started after `stop()` is a restart of the first.
    """

    def __init__(self, mosquitto: Server, topic_prefix: str, tmp_path: Path) -> None:
        self._running: list[Service] = []
        self.defaults: dict[str, Any] = dict(
            mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}",
            mqtt_client_id=f"{topic_prefix}-serve",
            mqtt_topic_prefix=topic_prefix,
            influx_url=None,  # the embedded telemetry store
            data_dir=tmp_path / "var",
            database_url=f"sqlite:///{tmp_path / 'sitewatch.db'}",
            devices=None,  # the built-in sample site
            rules=None,  # the built-in rule pack
            schedules=None,  # the built-in preventive-maintenance schedules
            notifications=None,  # no notification routes
            bootstrap_token=None,
            api_port=free_port(),
        )

    def settings(self, **overrides: Any) -> Settings:
        """Settings with explicit values for this test, `overrides` winning."""
        return Settings(**{**self.defaults, **overrides})

    def start(self, registry: Registry | None = None, **overrides: Any) -> Service:
        """A started Service, connected and subscribed to the broker."""
        service = Service(self.settings(**overrides), registry=registry)
        self._running.append(service)
        service.start()
        assert service.ingest.session.wait_connected(CONNECT_TIMEOUT_S), "no broker session"
        return service

    def stop(self, service: Service) -> None:
        """Stop one Service (a clean shutdown, as on SIGTERM)."""
        self._running.remove(service)
        service.stop()

    def close(self) -> None:
        """Stop every Service still running."""
        for service in list(self._running):
            self.stop(service)


class ApiServer:
    """A real uvicorn serving a Service's API in a thread (TestClient would buffer SSE)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            create_app(service.runtime, heartbeat_s=HEARTBEAT_S), host="127.0.0.1", port=port,
            log_level="warning", timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="uvicorn", daemon=True)

    def start(self) -> None:
        """Serve, and wait until it listens."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert self._thread.is_alive(), "uvicorn stopped at start"
            time.sleep(0.02)

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(10)

    def token(self, name: str, role: str) -> str:
        """A new API token of `role`, named `name` (the actor in timelines)."""
        return create_token(self.service.engine, name, role)


@pytest.fixture
def services(mosquitto: Server, topic_prefix: str, tmp_path: Path) -> Iterator[Services]:
    """The Service factory of this test; everything it started is stopped at teardown."""
    factory = Services(mosquitto, topic_prefix, tmp_path)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def service(services: Services) -> Service:
    """A started Service: built-in sample site and rule pack, embedded stores in tmp_path."""
    return services.start()


@pytest.fixture
def site(mosquitto: Server, topic_prefix: str) -> Iterator[Site]:
    """Devices of site `hq` publishing over the real broker under this test's prefix."""
    publisher = Site(mosquitto.port, topic_prefix, "hq")
    try:
        yield publisher
    finally:
        publisher.close()


@pytest.fixture
def api(service: Service) -> Iterator[ApiServer]:
    """A real API server over this test's `service`."""
    server = ApiServer(service)
    server.start()
    try:
        yield server
    finally:
        server.stop()

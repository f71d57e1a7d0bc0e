"""Session fixtures: real Mosquitto, InfluxDB 1.x and PostgreSQL, started once per test run."""

from __future__ import annotations

import itertools
import os
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers

_counter = itertools.count()


def _serve(make: object, name: str) -> Iterator[servers.Server]:
    workdir = Path(tempfile.mkdtemp(prefix=f"sitewatch-{name}-"))
    os.chmod(workdir, 0o755)
    server = make(workdir)  # type: ignore[operator]
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[servers.Server]:
    """A real Mosquitto broker for the whole run; `.port` to connect."""
    yield from _serve(servers.mosquitto, "mosquitto")


@pytest.fixture(scope="session")
def influxdb() -> Iterator[servers.Server]:
    """A real InfluxDB 1.6.7 for the whole run; `.port` to connect."""
    yield from _serve(servers.influxdb, "influxdb")


@pytest.fixture(scope="session")
def postgres() -> Iterator[servers.Server]:
    """A real PostgreSQL cluster for the whole run; `.port` to connect as user postgres."""
    yield from _serve(servers.postgres, "postgres")


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix of this test's own, so tests sharing the broker never see each other."""
    return f"t{os.getpid()}x{next(_counter)}"


@pytest.fixture
def influx_db(influxdb: servers.Server) -> str:
    """A fresh InfluxDB database name for this test (created)."""
    name = f"t{os.getpid()}_{next(_counter)}"
    q = urllib.parse.urlencode({"q": f'CREATE DATABASE "{name}"'})
    urllib.request.urlopen(
        urllib.request.Request(f"http://127.0.0.1:{influxdb.port}/query?{q}", method="POST")
    ).close()
    return name


@pytest.fixture
def pg_url(postgres: servers.Server) -> str:
    """A SQLAlchemy URL of a fresh PostgreSQL database for this test."""
    import psycopg

    name = f"t{os.getpid()}_{next(_counter)}"
    with psycopg.connect(
        f"host=127.0.0.1 port={postgres.port} user=postgres dbname=postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/{name}"

"""Session fixtures: real Mosquitto, InfluxDB 1.x and PostgreSQL, started once per test run.

Under pytest-xdist (`./run.sh test` runs `-n 4`) every worker is a session of its own: it starts
its own servers, on free ports, with their files in a temporary folder of its own.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from rules.db.database import open_database
from tests import servers
from tests.databases import MigratedDatabases, empty_database

_counter = itertools.count()


WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")  # gw0, gw1, ... under xdist


# The longest tests (the demo's two-minute scenario, the browser module) are handed out first,
# so none of them starts last and runs alone at the end of a parallel run.
LONGEST_FIRST = ("tests/test_demo.py::", "tests/browser/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(LONGEST_FIRST))  # a stable sort


WHOLLY_SLOW = re.compile(r"^pytestmark = pytest\.mark\.slow\b", re.MULTILINE)


def _deselects_slow(markexpr: str) -> bool:
    """Whether `-m markexpr` deselects a test whose only marker is `slow`."""
    if not markexpr:
        return False
    from _pytest.mark.expression import Expression  # what `-m` itself evaluates with

    return not Expression.compile(markexpr).evaluate(lambda name, **_: name == "slow")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A module marked `slow` as a whole is not even imported by a run that deselects `slow`
    (the fast loop): some build their parameters at import (the OpenAPI fuzz's schema, the
    authorization matrix's operations), which every xdist worker paid before deselecting."""
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    if not _deselects_slow(config.getoption("markexpr", "")):
        return None
    return True if WHOLLY_SLOW.search(collection_path.read_text()) else None


def _serve(make: object, name: str) -> Iterator[servers.Server]:
    # Not under tmp_path_factory: its folders are private to us, and Mosquitto and PostgreSQL
    # run as their own users.
    workdir = Path(tempfile.mkdtemp(prefix=f"sitewatch-{name}-{WORKER}-"))
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


@pytest.fixture(scope="session")
def pg_databases(postgres: servers.Server) -> MigratedDatabases:
    """Fresh PostgreSQL databases already at the newest schema revision, for the whole run."""
    return MigratedDatabases(postgres.port)


@pytest.fixture
def pg_migrated_url(pg_databases: MigratedDatabases) -> str:
    """A SQLAlchemy URL of a fresh PostgreSQL database for this test, already at the newest
    schema revision: a clone of the migrated template (~25 ms, where migrating costs ~1 s)."""
    return pg_databases.new_url()


@pytest.fixture(scope="module")
def _pg_module_engine(pg_databases: MigratedDatabases) -> Iterator[sa.Engine]:
    engine = open_database(pg_databases.new_url())
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(_pg_module_engine: sa.Engine) -> Iterator[sa.Engine]:
    """A migrated PostgreSQL database, empty at the start of this test (shared by the module's
    tests, emptied after each)."""
    yield _pg_module_engine
    empty_database(_pg_module_engine)


@pytest.fixture(scope="session")
def influxdb_with_auth() -> Iterator[servers.Server]:
    """A second real InfluxDB 1.6.7 with HTTP authentication on and one admin user
    (`servers.INFLUX_ADMIN`), for the whole run."""
    for server in _serve(lambda workdir: servers.influxdb(workdir, auth=True), "influxdb-auth"):
        servers.create_influx_admin(server)
        yield server

"""Fixtures shared by the rules tests: a migrated incident database, the stores a backtest
replays one device at a time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ingest.stores.embedded import EmbeddedStore
from ingest.stores.influx_v1 import InfluxV1Store
from tests.databases import migrated_sqlite
from tests.stores import embedded_or_influx_v1


@pytest.fixture(params=["sqlite"])
def engine(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """A migrated, empty database (SQLite file); a test that must also hold on PostgreSQL says
    `@pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=True)`, a module
    `pytestmark = pytest.mark.parametrize("engine", DATABASES, indirect=True)`."""
    if request.param == "postgresql":
        yield request.getfixturevalue("pg_engine")  # shared by the module, emptied after
        return
    eng = migrated_sqlite(tmp_path / 'sw.db')
    yield eng
    eng.dispose()


@pytest.fixture(params=["embedded", pytest.param("influx_v1", marks=pytest.mark.slow)])
def replay_store(request: pytest.FixtureRequest, tmp_path: Path
                 ) -> Iterator[EmbeddedStore | InfluxV1Store]:
    """The stores that replay one device at a time and give its period as columns: embedded
    and a real InfluxDB 1.6.7."""
    s = embedded_or_influx_v1(request, tmp_path)
    yield s
    s.close()

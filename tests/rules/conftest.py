"""Fixtures shared by the rules tests: a migrated incident database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.databases import migrated_sqlite


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

"""Fixtures shared by the rules tests: a migrated incident database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from rules.db.database import open_database


@pytest.fixture(params=["sqlite"])
def engine(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """A migrated database (SQLite file); a test that must also hold on PostgreSQL says
    `@pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=True)`."""
    url = (f"sqlite:///{tmp_path / 'sw.db'}" if request.param == "sqlite"
           else str(request.getfixturevalue("pg_url")))
    eng = open_database(url)
    yield eng
    eng.dispose()

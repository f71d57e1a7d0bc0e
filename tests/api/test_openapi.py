"""The OpenAPI document describes exactly what the server does (Schemathesis fuzzes it, on
SQLite and on PostgreSQL)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from api.app import create_app
from api.auth import TokenAuth
from api.runtime import Runtime
from api.settings import Settings
from api.tokens import create_token
from rules.db.database import open_database
from rules.incidents.service import IncidentService
from tests.api.conftest import bearer, build_runtime, open_ticket, raise_alert
from tests.databases import DATABASES


def _seed(rt: Runtime) -> dict[str, str]:
    """A few alerts and tickets, and an admin token's header."""
    admin = bearer(create_token(rt.engine, "fuzzer", "admin"))
    for _ in range(3):
        raise_alert(rt)
        open_ticket(rt)
    return admin


def _fuzz_target() -> tuple[Runtime, FastAPI, schemathesis.BaseSchema, dict[str, str]]:
    """The app's own /openapi.json over a runtime holding a few alerts and tickets.

    Built at collection time because Schemathesis reads the schema then (its fixture loader
    does not work with this pytest); the folder is removed at exit.
    """
    folder = Path(tempfile.mkdtemp(prefix="sitewatch-openapi-"))
    atexit.register(shutil.rmtree, folder, True)
    rt = build_runtime(folder)
    # The fuzzer sends thousands of requests, many with bad tokens on purpose: rate limits
    # are tested in test_limits.py, not here.
    rt.settings = Settings(data_dir=folder, rate_limit="1000000/minute",
                           auth_fail_limit="1000000/minute")
    admin = _seed(rt)
    app = create_app(rt)
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    # The stream never ends, so a generated case could not finish; test_stream.py covers it.
    return rt, app, loaded.exclude(path="/api/v1/stream"), admin


RT, APP, schema, ADMIN = _fuzz_target()
# About 2 s per operation (25 generated requests each). The fast loop's check of the document
# is test_openapi_document.py; this module is not even imported there (tests/conftest.py).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=DATABASES)
def admin(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The fuzzed app on each database in turn (PostgreSQL swapped in under the app built at
    collection); the admin's header."""
    if request.param == "sqlite":
        yield ADMIN
        return
    saved = RT.engine, RT.incidents, APP.state.auth
    engine = open_database(request.getfixturevalue("pg_databases").new_url())
    RT.engine, RT.incidents = engine, IncidentService(engine, RT.pack)
    APP.state.auth = TokenAuth(engine)  # the app looks tokens up where it was built to
    try:
        admin = _seed(RT)
        assert APP.state.auth.principal(admin["Authorization"].split()[1]) is not None
        yield admin
    finally:
        RT.engine, RT.incidents, APP.state.auth = saved
        engine.dispose()


@schema.parametrize()
@settings(
    max_examples=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_as_its_schema_says_and_never_500(case, admin) -> None:  # type: ignore[no-untyped-def]
    # Left out: negative_data_rejection (unknown query parameters are ignored, as HTTP APIs
    # usually do) and positive_data_acceptance (rules JSON Schema cannot state, such as a raw
    # range too long for `every`, answer 400/422 by design). Every answer must still be
    # documented, match its schema and never be a 5xx.
    case.call_and_validate(
        headers=admin,
        excluded_checks=[
            schemathesis.checks.negative_data_rejection,
            schemathesis.checks.positive_data_acceptance,
        ],
    )

"""The authorization matrix: every route of /openapi.json x every kind of caller.

Callers: no token, a malformed header, an unknown token, a revoked one, an expired one, and
one live token per role. Routes come from the app's own OpenAPI document, so a route added
without an entry in EXPECTED below fails `test_...[METHOD /path-no-entry]` at once.

HOW TO ADD A ROUTE (for whoever adds one): one line in EXPECTED,
    "METHOD /path/{param}": Access(ROLES_ALLOWED, target=..., body=..., query=...),
where ROLES_ALLOWED is the set of roles that get 2xx (every other role gets 403) or PUBLIC
(no token needed), `target` says what `{incident_id}` (or another id) must be for a call to
succeed, and `body`/`query` are the smallest valid request. One more caller, an admin token
limited to another site (`--sites elsewhere`), gets 404 from a route with an id in its path
and 2xx from the others, unless `other_site=` says which status it gets instead.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.runtime import Runtime
from api.settings import Settings
from api.tokens import ROLES, create_token, new_token_secret, revoke_token
from tests.api.conftest import bearer, build_runtime, open_ticket, raise_alert
from tests.servers import free_port

PUBLIC = None  # no token needed: every caller gets 2xx
READERS = frozenset(ROLES)
ON_ALERTS = frozenset({"security", "admin"})
ON_TICKETS = frozenset({"maintenance", "admin"})


@dataclass(frozen=True)
class Access:
    """Who may call a route (2xx) and the smallest request that succeeds for them."""

    roles: frozenset[str] | None  # roles that get 2xx; others 403. PUBLIC: no token needed
    target: str | None = None  # what {incident_id} is: "alert", "ticket", "assigned_ticket"
    body: dict[str, Any] | None = None
    query: dict[str, Any] = field(default_factory=dict)
    other_site: int | None = None  # status for a token of another site; None: 404 / 2xx


EXPECTED: dict[str, Access] = {
    "GET /api/v1/health": Access(PUBLIC),
    "GET /api/v1/status": Access(READERS),
    "GET /api/v1/whoami": Access(READERS),
    "GET /api/v1/devices": Access(READERS),
    "GET /api/v1/devices/{device_id}": Access(READERS),
    "GET /api/v1/devices/{device_id}/telemetry": Access(
        READERS, query={"metric": "temperature_c"}
    ),
    "GET /api/v1/incidents": Access(READERS),
    "GET /api/v1/incidents/{incident_id}": Access(READERS, target="alert"),
    "POST /api/v1/incidents/{incident_id}/acknowledge": Access(ON_ALERTS, target="alert"),
    "POST /api/v1/incidents/{incident_id}/resolve": Access(ON_ALERTS, target="alert"),
    "POST /api/v1/incidents/{incident_id}/comment": Access(
        ON_ALERTS, target="alert", body={"note": "on my way"}
    ),
    "POST /api/v1/incidents/{incident_id}/assign": Access(
        ON_TICKETS, target="ticket", body={"assignee": "tom"}
    ),
    "POST /api/v1/incidents/{incident_id}/start": Access(ON_TICKETS, target="assigned_ticket"),
    "POST /api/v1/incidents/{incident_id}/cancel": Access(ON_TICKETS, target="ticket"),
    "POST /api/v1/tickets": Access(
        frozenset({"maintenance", "security", "admin"}), body={"title": "Leaking tap"},
        other_site=422,  # it must name one of its sites
    ),
    "GET /api/v1/stream": Access(READERS),
    "GET /api/v1/deadletters": Access(frozenset({"viewer", "admin"})),
    "GET /api/v1/reports": Access(READERS),
    "GET /api/v1/notifications/deliveries": Access(READERS, other_site=403),  # one incident
    "GET /metrics": Access(READERS, other_site=403),  # its figures cover every site
}
BAD_CALLERS = ("no token", "malformed", "unknown", "revoked", "expired")
OTHER_SITE = "admin of another site"
CALLERS = (*BAD_CALLERS, *ROLES, OTHER_SITE)


def _operations() -> list[str]:
    """Every "METHOD /path" of the app's OpenAPI document (read at collection time)."""
    folder = Path(tempfile.mkdtemp(prefix="sitewatch-authz-"))
    try:
        rt = build_runtime(folder)
        doc = create_app(rt).openapi()
        rt.store.close()
        rt.engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return sorted(f"{m.upper()} {p}" for p, ops in doc["paths"].items() for m in ops)


OPERATIONS = _operations()
pytestmark = pytest.mark.slow  # one real server, about 200 requests


@dataclass
class Target:
    """A running server over a runtime, and a header per caller."""

    url: str
    rt: Runtime
    headers: dict[str, dict[str, str]]
    http: httpx.Client


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """One real uvicorn for the whole matrix; limits raised so the matrix is never throttled."""
    rt = build_runtime(tmp_path_factory.mktemp("authz"))
    rt.settings = Settings(data_dir=rt.settings.data_dir, rate_limit="1000000/minute",
                           auth_fail_limit="1000000/minute", streams_per_token=100)
    headers = {role: bearer(create_token(rt.engine, f"{role}-user", role)) for role in ROLES}
    revoked = create_token(rt.engine, "gone", "admin")
    revoke_token(rt.engine, "gone")
    expired = create_token(rt.engine, "old", "admin",
                           expires_at=datetime.now(UTC) - timedelta(seconds=1))
    headers.update({
        OTHER_SITE: bearer(create_token(rt.engine, "elsewhere", "admin", sites=["elsewhere"])),
        "no token": {},
        "malformed": {"Authorization": "Bearer not a token!"},
        "unknown": bearer(new_token_secret()),
        "revoked": bearer(revoked),
        "expired": bearer(expired),
    })
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        create_app(rt, heartbeat_s=0.2), host="127.0.0.1", port=port, log_level="warning",
        timeout_graceful_shutdown=1,
    ))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    with httpx.Client(timeout=10) as http:
        yield Target(f"http://127.0.0.1:{port}", rt, headers, http)
    server.should_exit = True
    thread.join(10)
    rt.store.close()
    rt.engine.dispose()


_devices = itertools.count(1)


def _assigned_ticket(rt: Runtime) -> int:
    ticket = open_ticket(rt)
    rt.incidents.transition(ticket, "assign", actor="lead", assignee="tom")
    return ticket


TARGETS: dict[str, Callable[[Runtime], int]] = {
    "alert": lambda rt: raise_alert(rt, device_id=f"sd-authz-{next(_devices)}"),
    "ticket": open_ticket,
    "assigned_ticket": _assigned_ticket,
}


def _call(t: Target, operation: str, access: Access, caller: str) -> int:
    method, path = operation.split(" ", 1)
    if "{incident_id}" in path:
        path = path.replace("{incident_id}", str(TARGETS[access.target or "alert"](t.rt)))
    path = path.replace("{device_id}", "sd-1")
    with t.http.stream(
        method, t.url + path, params=access.query, json=access.body, headers=t.headers[caller]
    ) as r:
        return r.status_code  # the stream is closed unread: its status is all that matters


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_route_answers_each_caller_as_the_matrix_says(
    target: Target, operation: str, caller: str
) -> None:
    access = EXPECTED.get(operation)
    assert access is not None, (
        f"{operation} has no entry in EXPECTED (tests/api/test_authz_matrix.py): say which "
        "roles may call it"
    )
    status = _call(target, operation, access, caller)
    if access.roles is PUBLIC:
        assert 200 <= status < 300, f"{operation} is public but answered {caller} {status}"
    elif caller in BAD_CALLERS:
        assert status == 401, f"{operation} answered {caller} {status}, not 401"
    elif caller == OTHER_SITE:
        expected = access.other_site or (404 if "{" in operation else 200)
        assert status == expected or (expected == 200 and 200 <= status < 300), (
            f"{operation} answered {caller} {status}, not {expected}")
    elif caller in access.roles:
        assert 200 <= status < 300, f"{operation} refused {caller} with {status}"
    else:
        assert status == 403, f"{operation} answered {caller} {status}, not 403"


def test_the_matrix_has_no_entry_for_a_route_that_is_gone() -> None:
    assert sorted(set(EXPECTED) - set(OPERATIONS)) == []

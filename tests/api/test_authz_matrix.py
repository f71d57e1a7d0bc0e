"""The authorization matrix: every route of /openapi.json x every kind of caller.

Callers: no token, a malformed header, an unknown token, a revoked one, an expired one, and
one live token per role. Routes come from the app's own OpenAPI document, so a route added
without an entry in EXPECTED below fails `test_...[METHOD /path-no-entry]` at once.

HOW TO ADD A ROUTE (for whoever adds one): one line in EXPECTED,
    "METHOD /path/{param}": Access(ROLES_ALLOWED, target=..., body=..., query=...),
where ROLES_ALLOWED is the set of roles that get 2xx (every other role gets 403) or PUBLIC
(no token needed), `target` names the TARGETS maker of the path's id when DEFAULT_TARGET's
will not do, and `body`/`query` are the smallest valid request. One more caller, an admin token
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
from api.people import links_of
from api.runtime import Runtime
from api.settings import Settings
from api.tokens import ROLES, create_token, new_token_secret, revoke_token
from rules.operations.service import Operations
from tests.api.conftest import bearer, build_runtime, open_ticket, raise_alert
from tests.servers import free_port

PUBLIC = None  # no token needed: every caller gets 2xx
READERS = frozenset(ROLES)
ON_ALERTS = frozenset({"security", "admin"})
ON_TICKETS = frozenset({"maintenance", "admin"})
ADMIN = frozenset({"admin"})
ACTORS = frozenset({"security", "maintenance", "admin"})
SOON = (datetime.now(UTC) + timedelta(hours=1)).isoformat()  # an `until` every limit allows
LATER = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
HQ_DEVICE = {"site": "hq", "device_id": "sd-1"}  # a smoke detector: fire, so security's
HQ_ZONE = {"site": "hq", "zone": "hall-a"}


@dataclass(frozen=True)
class Access:
    """Who may call a route (2xx) and the smallest request that succeeds for them."""

    roles: frozenset[str] | None  # roles that get 2xx; others 403. PUBLIC: no token needed
    target: str | None = None  # a TARGETS key for the path's id; None: DEFAULT_TARGET's
    body: dict[str, Any] | None = None
    query: dict[str, Any] = field(default_factory=dict)
    other_site: int | None = None  # status for a token of another site; None: 404 / 2xx
    allowed: int | None = None  # what an allowed role gets when it is not 2xx


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
    "POST /api/v1/incidents/{incident_id}/resolve": Access(
        ON_ALERTS, target="alert", body={"code": "real"}),  # an alert needs its code (SPEC §6)
    "POST /api/v1/incidents/{incident_id}/comment": Access(
        ON_ALERTS, target="alert", body={"note": "on my way"}
    ),
    "POST /api/v1/incidents/{incident_id}/assign": Access(
        ON_TICKETS, target="ticket", body={"assignee": "tom"}
    ),
    "POST /api/v1/incidents/{incident_id}/start": Access(ON_TICKETS, target="assigned_ticket"),
    "POST /api/v1/incidents/{incident_id}/cancel": Access(ON_TICKETS, target="ticket"),
    "POST /api/v1/incidents/{incident_id}/checklist/{item}": Access(
        ON_TICKETS, target="checklist_ticket", body={"result": "done"}),
    "POST /api/v1/tickets": Access(
        frozenset({"maintenance", "security", "admin"}), body={"title": "Leaking tap"},
        other_site=422,  # it must name one of its sites
    ),
    "GET /api/v1/stream": Access(READERS),
    "GET /api/v1/deadletters": Access(READERS),  # every role since issue 17.5
    "GET /api/v1/reports": Access(READERS),
    "GET /api/v1/notifications/deliveries": Access(READERS, other_site=403),  # one incident
    "GET /metrics": Access(READERS, other_site=403),  # its figures cover every site
    "GET /api/v1/health/live": Access(PUBLIC),
    # operations (SPEC §8): every role reads; a disablement of a fire device is security's
    "POST /api/v1/disablements": Access(
        ON_ALERTS, body={"target": HQ_DEVICE, "reason": "detector swap", "until": SOON},
        other_site=404),  # creating something at another site: as for an unknown site
    "GET /api/v1/disablements": Access(READERS),
    "GET /api/v1/disablements/{disablement_id}": Access(READERS),
    "POST /api/v1/disablements/{disablement_id}/end": Access(ON_ALERTS),
    "POST /api/v1/tests": Access(
        ON_ALERTS, body={"target": HQ_DEVICE, "until": SOON}, other_site=404),
    "GET /api/v1/tests": Access(READERS),
    "GET /api/v1/tests/{test_id}": Access(READERS),
    "POST /api/v1/tests/{test_id}/end": Access(ON_ALERTS),
    "POST /api/v1/incidents/{incident_id}/shelve": Access(
        ON_ALERTS, target="major_alert", body={"until": SOON}),
    "GET /api/v1/shelvings": Access(READERS),
    "GET /api/v1/shelvings/{shelving_id}": Access(READERS),
    "POST /api/v1/shelvings/{shelving_id}/end": Access(ON_ALERTS),
    "POST /api/v1/silences": Access(
        ACTORS, body={"matchers": {"site": "hq"}, "until": SOON, "comment": "drill"},
        other_site=404),
    "GET /api/v1/silences": Access(READERS),
    "GET /api/v1/silences/{silence_id}": Access(READERS),
    "POST /api/v1/silences/{silence_id}/end": Access(ACTORS),
    "POST /api/v1/maintenance-windows": Access(
        ON_TICKETS, body={"matchers": HQ_ZONE, "start": SOON, "end": LATER, "note": "works"},
        other_site=404),
    "GET /api/v1/maintenance-windows": Access(READERS),
    "GET /api/v1/maintenance-windows/{window_id}": Access(READERS),
    "POST /api/v1/maintenance-windows/{window_id}/end": Access(ON_TICKETS),
    "POST /api/v1/emergencies": Access(
        ON_ALERTS, body={"plan": "fire", "target": HQ_ZONE}, other_site=404),
    "GET /api/v1/emergencies": Access(READERS),
    "GET /api/v1/emergencies/{emergency_id}": Access(READERS),
    "POST /api/v1/emergencies/{emergency_id}/end": Access(ON_ALERTS),
    "GET /api/v1/plans": Access(READERS),
    "GET /api/v1/reports/false-alarms": Access(READERS),
    "GET /api/v1/reports/alarms": Access(READERS),
    # the registry and rules at runtime
    "POST /api/v1/devices": Access(ADMIN, body={
        "id": "sd-authz-new", "kind": "smoke_detector", "site": "hq", "zone": "hall-a"},
        other_site=404),
    "PATCH /api/v1/devices/{device_id}": Access(
        ADMIN, target="new_device", body={"name": "Renamed"}),
    "DELETE /api/v1/devices/{device_id}": Access(ADMIN, target="new_device"),
    "GET /api/v1/devices/{device_id}/events": Access(READERS),
    "POST /api/v1/rules/backtest": Access(
        ADMIN, body={"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"},
        other_site=403),  # the rules may select any site
    "POST /api/v1/rules/reload": Access(
        ADMIN, other_site=403,  # the rules file governs every site
        allowed=409),  # past the role check: this test's process runs no rules to reload
    "GET /api/v1/rules/thresholds": Access(READERS),
    # people and the maintenance calendar
    "GET /api/v1/oncall": Access(READERS),
    "GET /api/v1/schedules.ics": Access(READERS),
    "POST /api/v1/calendar-links": Access(
        ON_TICKETS, body={"name": "tom's phone"},
        other_site=403),  # a link's token carries no sites: it would see every site
    # links from notifications (SPEC §8.4-§8.5): the signed link is the credential
    "GET /ack/{token}": Access(PUBLIC, target="ack_link"),
    "POST /ack/{token}": Access(PUBLIC, target="ack_link"),
    "GET /rate/{token}": Access(PUBLIC, target="rate_link"),
    "POST /rate/{token}": Access(PUBLIC, target="rate_link", body={"score": 4}),
    # the audit log (SPEC §8.6)
    "GET /api/v1/audit": Access(ADMIN, other_site=403),  # it spans every site
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


def _ops(rt: Runtime) -> Operations:
    assert rt.operations is not None  # create_app attaches it
    return rt.operations


def _new_device(rt: Runtime) -> str:
    device_id = f"sd-authz-new-{next(_devices)}"
    assert rt.devices is not None
    rt.devices.create({"id": device_id, "kind": "smoke_detector", "site": "hq",
                       "zone": "hall-a"}, "authz")
    return device_id


def _until(hours: float = 1) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


# Each maker creates a fresh object at site hq (an ended one cannot end again) and returns
# its id; objects are made through the service, as the API's own handlers would.
TARGETS: dict[str, Callable[[Runtime], int | str]] = {
    "alert": lambda rt: raise_alert(rt, device_id=f"sd-authz-{next(_devices)}"),
    "major_alert": lambda rt: raise_alert(  # shelvable: neither critical nor life safety
        rt, "door_forced", device_id=f"door-authz-{next(_devices)}"),
    "ticket": open_ticket,
    "checklist_ticket": lambda rt: open_ticket(rt, checklist=["Gauge in the green"]),
    "item1": lambda rt: 1,
    "assigned_ticket": _assigned_ticket,
    "sd-1": lambda rt: "sd-1",
    "new_device": _new_device,
    "disablement": lambda rt: _ops(rt).disable(
        HQ_DEVICE, reason="swap", until=_until(), actor="lead", role="admin").id,
    "test": lambda rt: _ops(rt).start_test(HQ_DEVICE, until=_until(), note="",
                                           actor="lead").id,
    "shelving": lambda rt: _ops(rt).shelve(
        int(TARGETS["major_alert"](rt)), until=_until(), note="", actor="lead").id,
    "silence": lambda rt: _ops(rt).silence({"site": "hq"}, until=_until(), comment="drill",
                                           actor="lead").id,
    "window": lambda rt: _ops(rt).plan_window(
        HQ_ZONE, start=_until(1), end=_until(2), note="works", actor="lead").id,
    "emergency": lambda rt: _ops(rt).declare("fire", HQ_ZONE, note="", actor="lead").id,
    "ack_link": lambda rt: links_of(rt).token(
        "ack", int(TARGETS["alert"](rt)), "alice", time.time(), 3600),
    "rate_link": lambda rt: links_of(rt).token(
        "rate", open_ticket(rt), "requester", time.time(), 3600),
}
DEFAULT_TARGET = {  # the path's id -> its TARGETS maker when the entry names none
    "{incident_id}": "alert", "{device_id}": "sd-1", "{disablement_id}": "disablement",
    "{test_id}": "test", "{shelving_id}": "shelving", "{silence_id}": "silence",
    "{window_id}": "window", "{emergency_id}": "emergency",
    "{item}": "item1",  # a checklist item's position
}


def _call(t: Target, operation: str, access: Access, caller: str) -> int:
    method, path = operation.split(" ", 1)
    target = access.target
    while "{" in path:  # the first id is the entry's target; a later one its param's default
        param = path[path.index("{"):path.index("}") + 1]
        made = TARGETS[target or DEFAULT_TARGET[param]](t.rt)
        path, target = path.replace(param, str(made)), None
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
        assert (status == access.allowed if access.allowed else 200 <= status < 300), (
            f"{operation} refused {caller} with {status}")
    else:
        assert status == 403, f"{operation} answered {caller} {status}, not 403"


def test_the_matrix_has_no_entry_for_a_route_that_is_gone() -> None:
    assert sorted(set(EXPECTED) - set(OPERATIONS)) == []

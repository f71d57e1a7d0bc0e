"""Tokens are stored hashed, checked on every call, and roles decide who may do what."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.runtime import Runtime
from api.tokens import TokenError, create_token, ensure_bootstrap_token, revoke_token
from rules.db.database import open_database
from rules.db.schema import api_tokens
from tests.api.conftest import bearer, open_ticket, raise_alert
from tests.databases import DATABASES


def test_a_token_is_stored_only_as_its_sha256(rt: Runtime) -> None:
    token = create_token(rt.engine, "alice", "security")
    with rt.engine.connect() as conn:
        row = conn.execute(sa.select(api_tokens)).one()
    assert row.name == "alice" and row.role == "security"
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in [str(v) for v in row]


def test_creating_a_token_refuses_an_unknown_role_a_bad_name_and_a_taken_name(
    rt: Runtime,
) -> None:
    create_token(rt.engine, "bob", "viewer")
    with pytest.raises(TokenError, match="role"):
        create_token(rt.engine, "carol", "janitor")
    with pytest.raises(TokenError, match="name"):
        create_token(rt.engine, "bad name!", "viewer")
    with pytest.raises(TokenError, match="already exists"):
        create_token(rt.engine, "bob", "admin")


def test_a_request_without_a_token_gets_401_with_a_bearer_challenge(client: TestClient) -> None:
    r = client.get("/api/v1/incidents")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert "token" in r.json()["detail"]


def test_an_unknown_token_and_a_basic_auth_header_get_401(client: TestClient) -> None:
    assert client.get("/api/v1/status", headers=bearer("sw_nonsense")).status_code == 401
    r = client.get("/api/v1/status", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_a_revoked_token_stops_working_at_once(rt: Runtime, client: TestClient) -> None:
    token = create_token(rt.engine, "temp", "viewer")
    assert client.get("/api/v1/status", headers=bearer(token)).status_code == 200
    assert revoke_token(rt.engine, "temp") is True
    assert client.get("/api/v1/status", headers=bearer(token)).status_code == 401
    assert revoke_token(rt.engine, "temp") is False


def test_the_bootstrap_token_is_an_admin_and_follows_the_configured_value(
    rt: Runtime, client: TestClient
) -> None:
    first, second = "first-bootstrap-secret-123", "second-bootstrap-secret-456"
    ensure_bootstrap_token(rt.engine, first)
    ensure_bootstrap_token(rt.engine, first)  # every start: no duplicate
    assert client.get("/api/v1/deadletters", headers=bearer(first)).status_code == 200
    ensure_bootstrap_token(rt.engine, second)
    assert client.get("/api/v1/status", headers=bearer(first)).status_code == 401
    assert client.get("/api/v1/deadletters", headers=bearer(second)).status_code == 200
    with rt.engine.connect() as conn:
        live = sa.select(sa.func.count()).where(api_tokens.c.revoked_at.is_(None))
        assert conn.execute(live).scalar() == 1


def test_a_revoked_bootstrap_token_stays_revoked_across_restarts(
    rt: Runtime, client: TestClient
) -> None:
    secret = "bootstrap-secret-revoked-1"
    assert ensure_bootstrap_token(rt.engine, secret) is True
    assert revoke_token(rt.engine, "bootstrap") is True
    assert ensure_bootstrap_token(rt.engine, secret) is False  # the next start
    assert client.get("/api/v1/status", headers=bearer(secret)).status_code == 401


def test_a_short_bootstrap_token_is_refused(rt: Runtime) -> None:
    with pytest.raises(TokenError, match="16"):
        ensure_bootstrap_token(rt.engine, "short")


def test_using_a_token_records_when_it_was_last_used(rt: Runtime, client: TestClient) -> None:
    token = create_token(rt.engine, "dave", "viewer")
    client.get("/api/v1/status", headers=bearer(token))
    with rt.engine.connect() as conn:
        assert conn.execute(sa.select(api_tokens.c.last_used_at)).scalar() is not None


# --- the role x action matrix ----------------------------------------------------------------

ALERT, TICKET = "alert", "ticket"
# (method, path template, target, body) -> roles allowed; everyone else gets 403
ACTIONS = {
    "read status": ("GET", "/api/v1/status", None, None),
    "list devices": ("GET", "/api/v1/devices", None, None),
    "list incidents": ("GET", "/api/v1/incidents", None, None),
    "read an alert": ("GET", "/api/v1/incidents/{id}", ALERT, None),
    "read dead letters": ("GET", "/api/v1/deadletters", None, None),
    "acknowledge an alert": ("POST", "/api/v1/incidents/{id}/acknowledge", ALERT, {}),
    "resolve an alert": ("POST", "/api/v1/incidents/{id}/resolve", ALERT,
                         {"note": "dust", "code": "unwanted"}),
    "comment an alert": ("POST", "/api/v1/incidents/{id}/comment", ALERT, {"note": "on my way"}),
    "assign a ticket": ("POST", "/api/v1/incidents/{id}/assign", TICKET, {"assignee": "tom"}),
    "start a ticket": ("POST", "/api/v1/incidents/{id}/start", TICKET, None),
    "resolve a ticket": ("POST", "/api/v1/incidents/{id}/resolve", TICKET, {"note": "fixed"}),
    "cancel a ticket": ("POST", "/api/v1/incidents/{id}/cancel", TICKET, None),
    "comment a ticket": ("POST", "/api/v1/incidents/{id}/comment", TICKET, {"note": "parts due"}),
    "open a ticket": ("POST", "/api/v1/tickets", None, {"title": "Broken chair"}),
}
EVERYONE = {"viewer", "security", "maintenance", "admin"}
ALLOWED = {
    "read status": EVERYONE,
    "list devices": EVERYONE,
    "list incidents": EVERYONE,
    "read an alert": EVERYONE,
    "read dead letters": EVERYONE,
    "acknowledge an alert": {"security", "admin"},
    "resolve an alert": {"security", "admin"},
    "comment an alert": {"security", "admin"},
    "assign a ticket": {"maintenance", "admin"},
    "start a ticket": {"maintenance", "admin"},
    "resolve a ticket": {"maintenance", "admin"},
    "cancel a ticket": {"maintenance", "admin"},
    "comment a ticket": {"maintenance", "admin"},
    "open a ticket": {"maintenance", "security", "admin"},
}
SUCCESS = {"open a ticket": 201}


@pytest.fixture(scope="module", params=DATABASES)
def matrix_app(  # type: ignore[no-untyped-def]
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
):
    from tests.api.conftest import build_runtime

    engine = None
    if request.param == "postgresql":  # its own database: the module's shared one is emptied
        engine = open_database(request.getfixturevalue("pg_databases").new_url())
    runtime = build_runtime(tmp_path_factory.mktemp("matrix"), engine=engine)
    tokens = {
        role: create_token(runtime.engine, f"{role}-user", role)
        for role in ("viewer", "security", "maintenance", "admin")
    }
    with TestClient(create_app(runtime)) as c:
        yield runtime, c, tokens
    runtime.store.close()
    runtime.engine.dispose()


@pytest.mark.parametrize("role", ["none", "viewer", "security", "maintenance", "admin"])
@pytest.mark.parametrize("action", list(ACTIONS))
def test_role_matrix_decides_who_may_do_what(matrix_app, role: str, action: str) -> None:  # type: ignore[no-untyped-def]
    runtime, c, tokens = matrix_app
    method, path, target, body = ACTIONS[action]
    incident_id = None
    if target == ALERT:
        incident_id = raise_alert(runtime)
    elif target == TICKET:
        incident_id = open_ticket(runtime)
    headers = bearer(tokens[role]) if role != "none" else {}
    r = c.request(method, path.format(id=incident_id), json=body, headers=headers)
    if role == "none":
        expected = 401
    elif role in ALLOWED[action]:
        expected = SUCCESS.get(action, 200)
    else:
        expected = 403
    assert r.status_code == expected, r.text
    if expected == 200 and method == "POST":
        assert r.json()["timeline"][-1]["actor"] == f"{role}-user"
    if expected == 403 and incident_id is not None:
        before = runtime.incidents.timeline(incident_id)
        assert len(before) == 1  # nothing happened to the incident


@pytest.mark.parametrize("role", ["viewer", "security", "maintenance", "admin"])
def test_whoami_names_the_token_and_its_role(
    client: TestClient, tokens: dict[str, str], role: str
) -> None:
    r = client.get("/api/v1/whoami", headers=bearer(tokens[role]))
    assert r.status_code == 200
    assert r.json() == {"name": f"{role}-user", "role": role, "sites": None}
    assert client.get("/api/v1/whoami").status_code == 401

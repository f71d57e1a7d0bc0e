"""SPEC §7's limits: body size, control characters, paging, periods, rates, token expiry,
failed authentication counted, /metrics bounded and guarded, /docs off unless asked."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Body
from fastapi.testclient import TestClient

from api.app import create_app
from api.endpoints import stream as stream_endpoint
from api.runtime import Runtime
from api.settings import Settings
from api.tokens import create_token, list_tokens, revoke_token
from tests.api.conftest import bearer, raise_alert

BIG = 70 * 1024  # bytes: over the 64 KiB limit


def app_with(rt: Runtime, **settings: object) -> TestClient:
    """A client on an app whose settings differ from the defaults by `settings`."""
    rt.settings = Settings(data_dir=rt.settings.data_dir, **settings)  # type: ignore[arg-type]
    return TestClient(create_app(rt))


def test_a_body_over_64_kib_is_refused_413_from_its_length_even_without_a_token(
    client: TestClient,
) -> None:
    r = client.post("/api/v1/tickets", content=b"x" * BIG,
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_a_chunked_body_is_cut_off_at_64_kib_with_413(
    client: TestClient, tokens: dict[str, str]
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(BIG // 1024):
            yield b" " * 1024

    r = client.post("/api/v1/tickets", content=chunks(),
                    headers={**bearer(tokens["admin"]), "Content-Type": "application/json"})
    assert r.status_code == 413


def test_a_body_without_a_token_is_refused_401_before_it_is_read(client: TestClient) -> None:
    r = client.post("/api/v1/tickets", json={"title": "x" * 60_000})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"


def test_a_ticket_title_with_a_line_break_is_422_naming_the_field(
    client: TestClient, tokens: dict[str, str]
) -> None:
    r = client.post("/api/v1/tickets", json={"title": "leak\nBcc: x@example.com"},
                    headers=bearer(tokens["admin"]))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "title"]


def test_a_description_keeps_its_line_breaks_but_not_other_control_characters(
    client: TestClient, tokens: dict[str, str]
) -> None:
    ok = client.post("/api/v1/tickets", json={"title": "Leak", "description": "a\nb\tc"},
                     headers=bearer(tokens["admin"]))
    assert ok.status_code == 201
    bad = client.post("/api/v1/tickets", json={"title": "Leak", "description": "a\x1b[2J"},
                      headers=bearer(tokens["admin"]))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "description"]


def test_an_unknown_body_field_is_422(client: TestClient, tokens: dict[str, str]) -> None:
    r = client.post("/api/v1/tickets", json={"title": "Leak", "owner": "me"},
                    headers=bearer(tokens["admin"]))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "owner"]


@pytest.mark.parametrize("path", ["/api/v1/devices", "/api/v1/incidents", "/api/v1/deadletters",
                                  "/api/v1/notifications/deliveries"])
def test_a_page_over_500_is_422(client: TestClient, tokens: dict[str, str], path: str) -> None:
    assert client.get(path, params={"limit": 501}, headers=bearer(tokens["admin"])).status_code \
        == 422
    assert client.get(path, params={"limit": 500}, headers=bearer(tokens["admin"])).status_code \
        == 200


def test_a_report_period_over_a_year_is_422_naming_from(
    client: TestClient, tokens: dict[str, str]
) -> None:
    r = client.get("/api/v1/reports", params={"from": "2020-01-01T00:00:00Z",
                                              "to": "2026-01-01T00:00:00Z"},
                   headers=bearer(tokens["viewer"]))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "from"]


def test_stream_replay_resumes_at_most_replay_max_changes_back(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_endpoint, "REPLAY_MAX", 2)
    for _ in range(5):
        raise_alert(rt)
    newest = max(e.id for e in rt.incidents.changes_since(0, 100))
    assert stream_endpoint.bounded_resume(rt.engine, 0) == newest - 2
    assert stream_endpoint.bounded_resume(rt.engine, newest - 1) == newest - 1


def test_a_token_over_its_rate_gets_429_with_retry_after(rt: Runtime) -> None:
    token = create_token(rt.engine, "busy", "viewer")
    with app_with(rt, rate_limit="3/minute") as c:
        codes = [c.get("/api/v1/whoami", headers=bearer(token)).status_code for _ in range(4)]
        r = c.get("/api/v1/whoami", headers=bearer(token))
    assert codes == [200, 200, 200, 429]
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60


def test_an_address_guessing_tokens_gets_429_even_with_a_good_one(rt: Runtime) -> None:
    token = create_token(rt.engine, "good", "viewer")
    with app_with(rt, auth_fail_limit="2/minute") as c:
        for _ in range(2):
            assert c.get("/api/v1/whoami", headers=bearer("sw_guess")).status_code == 401
        r = c.get("/api/v1/whoami", headers=bearer(token))
    assert r.status_code == 429 and "Retry-After" in r.headers


def test_an_expired_token_is_401_and_counted_as_expired(
    rt: Runtime, client: TestClient, tokens: dict[str, str]
) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    old = create_token(rt.engine, "temp", "viewer", expires_at=past)
    later = create_token(rt.engine, "later", "viewer",
                         expires_at=datetime.now(UTC) + timedelta(days=1))
    assert client.get("/api/v1/whoami", headers=bearer(old)).status_code == 401
    assert client.get("/api/v1/whoami", headers=bearer(later)).status_code == 200
    text = client.get("/metrics", headers=bearer(tokens["admin"])).text
    assert 'sitewatch_api_auth_failures_total{reason="expired"} 1.0' in text


def test_failed_authentication_is_counted_by_reason_and_logged_without_the_token(
    client: TestClient, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sw_not-a-real-token-but-secret-looking"
    with caplog.at_level(logging.WARNING, logger="api.limits"):
        client.get("/api/v1/status", headers=bearer(secret))
        client.get("/api/v1/status", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        client.get("/api/v1/status")
    assert secret not in caplog.text and "dXNlcjpwYXNz" not in caplog.text
    assert "authentication failed (unknown)" in caplog.text
    text = client.get("/metrics", headers=bearer(tokens["admin"])).text
    for reason in ("unknown", "malformed", "missing"):
        assert f'sitewatch_api_auth_failures_total{{reason="{reason}"}} 1.0' in text


def test_made_up_http_methods_share_one_metrics_label(
    client: TestClient, tokens: dict[str, str]
) -> None:
    for i in range(40):
        client.request(f"BREW{i}", "/api/v1/status")
    text = client.get("/metrics", headers=bearer(tokens["admin"])).text
    assert "BREW" not in text
    assert 'method="other"' in text


def test_metrics_need_a_token_unless_made_public(rt: Runtime) -> None:
    with app_with(rt) as c:
        assert c.get("/metrics").status_code == 401
    with app_with(rt, metrics_public=True) as c:
        assert c.get("/metrics").status_code == 200


def test_metrics_on_their_own_port_leave_the_api_port(rt: Runtime) -> None:
    from api.metrics_server import metrics_app

    with app_with(rt, metrics_port=9100) as c:
        assert c.get("/metrics").status_code == 404
        with TestClient(metrics_app(c.app.state.metrics)) as m:  # type: ignore[attr-defined]
            r = m.get("/metrics")
    assert r.status_code == 200 and "sitewatch_api_requests" in r.text


def test_docs_are_off_unless_asked_for(rt: Runtime) -> None:
    with app_with(rt) as c:
        assert c.get("/docs").status_code == 404 and c.get("/redoc").status_code == 404
        assert c.get("/openapi.json").status_code == 200
    with app_with(rt, api_docs=True) as c:
        assert c.get("/docs").status_code == 200


def test_a_revoked_tokens_name_can_be_given_to_a_new_token(
    rt: Runtime, client: TestClient, tmp_path: Path
) -> None:
    first = create_token(rt.engine, "guard", "security")
    assert revoke_token(rt.engine, "guard")
    second = create_token(rt.engine, "guard", "viewer")
    assert client.get("/api/v1/whoami", headers=bearer(first)).status_code == 401
    assert client.get("/api/v1/whoami", headers=bearer(second)).json()["role"] == "viewer"
    guards = [t for t in list_tokens(rt.engine) if t["name"] == "guard"]
    assert len(guards) == 2 and guards[0]["id"] != guards[1]["id"]
    assert guards[0]["revoked_at"] is not None and guards[1]["revoked_at"] is None


def test_every_request_body_in_the_openapi_document_refuses_unknown_fields(rt: Runtime) -> None:
    doc = create_app(rt).openapi()
    schemas = doc["components"]["schemas"]
    bodies = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if content is None:
                continue
            schema = content["schema"]
            refs = [s["$ref"] for s in schema.get("anyOf", [schema]) if "$ref" in s]
            for ref in refs:
                name = ref.rsplit("/", 1)[-1]
                bodies.append(name)
                assert schemas[name].get("additionalProperties") is False, (
                    f"{method.upper()} {path}: body {name} needs extra='forbid'"
                )
    assert bodies  # the walk found the bodies


def test_a_route_that_needs_no_token_still_reads_its_body(rt: Runtime) -> None:
    app = create_app(rt)

    @app.post("/api/v1/open-door-test")
    def signed_link(payload: Annotated[dict[str, int], Body()]) -> dict[str, int]:
        return payload

    with TestClient(app) as c:
        assert c.post("/api/v1/open-door-test", json={"a": 1}).json() == {"a": 1}
        assert c.post("/api/v1/tickets", json={"title": "x"}).status_code == 401
        big = c.post("/api/v1/open-door-test", content=b"x" * BIG,
                     headers={"Content-Type": "application/json"})
        assert big.status_code == 413

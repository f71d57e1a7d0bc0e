"""The dashboard at /: served without a token, same-origin only, no markup built from data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.endpoints.ui import ASSETS, STATIC_DIR
from rules.db.database import open_database


@pytest.fixture
def database(tmp_path: Path) -> Iterator[sa.Engine]:
    """SQLite only: static files never reach the database, one database is enough here."""
    engine = open_database(f"sqlite:///{tmp_path / 'sitewatch.db'}")
    yield engine
    engine.dispose()


def test_the_dashboard_page_is_served_without_a_token(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js"' in r.text
    assert 'href="/static/style.css"' in r.text


def test_the_page_only_loads_and_connects_to_its_own_origin(client: TestClient) -> None:
    csp = client.get("/").headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "connect-src 'self'" in csp
    assert "script-src 'self'" in csp


def test_the_script_and_stylesheet_are_served_with_their_types(client: TestClient) -> None:
    js = client.get("/static/app.js")
    css = client.get("/static/style.css")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "/api/v1" in js.text
    assert ".critical" in css.text


def test_only_the_listed_assets_are_served(client: TestClient) -> None:
    assert client.get("/static/index.html").status_code == 404
    assert client.get("/static/..%2Fapp.py").status_code == 404
    assert client.get("/static/ui.py").status_code == 404


def test_the_dashboard_is_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not [p for p in paths if p.startswith("/static")]


def test_the_assets_name_no_external_host() -> None:
    for name in ("index.html", *ASSETS):
        text = (STATIC_DIR / name).read_text()
        assert not re.search(r"https?://", text), f"{name} names an external URL"
        assert not re.search(r"(?<![\w.])//[a-z0-9-]+\.[a-z]", text), f"{name}: protocol-relative"


def test_every_fetch_in_the_script_goes_to_the_same_origin_api() -> None:
    js = (STATIC_DIR / "app.js").read_text()
    assert 'const API = "/api/v1";' in js
    calls = re.findall(r"fetch\(([^,)]+)", js)
    assert calls, "the script makes no fetch() at all"
    for target in calls:
        assert target.strip().startswith(("API", "`${API}")), target


def test_the_script_never_assigns_markup() -> None:
    js = (STATIC_DIR / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js, sink


def test_the_token_is_kept_in_session_storage_not_local_storage() -> None:
    js = (STATIC_DIR / "app.js").read_text()
    assert "sessionStorage.setItem(TOKEN_KEY" in js
    assert "localStorage." not in js

"""The dashboard at /: served without a token, same-origin only, no markup built from data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.endpoints.ui import STATIC_DIR
from api.runtime import Runtime
from tests.databases import migrated_sqlite

SCRIPTS = [STATIC_DIR / "app.js", *sorted((STATIC_DIR / "js").glob("*.js"))]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[sa.Engine]:
    """SQLite only: static files never reach the database, one database is enough here."""
    engine = migrated_sqlite(tmp_path / "sitewatch.db")
    yield engine
    engine.dispose()


def test_the_dashboard_page_is_served_without_a_token(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js"' in r.text
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
    assert "./js/core.js" in js.text
    assert ".critical" in css.text
    catalog = client.get("/static/i18n/zh-Hant.json")
    assert catalog.status_code == 200
    assert catalog.headers["content-type"].startswith("application/json")
    assert client.get("/static/js/queue.js").status_code == 200


def test_only_the_listed_assets_are_served(client: TestClient) -> None:
    assert client.get("/static/index.html").status_code == 404
    assert client.get("/static/..%2Fapp.py").status_code == 404
    assert client.get("/static/ui.py").status_code == 404
    assert client.get("/static/js/../../app.py").status_code == 404
    assert client.get("/static/js/%2e%2e/%2e%2e/endpoints/ui.py").status_code == 404
    assert client.get("/static/nothing.js").status_code == 404


def test_the_dashboard_is_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not [p for p in paths if p.startswith("/static")]


def test_the_assets_name_no_external_host() -> None:
    for path in [STATIC_DIR / "index.html", STATIC_DIR / "style.css", *SCRIPTS]:
        text, name = path.read_text(), path.name
        text = text.replace('"http://www.w3.org/2000/svg"', "")  # a namespace, never fetched
        assert not re.search(r"https?://", text), f"{name} names an external URL"
        assert not re.search(r"(?<![\w.])//[a-z0-9-]+\.[a-z]", text), f"{name}: protocol-relative"


def test_every_fetch_in_the_script_goes_to_the_same_origin_api() -> None:
    js = "\n".join(p.read_text() for p in SCRIPTS)
    assert 'export const API = "/api/v1";' in js
    calls = re.findall(r"fetch\(([^,)]+)", js)
    assert calls, "the scripts make no fetch() at all"
    for target in calls:  # the API, or the page's own message catalogs
        assert target.strip().startswith(("API", "`${API}", "`/static/i18n/")), target


def test_the_script_never_assigns_markup() -> None:
    js = "\n".join(p.read_text() for p in SCRIPTS)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js, sink


def test_the_token_is_kept_in_session_storage_not_local_storage() -> None:
    js = "\n".join(p.read_text() for p in SCRIPTS)
    assert "sessionStorage.setItem(TOKEN_KEY" in js
    # localStorage holds the language preference only, never the token
    assert re.findall(r"localStorage\.\w+\(([A-Z_]+)", js) == ["LOCALE_KEY", "LOCALE_KEY"]


def _static_imports(path: Path, seen: set[str]) -> set[str]:
    for name in re.findall(r'^import [^;]*? from "\.(?:/js)?/([\w-]+\.js)";', path.read_text(),
                           re.M):
        if name not in seen:
            seen.add(name)
            _static_imports(STATIC_DIR / "js" / name, seen)
    return seen


def test_the_page_preloads_exactly_the_first_loads_modules() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/static/js/([\w-]+\.js)">', html))
    first_load = _static_imports(STATIC_DIR / "app.js", set())
    assert preloaded == first_load
    assert len(first_load) < len(SCRIPTS) - 1  # the other views load when first shown


def test_a_floor_plan_is_served_from_the_configured_folder_and_nothing_else(
    client: TestClient, rt: Runtime, tmp_path: Path
) -> None:
    assert client.get("/plans/hq/G").status_code == 404  # no folder configured
    (tmp_path / "plans" / "hq").mkdir(parents=True)
    (tmp_path / "plans" / "hq" / "G.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "secret.svg").write_text("<svg/>")
    rt.settings.floor_plans = tmp_path / "plans"
    r = client.get("/plans/hq/G")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert client.get("/plans/hq/1").status_code == 404
    assert client.get("/plans/..%2F/secret").status_code == 404
    assert client.get("/plans/hq/..").status_code == 404


def test_an_unchanged_asset_is_revalidated_with_its_etag(client: TestClient) -> None:
    first = client.get("/static/js/core.js")
    again = client.get("/static/js/core.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/static/js/core.js", headers={"If-None-Match": '"x"'}).status_code == 200

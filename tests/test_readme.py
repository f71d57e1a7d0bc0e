"""The README stands alone (issue 17.16): no link out of the clone, every endpoint listed."""

from __future__ import annotations

import re
from pathlib import Path

from api.app import create_app
from tests.api.conftest import build_runtime

README = (Path(__file__).parents[1] / "README.md").read_text("utf-8")


def test_the_readme_links_nothing_outside_the_clone() -> None:
    targets = re.findall(r"\]\(([^)]+)\)", README)
    assert not [t for t in targets if t.startswith("..") or "shared/" in t]


def test_the_readme_endpoint_table_lists_every_endpoint(tmp_path: Path) -> None:
    rt = build_runtime(tmp_path)
    try:
        paths = create_app(rt).openapi()["paths"]
    finally:
        rt.store.close()
        rt.engine.dispose()
    table = README.split("## HTTP API", 1)[1]
    first_cells = [row.split("|")[1] for row in table.splitlines() if row.startswith("| `")]
    listed = {
        (m, re.sub(r"\{[^}]+\}", "{}", p.split("?")[0]))
        for cell in first_cells
        for m, p in re.findall(r"`(GET|POST|PATCH|PUT|DELETE) (/[^` ]*)`", cell)
    }
    missing = [
        f"{method.upper()} {path}"
        for path, ops in paths.items()
        for method in ops
        if (method.upper(), re.sub(r"\{[^}]+\}", "{}", path)) not in listed
    ]
    assert missing == []

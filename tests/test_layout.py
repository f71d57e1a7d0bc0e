"""The layout's promises, checked on the source: imports flow one way, modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# package -> the packages of ours it may import (itself always allowed)
MAY_IMPORT = {
    "devices": set(),
    "ingest": {"devices"},
    "rules": {"devices"},
    "api": {"devices", "ingest", "rules"},
}
MODULE_LINES_MAX = 330  # "about 300": a module past this is asking to be split
# Declarations, not logic: every table in one module is the point (the migrations test compares
# it with the Alembic chain), so it may grow with the tables.
LONG_ON_PURPOSE = {"rules/db/schema.py"}


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(MAY_IMPORT)


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_flow_one_way(package: str) -> None:
    wrong = {
        str(p.relative_to(ROOT)): sorted(bad)
        for p in _modules(package)
        if (bad := _imported_packages(p) - MAY_IMPORT[package] - {package})
    }
    assert wrong == {}


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_no_module_is_past_about_three_hundred_lines(package: str) -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules(package)
        if (n := len(p.read_text("utf-8").splitlines())) > MODULE_LINES_MAX
        and str(p.relative_to(ROOT)) not in LONG_ON_PURPOSE
    }
    assert long == {}

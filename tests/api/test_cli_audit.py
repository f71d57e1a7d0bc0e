"""`sitewatch audit` reads the configured database; the CLI's token and calendar changes are
audited with the operating-system user who ran them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """SITEWATCH_DATA_DIR in tmp_path: the default database follows it."""
    monkeypatch.setenv("SITEWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SITEWATCH_DATABASE_URL", raising=False)
    monkeypatch.setenv("USER", "ops-anna")  # what getpass.getuser() reads first
    return tmp_path


def _json_lines(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["audit", "--json", *argv]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.slow  # ~2 s: each command opens (and checks the migrations of) the database
def test_cli_token_and_calendar_changes_are_audited_and_listed_with_filters(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "guard-1", "--role", "security", "--sites", "hq"]) == 0
    assert main(["token", "revoke", "guard-1"]) == 0
    assert main(["calendar", "create", "tom phone"]) == 0
    assert main(["calendar", "revoke", "tom phone"]) == 0
    every = _json_lines(capsys)
    assert [(e["actor"], e["action"], e["target"]) for e in every] == [
        ("cli:ops-anna", "calendar_link.revoke", "calendar_link:tom phone"),
        ("cli:ops-anna", "calendar_link.create", "calendar_link:tom phone"),
        ("cli:ops-anna", "token.revoke", "token:guard-1"),
        ("cli:ops-anna", "token.create", "token:guard-1"),
    ]
    created = every[-1]
    assert created["actor_token_id"] is None  # no API token acted
    assert created["detail"] == {"token_id": 1, "role": "security", "sites": ["hq"],
                                 "expires_at": None}
    assert [e["action"] for e in _json_lines(capsys, "--action", "token")] == [
        "token.revoke", "token.create"]
    assert [e["action"] for e in _json_lines(capsys, "--target", "token:guard-1",
                                            "--limit", "1")] == ["token.revoke"]
    assert main(["audit"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 4 and "token.create" in table[-1] and "cli:ops-anna" in table[-1]


def test_a_bad_period_or_limit_is_exit_2_naming_the_option(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--from", "yesterday"]) == 2
    assert "--from" in capsys.readouterr().err
    assert main(["audit", "--from", "2026-02-01", "--to", "2026-01-01"]) == 2
    assert "--from" in capsys.readouterr().err
    assert main(["audit", "--limit", "0"]) == 2
    assert "--limit" in capsys.readouterr().err

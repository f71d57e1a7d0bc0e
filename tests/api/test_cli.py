"""The `sitewatch` CLI verbs that need no server: tokens, rules check, configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.cli import main
from api.tokens import hash_token, list_tokens
from rules.db.database import open_database


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """SITEWATCH_DATA_DIR in tmp_path: the default database follows it."""
    monkeypatch.setenv("SITEWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SITEWATCH_DATABASE_URL", raising=False)
    return tmp_path


def test_token_create_prints_a_secret_stored_only_as_its_hash_in_the_data_dir_database(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "guard-1", "--role", "security"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("sw_") and len(token) > 40
    engine = open_database(f"sqlite:///{data_dir}/sitewatch.db")
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("select token_hash from api_tokens").scalar_one()
    assert stored == hash_token(token) and token not in stored


def test_token_create_twice_and_a_bad_role_fail_with_one_line(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "tech", "--role", "maintenance"]) == 0
    capsys.readouterr()
    assert main(["token", "create", "tech", "--role", "maintenance"]) == 2
    assert "already exists" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["token", "create", "x", "--role", "janitor"])


def test_token_revoke_and_list(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["token", "create", "temp", "--role", "viewer"])
    assert main(["token", "revoke", "temp"]) == 0
    assert main(["token", "revoke", "temp"]) == 1
    assert main(["token", "list"]) == 0
    assert "revoked" in capsys.readouterr().out.splitlines()[-1]
    engine = open_database(f"sqlite:///{data_dir}/sitewatch.db")
    assert [t["name"] for t in list_tokens(engine)] == ["temp"]


def test_rules_check_accepts_the_pack_and_names_what_is_wrong_in_a_broken_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pack = Path(__file__).parents[2] / "rules" / "engine" / "pack.yaml"
    broken = Path(__file__).parents[1] / "rules" / "broken" / "bad_kind.yaml"
    assert main(["rules", "check", str(pack)]) == 0
    assert main(["rules", "check", str(broken)]) == 1
    assert "rule 'hot' (#1): field 'kind'" in capsys.readouterr().err


def test_a_bad_setting_is_one_line_naming_the_variable(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SITEWATCH_INFLUX_API", "v4")
    assert main(["serve"]) == 2
    assert capsys.readouterr().err.startswith("sitewatch: SITEWATCH_INFLUX_API:")


def test_an_unsupported_database_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SITEWATCH_DATABASE_URL", "mysql://root@localhost/sitewatch")
    assert main(["token", "list"]) == 2
    assert "use sqlite:///PATH or postgresql+psycopg://" in capsys.readouterr().err

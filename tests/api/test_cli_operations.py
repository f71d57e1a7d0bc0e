"""`sitewatch disable …` and `sitewatch test …` against the configured database."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from api.cli import main
from devices.registry import load_registry
from rules.db.database import open_database
from rules.engine.loader import load_rules
from rules.engine.signals import Signal
from rules.incidents.service import IncidentService
from rules.operations.plans import load_plans
from rules.operations.service import Operations


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data dir the CLI's settings point at."""
    monkeypatch.setenv("SITEWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SITEWATCH_DATABASE_URL", raising=False)
    return tmp_path


def test_an_operator_disables_a_door_lists_it_and_ends_it_from_the_terminal(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["disable", "add", "hq", "--device", "door-01", "--reason", "lock swap",
                 "--until", "2h", "--by", "ana"]) == 0
    assert "hq/door-01" in capsys.readouterr().out
    engine = open_database(f"sqlite:///{data_dir / 'sitewatch.db'}")
    try:  # a running service sees it at its next signal
        incidents = IncidentService(engine, load_rules(None))
        Operations(engine, incidents, load_registry(None), load_rules(None),
                   load_plans(None)).install()
        sig = Signal("door_forced", "fire", "hq", "door-01", time.time(), "reception", "door")
        assert incidents.apply(sig) == []
    finally:
        engine.dispose()
    assert main(["disable", "show", "1"]) == 0
    assert "hid door_forced on door-01 x1" in capsys.readouterr().out
    assert main(["disable", "end", "1", "--by", "bo"]) == 0
    assert main(["disable", "end", "1"]) == 1
    assert "ended" in capsys.readouterr().err


def test_bad_disable_and_test_input_is_one_line_with_exit_2_or_1(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["disable", "add", "hq", "--zone", "hall-a", "--reason", "x",
                 "--until", "9d"]) == 2
    assert main(["test", "start", "hq", "--zone", "moon", "--until", "1h"]) == 1
    assert main(["test", "start", "hq", "--zone", "kitchen", "--until", "soon"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["sitewatch: until: at most 7 days from now",
                   "sitewatch: target: no zone 'moon' in site 'hq' in the registry",
                   "sitewatch: --until: 'soon' is neither a duration nor a time"]
    assert main(["test", "start", "hq", "--zone", "kitchen", "--until", "1h"]) == 0
    assert main(["walk-test", "show", "1"]) == 0  # the alias run.sh can reach
    assert capsys.readouterr().out.count("NOT TESTED") == 3

"""`rules check` without a file checks the configured rules; unknown fields get a suggestion."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.cli import main
from rules.engine.loader import RuleError, parse_rules


def test_an_unknown_field_is_answered_with_did_you_mean() -> None:
    with pytest.raises(RuleError) as e:
        parse_rules(
            "- {id: hot, title: Hot, description: d, kind: threshold, metric: temperature_c,"
            " select: {kinds: [zone_sensor]}, above: 28, hold_time: 15m,"
            " raises: {type: ticket, priorty: P3}}",
            "r.yaml",
        )
    text = str(e.value)
    assert "field 'hold_time'" in text and "did you mean 'hold'" in text
    assert "field 'raises.priorty'" in text and "did you mean 'priority'" in text


def test_rules_check_without_a_file_checks_the_configured_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SITEWATCH_RULES", raising=False)
    assert main(["rules", "check"]) == 0
    assert "built-in" in capsys.readouterr().out
    bad = tmp_path / "mine.yaml"
    bad.write_text("- {id: x, title: X, description: d, kind: nope, raises: {type: ticket,"
                   " priority: P3}}\n")
    monkeypatch.setenv("SITEWATCH_RULES", str(bad))
    assert main(["rules", "check"]) == 1
    assert f"{bad}: rule 'x' (#1): field 'kind'" in capsys.readouterr().err

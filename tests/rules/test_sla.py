"""SLA clocks are configurable from a YAML file, each entry overriding SPEC §6's default."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from rules.incidents.sla import SlaConfigError, SlaPolicy, load_sla


def test_no_file_gives_the_spec_defaults() -> None:
    assert load_sla(None) == SlaPolicy()
    assert SlaPolicy().respond_within("P1") == timedelta(minutes=15)
    assert SlaPolicy().resolve_within("P4") == timedelta(days=14)
    assert SlaPolicy().escalate_after("critical") == timedelta(minutes=5)


def test_a_file_overrides_only_the_entries_it_names(tmp_path: Path) -> None:
    f = tmp_path / "sla.yaml"
    f.write_text("respond: {P1: 10m}\nresolve: {P2: 2d}\nescalation: {major: null, minor: 1h}\n")
    sla = load_sla(f)
    assert sla.respond_within("P1") == timedelta(minutes=10)
    assert sla.respond_within("P2") == timedelta(hours=1)  # default kept
    assert sla.resolve_within("P2") == timedelta(days=2)
    assert sla.escalate_after("major") is None
    assert sla.escalate_after("minor") == timedelta(hours=1)
    assert sla.escalate_after("critical") == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("respond: {P5: 1h}\n", "respond.P5: grade must be one of"),
        ("resolve: {P1: soon}\n", "resolve.P1: duration 'soon'"),
        ("respond: {P1: null}\n", "respond.P1"),
        ("deadlines: {}\n", "expected a map with respond, resolve and escalation"),
        ("respond: [P1]\n", "respond: expected a map"),
    ],
)
def test_a_bad_sla_file_names_file_clock_and_grade(tmp_path: Path, text: str, message: str):
    f = tmp_path / "sla.yaml"
    f.write_text(text)
    with pytest.raises(SlaConfigError, match=message) as e:
        load_sla(f)
    assert str(f) in str(e.value)

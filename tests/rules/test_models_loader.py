"""Rule models and the loader: durations, defaults, and precise errors for broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.kinds import KINDS
from rules.engine.durations import parse_duration
from rules.engine.loader import RuleError, check_rules_file, load_rules, parse_rules
from rules.engine.models import CountRule, EventRule, ThresholdRule
from rules.engine.parts import AlertSpec

BROKEN = Path(__file__).parent / "broken"
BROKEN_FILES = sorted(BROKEN.glob("*.yaml"))


def expected_error(path: Path) -> str:
    """The error a broken file declares on its first line (`# expect: ...`)."""
    first = path.read_text("utf-8").splitlines()[0]
    assert first.startswith("# expect: "), path
    return first.removeprefix("# expect: ")


def test_the_broken_corpus_is_big_enough_to_mean_something() -> None:
    assert len(BROKEN_FILES) >= 10


@pytest.mark.parametrize("path", BROKEN_FILES, ids=lambda p: p.stem)
def test_each_broken_rules_file_fails_naming_file_rule_and_field(path: Path) -> None:
    errors = check_rules_file(path)
    wanted = f"{path}: {expected_error(path)}"
    assert any(e.startswith(wanted) for e in errors), errors
    with pytest.raises(RuleError) as raised:
        load_rules(path)
    assert wanted in str(raised.value)


def test_an_error_message_reads_file_rule_index_field_and_reason() -> None:
    text = """
- {id: a, title: A, description: d, kind: event, event: alarm,
   raises: {type: alert, severity: major}}
- {id: b, title: B, description: d, kind: event, event: alarm,
   raises: {type: alert, severity: major}}
- {id: c, title: C, description: d, kind: event, event: alarm,
   raises: {type: alert, severity: major}}
- id: door_held
  title: Door held
  description: d
  kind: event
  event: door_held_open
  raises: {type: alert, severity: loud}
"""
    with pytest.raises(RuleError) as raised:
        parse_rules(text, "rules.yaml")
    assert raised.value.errors == [
        "rules.yaml: rule 'door_held' (#4): field 'raises.severity': "
        "Input should be 'critical', 'major' or 'minor'"
    ]


def test_check_reports_every_error_in_the_file_not_just_the_first(tmp_path: Path) -> None:
    f = tmp_path / "two.yaml"
    f.write_text(
        "- {id: a, title: A, description: d, kind: event, event: alarm, raises: {type: alert,"
        " severity: loud}}\n"
        "- {id: b, title: B, description: d, kind: meter, metric: runtime_hours, every: 0,"
        " raises: {type: ticket, priority: P3}}\n",
        "utf-8",
    )
    errors = check_rules_file(f)
    assert errors == [
        f"{f}: rule 'a' (#1): field 'raises.severity': "
        "Input should be 'critical', 'major' or 'minor'",
        f"{f}: rule 'b' (#2): field 'every': Input should be greater than 0",
    ]


def test_an_unreadable_file_is_reported_not_raised(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    [error] = check_rules_file(missing)
    assert error.startswith(f"{missing}: cannot read:")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("15m", 900.0), ("4h", 14_400.0), ("2d", 172_800.0), ("1.5h", 5400.0),
     (90, 90.0), (0.5, 0.5), ("45", 45.0)],
)
def test_durations_parse_into_seconds(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["15 minutes", "-5s", "5w", "", True, None, -1, float("nan")])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def rule_yaml(select: str, raises: str) -> str:
    """One event rule with this select and raises."""
    return (
        f"- {{id: r, title: T, description: d, kind: event, event: [alarm, tamper], "
        f"select: {select}, raises: {raises}}}"
    )


def test_alerts_latch_by_default_only_when_the_rule_selects_fire_devices() -> None:
    fire = parse_rules(rule_yaml("{kinds: [smoke_detector]}", "{type: alert, severity: major}"))
    mixed = parse_rules(rule_yaml("{kinds: [smoke_detector, door]}",
                                  "{type: alert, severity: major}"))
    chosen = parse_rules(rule_yaml("{kinds: [smoke_detector]}",
                                   "{type: alert, severity: major, latching: false}"))
    latching = []
    for pack in (fire, mixed, chosen):
        raises = pack.rules[0].raises
        assert isinstance(raises, AlertSpec)
        latching.append(raises.latching)
    assert latching == [True, False, False]


def test_defaults_department_and_linked_ticket_and_a_single_event_name() -> None:
    pack = parse_rules(
        """
- id: trouble
  title: Trouble
  description: Detector trouble
  kind: event
  select: {kinds: [smoke_detector]}
  event: trouble
  raises:
    type: alert
    severity: minor
    linked_ticket: {priority: P2}
"""
    )
    rule = pack.get("trouble")
    assert isinstance(rule, EventRule) and rule.event == ("trouble",)
    assert isinstance(rule.raises, AlertSpec)
    assert rule.raises.department == "security"
    assert rule.raises.linked_ticket is not None
    assert rule.raises.linked_ticket.department == "maintenance"
    assert pack.get("nope") is None


def test_rules_and_their_parts_are_frozen() -> None:
    pack = parse_rules(
        "- {id: hot, title: H, description: d, kind: threshold, metric: temperature_c,"
        " above: 28, hold: 15m, raises: {type: ticket, priority: P3}}"
    )
    rule = pack.rules[0]
    assert isinstance(rule, ThresholdRule) and rule.hold == 900.0 and rule.clear_level == 28
    with pytest.raises(ValueError):
        rule.above = 30  # type: ignore[misc]


def test_a_mapping_with_a_rules_key_is_accepted_like_a_bare_list() -> None:
    body = (
        "- {id: n, title: N, description: d, kind: count, event: access_denied, count: 5,"
        " window: 2m, raises: {type: alert, severity: major}}"
    )
    bare = parse_rules(body)
    wrapped = parse_rules("rules:\n" + "\n".join("  " + line for line in body.splitlines()))
    assert bare.rules == wrapped.rules
    assert isinstance(bare.rules[0], CountRule) and bare.rules[0].window == 120.0


def test_check_reports_independent_problems_of_one_rule_together(tmp_path: Path) -> None:
    f = tmp_path / "hot.yaml"
    f.write_text(
        "- {id: hot, title: H, description: d, kind: threshold, select: {kinds: [zone_sensor]},"
        " metric: temprature_c, above: 28, clear: 30,"
        " raises: {type: alert, severity: critical}}\n",
        "utf-8",
    )
    errors = check_rules_file(f)
    assert errors == [
        f"{f}: rule 'hot' (#1): field 'raises.runbook': "
        "a critical alert needs a runbook the guard can follow",
        f"{f}: rule 'hot' (#1): field 'clear': clear level 30 must be at or below 'above' 28",
        f"{f}: rule 'hot' (#1): field 'metric': kind 'zone_sensor' has no metric "
        f"'temprature_c'; it reports: {', '.join(sorted(KINDS['zone_sensor'].metrics))}",
    ]
    with pytest.raises(RuleError) as raised:
        load_rules(f)
    assert raised.value.errors == errors


def test_a_metric_missing_from_several_selected_kinds_is_reported_for_each() -> None:
    with pytest.raises(RuleError) as raised:
        parse_rules(
            "- {id: m, title: M, description: d, kind: meter, select: {kinds: [door, fire_panel]},"
            " metric: runtime_hours, every: 2000, raises: {type: ticket, priority: P3}}",
            "m.yaml",
        )
    assert [e.split(";")[0] for e in raised.value.errors] == [
        "m.yaml: rule 'm' (#1): field 'metric': kind 'door' has no metric 'runtime_hours'",
        "m.yaml: rule 'm' (#1): field 'metric': kind 'fire_panel' has no metric 'runtime_hours'",
    ]


def test_a_duplicate_id_is_reported_even_when_the_first_rule_with_it_is_invalid(
    tmp_path: Path,
) -> None:
    f = tmp_path / "dup.yaml"
    f.write_text(
        "- {id: hot, title: H, description: d, kind: threshold, metric: temperature_c,"
        " above: 28, hold: soon, raises: {type: ticket, priority: P3}}\n"
        "- {id: hot, title: H, description: d, kind: threshold, metric: temperature_c,"
        " above: 30, raises: {type: ticket, priority: P3}}\n",
        "utf-8",
    )
    errors = check_rules_file(f)
    assert errors == [
        f"{f}: rule 'hot' (#1): field 'hold': duration 'soon' is not seconds or a string like "
        "'30s', '15m', '4h', '2d'",
        f"{f}: rule 'hot' (#2): field 'id': duplicate id, first used by rule #1",
    ]
    with pytest.raises(RuleError) as raised:
        load_rules(f)
    assert raised.value.errors == errors


def test_an_invalid_duplicate_reports_both_the_duplicate_and_its_own_errors() -> None:
    text = (
        "- {id: a, title: A, description: d, kind: event, event: alarm,"
        " raises: {type: alert, severity: major}}\n"
        "- {id: a, title: A, description: d, kind: event, event: alarm,"
        " raises: {type: alert, severity: loud}}\n"
    )
    with pytest.raises(RuleError) as raised:
        parse_rules(text, "r.yaml")
    assert raised.value.errors == [
        "r.yaml: rule 'a' (#2): field 'id': duplicate id, first used by rule #1",
        "r.yaml: rule 'a' (#2): field 'raises.severity': "
        "Input should be 'critical', 'major' or 'minor'",
    ]


def test_an_unknown_event_is_not_also_reported_as_a_kind_emitting_none() -> None:
    with pytest.raises(RuleError) as raised:
        parse_rules(
            "- {id: z, title: Z, description: d, kind: count, select: {kinds: [zone_sensor]},"
            " event: fault, count: 3, window: 1m, raises: {type: ticket, priority: P3}}",
            "z.yaml",
        )
    assert raised.value.errors == [
        "z.yaml: rule 'z' (#1): field 'event': no selected kind (zone_sensor) emits event 'fault'"
    ]

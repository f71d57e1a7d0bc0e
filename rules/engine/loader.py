"""Load and check rules files (YAML); every error names the file, the rule and the field."""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from rules.engine.models import RULE_KINDS, Rule, RuleFieldError, RulePack, RuleProblems

__all__ = ["RuleError", "RulePack", "check_rules_file", "load_rules", "parse_rules"]

_RULE = TypeAdapter[Rule](Rule)
_UNION_TAGS = {"alert", "ticket", *RULE_KINDS}  # discriminator tags pydantic puts in error paths
BUILTIN = "built-in pack.yaml"


class RuleError(ValueError):
    """A rules file is unreadable or invalid; `errors` holds one precise line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _problems(err: Any) -> list[tuple[str, str]]:
    """(dotted field, message) for one pydantic error; a rule's bundled problems give several."""
    loc = [str(p) for p in err["loc"]]
    if loc and loc[0] in RULE_KINDS:
        loc = loc[1:]
    loc = [
        p for i, p in enumerate(loc) if not (p in _UNION_TAGS and i and loc[i - 1] == "raises")
    ]
    ctx = err.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, RuleFieldError):
        cause = RuleProblems([cause])
    if isinstance(cause, RuleProblems):
        return [(".".join([*loc, c.field]), str(c)) for c in cause.problems]
    if err["type"].startswith("union_tag"):
        loc.append(str(ctx.get("discriminator", "kind")).strip("'"))
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden" and loc:
        message = "unknown field" + _did_you_mean(loc[-1])
    return [(".".join(loc) or "(rule)", message)]


def _field_names() -> frozenset[str]:
    """Every field name a rule file may use, at any depth (for "did you mean")."""
    from rules.engine import models, parts

    found: set[str] = set()
    for module in (models, parts):
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, parts.Frozen):
                found.update(obj.model_fields)
    return frozenset(found)


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, _field_names(), n=1, cutoff=0.6)
    if not close and "_" in name:  # hold_time -> hold, clear_level -> clear
        head = name.split("_", 1)[0]
        close = [head] if head in _field_names() else []
    return f"; did you mean {close[0]!r}?" if close else ""


def _raw_rules(text: str, source: str) -> tuple[list[Any], list[str]]:
    try:
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return [], [f"{source}: not valid YAML{at}: {e.problem} ({e.context})"]
    except yaml.YAMLError as e:
        return [], [f"{source}: not valid YAML: {' '.join(str(e).split())}"]
    if isinstance(raw, dict) and set(raw) == {"rules"}:
        raw = raw["rules"]
    if not isinstance(raw, list):
        got = "nothing" if raw is None else type(raw).__name__
        return [], [f"{source}: expected a list of rules (or a mapping with one key 'rules' "
                    f"holding that list), got {got}"]
    return raw, []


def _parse(text: str, source: str) -> tuple[RulePack | None, list[str]]:
    raw, errors = _raw_rules(text, source)
    rules: list[Rule] = []
    first_index: dict[str, int] = {}
    for n, item in enumerate(raw, start=1):
        rid = item.get("id") if isinstance(item, dict) else None
        where = f"rule {rid!r} (#{n})" if isinstance(rid, str) else f"rule #{n}"
        if not isinstance(item, dict):
            errors.append(f"{source}: {where}: expected a mapping, got {type(item).__name__}")
            continue
        # Ids are recorded before validation, so a duplicate is reported even when the rule
        # that first used the id is itself invalid.
        first = first_index.setdefault(rid, n) if isinstance(rid, str) else n
        duplicate = first != n
        if duplicate:
            errors.append(
                f"{source}: {where}: field 'id': duplicate id, first used by rule #{first}"
            )
        try:
            rule = _RULE.validate_python(item)
        except ValidationError as e:
            errors.extend(
                f"{source}: {where}: field {field!r}: {message}"
                for err in e.errors()
                for field, message in _problems(err)
            )
            continue
        if not duplicate:
            rules.append(rule)
    errors.extend(_join_problems(rules, source, first_index))
    if errors:
        return None, errors
    return RulePack.of(rules, source), []


def _join_problems(rules: list[Rule], source: str, index: dict[str, int]) -> list[str]:
    """A rule's `joins` must name another rule of the file that raises the same type."""
    by_id = {r.id: r for r in rules}
    problems = []
    for rule in rules:
        if rule.joins is None:
            continue
        target = by_id.get(rule.joins)
        where = f"{source}: rule {rule.id!r} (#{index.get(rule.id, 0)}): field 'joins'"
        if target is None or target.id == rule.id:
            problems.append(f"{where}: no other rule {rule.joins!r} in this file")
        elif target.joins is not None:
            problems.append(f"{where}: {target.id!r} itself joins {target.joins!r}; "
                            f"join {target.joins!r} directly")
        elif target.raises.type != rule.raises.type:
            problems.append(f"{where}: {target.id!r} raises a {target.raises.type}, this rule "
                            f"a {rule.raises.type}")
    return problems


def parse_rules(text: str, source: str = "<rules>") -> RulePack:
    """Parse rules YAML (a list of rules, or {rules: [...]}) or raise RuleError with every error."""
    pack, errors = _parse(text, source)
    if pack is None:
        raise RuleError(errors)
    return pack


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RuleError([f"{path}: cannot read: {e}"]) from e


def load_rules(path: str | Path | None = None) -> RulePack:
    """Load a rules file, or the built-in pack (rules/engine/pack.yaml) when path is None."""
    if path is None:
        text = resources.files("rules.engine").joinpath("pack.yaml").read_text("utf-8")
        return parse_rules(text, BUILTIN)
    p = Path(path)
    return parse_rules(_read(p), str(p))


def check_rules_file(path: str | Path) -> list[str]:
    """Every error in a rules file, one line each; empty when it is valid (`rules check`)."""
    p = Path(path)
    try:
        text = _read(p)
    except RuleError as e:
        return e.errors
    return _parse(text, str(p))[1]

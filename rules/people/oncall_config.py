"""The on-call file (SITEWATCH_ONCALL): people, and per department a weekly rota of shifts in
the site's time zone and an escalation chain. Errors name the file and the line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rules.engine.durations import Duration
from rules.engine.parts import Department

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$|^24:00$")
LINE = "__line__"  # where an entry started in its file (1-based), added by the loader


class OnCallConfigError(ValueError):
    """The on-call file is unreadable or invalid; the message names the file and line."""


class Person(BaseModel):
    """Someone who can be on duty, and how to reach them."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1)
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$")
    webhook: str | None = Field(None, pattern=r"^https?://")
    phone: str | None = None


def minutes(hhmm: str) -> int:
    """'08:30' -> 510; '24:00' -> 1440."""
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


class Shift(BaseModel):
    """Who is on duty on these days from `start` to `end` (local times; an end at or before
    the start runs past midnight into the next day)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    start: str
    end: str
    person: str
    line: int = Field(0, alias="__line__")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError("a local time HH:MM, 00:00 to 24:00")
        return v


class Step(BaseModel):
    """One level of the escalation chain: after this long unacknowledged, whom to call."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    after: Duration = 0.0  # seconds since the incident opened
    to: str  # "on_duty" or a person's id
    line: int = Field(0, alias="__line__")


class DepartmentRota(BaseModel):
    """A department's shifts and escalation chain."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    rota: list[Shift] = Field(min_length=1)
    escalation: list[Step] = Field(
        default_factory=lambda: [Step.model_validate({"to": "on_duty"})]
    )
    line: int = Field(0, alias="__line__")


class OnCallFile(BaseModel):
    """The whole file."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    timezone: str = "UTC"  # the site's time zone: rota times are wall-clock times there
    people: dict[str, Person]
    departments: dict[Department, DepartmentRota]
    line: int = Field(0, alias="__line__")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (an IANA name such as Asia/Taipei)"
            ) from None
        return v


class _LineLoader(yaml.SafeLoader):
    """A safe loader that notes each mapping's line, so errors can say where."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = {str(k): v for k, v in loader.construct_mapping(node, deep=True).items()}
    mapping[LINE] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _line_of(raw: Any, loc: tuple[Any, ...]) -> int | None:
    line, node = None, raw
    for part in loc:
        if isinstance(node, dict) and LINE in node:
            line = node[LINE]
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    if isinstance(node, dict) and LINE in node:
        line = node[LINE]
    return line


def _strip_people_lines(raw: Any) -> Any:
    # People are plain mappings to pydantic (extra=forbid): the line marker is only for errors.
    if isinstance(raw, dict) and isinstance(raw.get("people"), dict):
        raw["people"] = {k: {f: v for f, v in p.items() if f != LINE} if isinstance(p, dict)
                         else p for k, p in raw["people"].items() if k != LINE}
    if isinstance(raw, dict) and isinstance(raw.get("departments"), dict):
        raw["departments"].pop(LINE, None)
    return raw


def parse_oncall(text: str, source: str = "<oncall>") -> OnCallFile:
    """The on-call file from YAML text; errors raise OnCallConfigError("FILE:LINE: ...")."""
    try:
        raw = yaml.load(text, Loader=_LineLoader) or {}  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise OnCallConfigError(f"{source}: not valid YAML: {e}") from e
    lines = raw
    try:
        parsed = OnCallFile.model_validate(_strip_people_lines(_copy(raw)))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        line = _line_of(lines, first["loc"])
        at = f"{source}:{line}" if line else source
        raise OnCallConfigError(f"{at}: {where}: {first['msg']}") from e
    unknown = [(s.line, s.person) for d in parsed.departments.values() for s in d.rota
               if s.person not in parsed.people]
    unknown += [(s.line, s.to) for d in parsed.departments.values() for s in d.escalation
                if s.to != "on_duty" and s.to not in parsed.people]
    if unknown:
        line, who = unknown[0]
        raise OnCallConfigError(f"{source}:{line}: {who!r} is not one of the people")
    return parsed


def load_oncall(path: str | Path) -> OnCallFile:
    """The on-call file at `path`."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as e:
        raise OnCallConfigError(f"{p}: cannot read: {e}") from e
    return parse_oncall(text, str(p))


def _copy(raw: Any) -> Any:
    if isinstance(raw, dict):
        return {k: _copy(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_copy(v) for v in raw]
    return raw

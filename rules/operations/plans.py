"""Emergency plans (SPEC §8.3): per plan a title and a checklist per department, each in
English, Traditional and Simplified Chinese; from SITEWATCH_PLANS or the built-in set."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rules.engine.parts import Department
from rules.yaml_config import parse_yaml_model

Language = Literal["en", "zh-Hant", "zh-Hans"]
LANGUAGES: tuple[Language, ...] = ("en", "zh-Hant", "zh-Hans")
PLAN_ID = r"^[a-z][a-z0-9_]{0,63}$"
BUILT_IN = ("fire", "earthquake", "bomb_threat", "flood", "power_loss", "medical",
            "evacuation_drill")


class PlanConfigError(ValueError):
    """The plans file is unreadable or invalid; the message names the file and field."""


class Localised(BaseModel):
    """One text in each language; English is required, the others fall back to it."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    en: str = Field(min_length=1, max_length=300)
    zh_hant: str | None = Field(default=None, alias="zh-Hant", max_length=300)
    zh_hans: str | None = Field(default=None, alias="zh-Hans", max_length=300)

    def get(self, language: Language) -> str:
        """The text in `language` (English when it is missing)."""
        found = {"zh-Hant": self.zh_hant, "zh-Hans": self.zh_hans}.get(language)
        return found or self.en


class Steps(BaseModel):
    """One department's checklist in each language: the same steps, in the same order."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    en: list[str] = Field(min_length=1, max_length=30)
    zh_hant: list[str] | None = Field(default=None, alias="zh-Hant")
    zh_hans: list[str] | None = Field(default=None, alias="zh-Hans")

    @model_validator(mode="after")
    def _same_steps(self) -> Steps:
        for name, steps in (("zh-Hant", self.zh_hant), ("zh-Hans", self.zh_hans)):
            if steps is not None and len(steps) != len(self.en):
                raise ValueError(f"{name} has {len(steps)} steps, en has {len(self.en)}")
        return self

    def get(self, language: Language) -> list[str]:
        """The steps in `language` (English when it is missing)."""
        found = {"zh-Hant": self.zh_hant, "zh-Hans": self.zh_hans}.get(language)
        return list(found or self.en)


class Plan(BaseModel):
    """An emergency plan: a title and a checklist per department."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: Localised
    checklist: dict[Department, Steps] = Field(min_length=1)

    def render(self, language: Language = "en") -> str:
        """The plan as a runbook text: the title, then each department's numbered steps."""
        lines = [self.title.get(language)]
        for department, steps in self.checklist.items():
            lines.append(f"[{department}]")
            lines += [f"{n}. {step}" for n, step in enumerate(steps.get(language), 1)]
        return "\n".join(lines)


class _PlansFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plans: dict[str, Plan] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids(self) -> _PlansFile:
        import re

        for plan_id in self.plans:
            if not re.fullmatch(PLAN_ID, plan_id):
                raise ValueError(f"plan id {plan_id!r} does not match {PLAN_ID}")
        return self


def parse_plans(text: str, source: str = "<plans>") -> dict[str, Plan]:
    """Plans from YAML (`plans: {id: {title, checklist}}`); errors name the source and field."""
    return parse_yaml_model(text, source, _PlansFile, PlanConfigError).plans


def load_plans(path: str | Path | None) -> dict[str, Plan]:
    """Plans from a file, or the built-in set when there is none."""
    if path is None:
        text = resources.files("rules.operations").joinpath("plans.yaml").read_text("utf-8")
        return parse_plans(text, "built-in plans")
    p = Path(path)
    try:
        return parse_plans(p.read_text("utf-8"), str(p))
    except OSError as e:
        raise PlanConfigError(f"{p}: cannot read: {e}") from e

"""Request and response bodies of the operations endpoints (SPEC §8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.schemas import NAME_PATTERN
from rules.engine.parts import Department

TEXT = r"^[^\x00-\x08\x0b-\x1f\x7f]*$"  # no control characters but tab and newline
ZONE = Field(default=None, min_length=1, max_length=128, pattern=TEXT)


class TargetIn(BaseModel):
    """`{"site": S}` with an optional zone or device."""

    model_config = ConfigDict(extra="forbid")

    site: str = Field(pattern=NAME_PATTERN)
    zone: str | None = ZONE
    device_id: str | None = Field(default=None, pattern=NAME_PATTERN)


class DisablementIn(BaseModel):
    """Disable a target until a time at most 7 days away."""

    model_config = ConfigDict(extra="forbid")

    target: TargetIn
    reason: str = Field(min_length=1, max_length=2000, pattern=TEXT)
    until: AwareDatetime


class TestIn(BaseModel):
    """Put a target in walk test until a time at most 24 h away."""

    model_config = ConfigDict(extra="forbid")

    target: TargetIn
    until: AwareDatetime
    note: str = Field(default="", max_length=2000, pattern=TEXT)


class ShelveIn(BaseModel):
    """Shelve an alert until a time at most 24 h away."""

    model_config = ConfigDict(extra="forbid")

    until: AwareDatetime
    note: str = Field(default="", max_length=2000, pattern=TEXT)


class MatchersIn(BaseModel):
    """Which incidents: every given matcher must hold."""

    model_config = ConfigDict(extra="forbid")

    site: str | None = Field(default=None, pattern=NAME_PATTERN)
    zone: str | None = ZONE
    device_id: str | None = Field(default=None, pattern=NAME_PATTERN)
    rule: str | None = Field(default=None, min_length=1, max_length=128, pattern=TEXT)
    department: Department | None = None
    kind: Literal["alert", "ticket"] | None = None


class SilenceIn(BaseModel):
    """Silence matching incidents' notifications until a time at most 7 days away."""

    model_config = ConfigDict(extra="forbid")

    matchers: MatchersIn
    until: AwareDatetime
    comment: str = Field(min_length=1, max_length=2000, pattern=TEXT)


class WindowIn(BaseModel):
    """A maintenance window on a zone or a device of a site."""

    model_config = ConfigDict(extra="forbid")

    matchers: MatchersIn
    start: AwareDatetime
    end: AwareDatetime
    note: str = Field(min_length=1, max_length=2000, pattern=TEXT)


class EmergencyIn(BaseModel):
    """Declare an emergency of a plan at a target."""

    model_config = ConfigDict(extra="forbid")

    plan: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    target: TargetIn
    note: str = Field(default="", max_length=2000, pattern=TEXT)
    language: Literal["en", "zh-Hant", "zh-Hans"] = "en"


class EndIn(BaseModel):
    """Body of POST …/{id}/end (optional)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000, pattern=TEXT)


class OperationOut(BaseModel):
    """Fields every operation shows: who made it, until when, who ended it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    created_by: str
    created_at: datetime
    until: datetime
    ended_at: datetime | None
    ended_by: str | None
    active: bool


class DisablementOut(OperationOut):
    """A disablement."""

    site: str
    zone: str | None
    device_id: str | None
    reason: str
    life_safety: bool
    impairment_ticket_id: int | None


class SuppressedOut(BaseModel):
    """What a disablement hid (or a test saw) from one rule and device."""

    model_config = ConfigDict(from_attributes=True)

    rule_id: str
    device_id: str
    site: str
    zone: str | None
    first_at: datetime
    last_at: datetime
    count: int
    last_action: str
    message: str


class DisablementDetail(DisablementOut):
    """A disablement and every signal it hid."""

    suppressed: list[SuppressedOut]


class TestOut(OperationOut):
    """A walk test."""

    site: str
    zone: str | None
    device_id: str | None
    note: str


class TestDevice(BaseModel):
    """A device of the test's target and when it first alarmed (None: untested)."""

    device_id: str
    name: str
    kind: str | None
    zone: str | None
    first_alarm_at: datetime | None


class TestDetail(TestOut):
    """A walk test with each device of its target."""

    devices: list[TestDevice]
    untested: list[str]


class SilenceOut(OperationOut):
    """A silence."""

    site: str | None
    zone: str | None
    device_id: str | None
    rule_id: str | None
    department: str | None
    kind: str | None
    comment: str


class ShelvingOut(OperationOut):
    """A shelving of one alert."""

    incident_id: int
    note: str


class WindowOut(BaseModel):
    """A maintenance window."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    site: str | None
    zone: str | None
    device_id: str | None
    start: datetime
    end: datetime
    note: str
    created_by: str
    created_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None


def operation_out(model: type[OperationOut], record: Any, now: datetime) -> Any:
    """`record` as `model`, with `active` at `now`."""
    data = {k: getattr(record, k) for k in model.model_fields if k != "active"}
    return model(**data, active=record.active(now))

"""The parts rules are built from: device selection, what a rule raises (alert or ticket and
its grade), what clears an event rule, and the value types conditions compare."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from devices.kinds import KINDS

Severity = Literal["critical", "major", "minor"]
Priority = Literal["P1", "P2", "P3", "P4"]
Department = Literal["property_management", "maintenance", "environment", "security"]
Scalar = bool | float | str
# A ticket's checklist (SPEC §8.4): up to 50 items of up to 500 characters, in order.
ChecklistItemText = Annotated[str, Field(min_length=1, max_length=500, pattern=r"\S")]
Checklist = Annotated[tuple[ChecklistItemText, ...], Field(max_length=50)]


class Frozen(BaseModel):
    """Base of every rule model: unknown fields are refused, loaded values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Select(Frozen):
    """Which devices a rule watches: every list given must match; nothing given selects all."""

    kinds: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()  # device ids
    unregistered: bool = False  # only devices missing from the registry (their kind is unknown)

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in v if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown kind {unknown[0]!r}; known: {', '.join(sorted(KINDS))}")
        return v

    @model_validator(mode="after")
    def _unregistered_has_no_kind(self) -> Select:
        if self.unregistered and (self.kinds or self.devices):
            raise ValueError("'unregistered' selects devices of unknown kind and id; drop "
                             "'kinds' and 'devices'")
        return self

    def admits(self, kind: str | None, site: str, zone: str | None, device_id: str) -> bool:
        """True when a device with these facts is selected."""
        return (
            (not self.kinds or kind in self.kinds)
            and (not self.sites or site in self.sites)
            and (not self.zones or zone in self.zones)
            and (not self.devices or device_id in self.devices)
            and (not self.unregistered or kind is None)
        )


class LinkedTicket(Frozen):
    """A ticket opened alongside an alert (a detector in trouble needs a technician)."""

    priority: Priority
    department: Department = "maintenance"
    title: str = ""  # empty: the rule's title


class AlertSpec(Frozen):
    """The rule raises an emergency alert for security staff."""

    type: Literal["alert"]
    severity: Severity
    latching: bool  # True: stays active until a person resolves it, whatever the data does
    runbook: str = ""  # what the guard does; required for critical alerts
    department: Department = "security"
    linked_ticket: LinkedTicket | None = None
    # A critical alert needs a runbook: checked by the rule (_Rule._problems), alongside its
    # other cross-field checks, so every problem of a rule is reported in one run.


class TicketSpec(Frozen):
    """The rule raises a work order for maintenance (or another department)."""

    type: Literal["ticket"]
    priority: Priority
    department: Department = "maintenance"
    auto_resolve: bool = False  # True: resolves itself when the condition clears on fresh data


Raises = Annotated[AlertSpec | TicketSpec, Field(discriminator="type")]


class ClearWhen(Frozen):
    """What clears an event rule: a metric reaching a value, or another event."""

    metric: str | None = None
    equals: Scalar | None = None
    event: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ClearWhen:
        if (self.event is None) == (self.metric is None) or (self.metric is None) != (
            self.equals is None
        ):
            raise ValueError("give either 'event', or 'metric' with 'equals'")
        return self


def _names(v: Any) -> Any:
    return (v,) if isinstance(v, str) else v


EventNames = Annotated[tuple[str, ...], BeforeValidator(_names), Field(min_length=1)]

"""What the evaluator tells the incident service: a rule fired, repeated or cleared for a device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

SignalAction = Literal["fire", "clear"]


@dataclass(frozen=True, slots=True)
class Signal:
    """A rule's verdict for one device at one instant.

    `fire`: the condition holds (a new trigger, or a repeat when an incident is already open:
    the incident service bumps `occurrences`). `clear`: the condition has cleared on fresh
    data; only non-latching, auto-resolving incidents resolve on it. Missing data never
    produces `clear`.
    """

    rule_id: str
    action: SignalAction
    site: str
    device_id: str
    at: float  # Unix seconds: when the evaluator decided (the clock handed in)
    zone: str | None = None
    device_kind: str | None = None  # None for an unregistered device
    value: Any = None  # the value or event that triggered, for the timeline
    message: str = ""  # one human line, e.g. "filter_dp_pa 262 > 250 for 5m"

    @property
    def unit(self) -> str:
        """The device's key across sites: a registered id is unique in the registry; an
        unregistered one is qualified by its site, so `x` at two sites is two devices."""
        return self.device_id if self.device_kind is not None else f"{self.device_id}@{self.site}"

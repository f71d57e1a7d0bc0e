"""What the evaluator tells the incident service: a rule fired, repeated or cleared for a device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from devices.reading import Reading

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


def reading_key(sig: Signal, r: Reading) -> str:
    """The signal's idempotency key: the rule, device and action, and the reading behind it."""
    return f"{sig.rule_id}|{sig.site}|{sig.device_id}|{sig.action}|{r.channel}:{r.ts!r}:{r.seq}"


def tick_key(sig: Signal) -> str:
    """The idempotency key of a signal the passage of time caused (hold ran out, stale)."""
    return f"{sig.rule_id}|{sig.site}|{sig.device_id}|{sig.action}|tick:{sig.at!r}"

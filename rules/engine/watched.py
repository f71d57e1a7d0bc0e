"""A device the evaluator expects data from: where, when last heard, its stale rules."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from devices.kinds import KINDS
from rules.engine.models import StaleRule

IntervalOf = Callable[[str], float | None]  # device id -> expected reporting interval, seconds


@dataclass(slots=True)
class Watched:
    """A device the evaluator expects data from, and the stale rules that watch it."""

    site: str
    zone: str | None
    kind: str | None
    at: float  # Unix seconds of the last telemetry or event (evaluator clock)
    stale: list[tuple[StaleRule, float]] = field(default_factory=list)  # (rule, after s)


def no_interval(_device_id: str) -> float | None:
    """No device has a configured interval (kinds' defaults apply)."""
    return None


def plain_device_id(device_id: str, site: str, kind: str | None) -> str:
    """The id a signal names: an unregistered device's state key (`id@site`) without its site."""
    suffix = f"@{site}"
    return device_id[: -len(suffix)] if kind is None and device_id.endswith(suffix) else device_id


def watched(
    stale_rules: Iterable[StaleRule], interval_of: IntervalOf, site: str, device_id: str,
    kind: str | None, zone: str | None, at: float,
) -> Watched:
    """A device last heard at `at`, with the stale rules that select it and after how long
    (a rule's `after`, or its `intervals` times the device's or its kind's interval)."""
    seen = Watched(site, zone, kind, at)
    for rule in stale_rules:
        if not rule.select.admits(kind, site, zone, device_id):
            continue
        after = rule.after
        if after is None and rule.intervals is not None:
            interval = interval_of(device_id)
            if interval is None and kind in KINDS:
                interval = KINDS[kind].interval_s
            after = rule.intervals * interval if interval else None
        if after:
            seen.stale.append((rule, after))
    return seen

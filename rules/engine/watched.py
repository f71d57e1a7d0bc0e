"""A device the evaluator expects data from: where, when last heard, its stale rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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

"""A target (`{"site": S}` with an optional zone or device) checked against the registry, and
the time limits every operation keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from devices.registry import Device, Registry
from rules.engine.models import RulePack
from rules.operations.errors import InvalidField, NotAllowed, UnknownTarget

# Roles that may disable or test a device family (SPEC §8.1's role matrix); admin may do all.
FAMILY_ROLES: Mapping[str, frozenset[str]] = {
    "fire": frozenset({"security", "admin"}),
    "access": frozenset({"security", "admin"}),
    "hvac": frozenset({"maintenance", "admin"}),
}


@dataclass(frozen=True)
class Target:
    """A site, optionally narrowed to one zone or one device."""

    site: str
    zone: str | None = None
    device_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """The target as the API writes it."""
        return {"site": self.site, "zone": self.zone, "device_id": self.device_id}

    def covers(self, site: str | None, zone: str | None, device_id: str | None) -> bool:
        """Whether a signal or incident of (site, zone, device) falls inside this target."""
        if site != self.site:
            return False
        if self.device_id is not None:
            return device_id == self.device_id
        return self.zone is None or zone == self.zone

    def devices(self, registry: Registry) -> list[Device]:
        """The registered devices inside the target, by id."""
        found = [d for d in registry.devices.values() if self.covers(d.site, d.zone, d.id)]
        return sorted(found, key=lambda d: d.id)


def resolve_target(registry: Registry, raw: Mapping[str, Any]) -> Target:
    """A Target from the registry (UnknownTarget: no such site, zone or device)."""
    site, zone, device_id = raw.get("site"), raw.get("zone"), raw.get("device_id")
    if not site:
        raise InvalidField("target.site", "a target names its site")
    if zone is not None and device_id is not None:
        raise InvalidField("target", "give a zone or a device_id, not both")
    target = Target(site, zone, device_id)
    if not target.devices(registry):
        what = (f"device {device_id!r}" if device_id else f"zone {zone!r}" if zone else "site")
        raise UnknownTarget(f"target: no {what} in site {site!r} in the registry")
    return target


def families(target: Target, registry: Registry) -> set[str]:
    """The device families inside the target."""
    return {d.spec.family for d in target.devices(registry)}


def life_safety(target: Target, registry: Registry) -> bool:
    """Whether the target holds a life-safety (fire) device."""
    return any(d.spec.life_safety for d in target.devices(registry))


def check_role(role: str, target: Target, registry: Registry, what: str) -> None:
    """NotAllowed unless `role` may act on every family inside the target."""
    for family in sorted(families(target, registry)):
        allowed = FAMILY_ROLES.get(family, frozenset({"admin"}))
        if role not in allowed:
            raise NotAllowed(
                f"role {role!r} may not {what} {family} devices; needs one of {sorted(allowed)}"
            )


def check_until(until: datetime, now: datetime, limit: timedelta, field: str = "until") -> None:
    """InvalidField unless `until` is after `now` and at most `limit` away."""
    if until.tzinfo is None:
        raise InvalidField(field, "give a time zone (e.g. 2026-11-30T18:00:00Z)")
    if until <= now:
        raise InvalidField(field, f"{until.isoformat()} is not in the future")
    if until - now > limit:
        raise InvalidField(field, f"at most {_human(limit)} from now")


def check_text(value: str, field: str, *, required: bool = True, max_length: int = 2000) -> str:
    """The text stripped; InvalidField when empty (if required), too long or with controls."""
    text = value.strip()
    if required and not text:
        raise InvalidField(field, "must not be empty")
    if len(text) > max_length:
        raise InvalidField(field, f"at most {max_length} characters")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise InvalidField(field, "must not contain control characters")
    return text


def check_matchers(registry: Registry, pack: RulePack, matchers: Mapping[str, Any]) -> None:
    """UnknownTarget when a matcher names a site, zone, device or rule that does not exist."""
    devices = registry.devices.values()
    site, zone, device = matchers.get("site"), matchers.get("zone"), matchers.get("device_id")
    if site is not None and not any(d.site == site for d in devices):
        raise UnknownTarget(f"matchers.site: no site {site!r} in the registry")
    if zone is not None and not any(d.zone == zone and site in (None, d.site)
                                    for d in devices):
        raise UnknownTarget(f"matchers.zone: no zone {zone!r} in the registry")
    if device is not None and device not in registry.devices:
        raise UnknownTarget(f"matchers.device_id: no device {device!r} in the registry")
    rule = matchers.get("rule")
    if rule is not None and pack.get(rule) is None:
        raise UnknownTarget(f"matchers.rule: no rule {rule!r} in the rule pack")


def _human(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 24 and hours % 24 == 0 else f"{hours:g} hours"

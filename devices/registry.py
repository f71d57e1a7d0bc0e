"""The device registry: sites, zones and devices, loaded from YAML and validated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from devices.kinds import KINDS, DeviceKind

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # site and device ids (SPEC §2)


class RegistryError(ValueError):
    """The registry file is unreadable or invalid; the message names the file and entry."""


# Broker usernames of the service and the simulator: a device with one of these ids would
# be given that account's password by the broker's device list (deploy/mosquitto).
RESERVED_IDS = frozenset({"sitewatch", "simulator"})


class Device(BaseModel):
    """One registered device."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: str
    site: str
    zone: str
    name: str = ""
    interval_s: float | None = Field(default=None, gt=0)  # overrides the kind's interval
    floor: str | None = Field(default=None, min_length=1, max_length=64)  # for the site map
    x: float | None = Field(default=None, ge=0, le=100)  # % of the floor plan's width, from left
    y: float | None = Field(default=None, ge=0, le=100)  # % of the floor plan's height, from top

    @field_validator("id", "site")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        if not NAME_RE.fullmatch(v):
            raise ValueError(f"{v!r} does not match {NAME_RE.pattern}")
        return v

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v.lower() in RESERVED_IDS:
            raise ValueError(f"device id {v!r} is reserved for the broker's own accounts")
        return v

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if v not in KINDS:
            raise ValueError(f"unknown kind {v!r}; known: {', '.join(sorted(KINDS))}")
        return v

    @property
    def spec(self) -> DeviceKind:
        """The kind's data (metrics, events, interval)."""
        return KINDS[self.kind]

    @property
    def stale_after_s(self) -> float:
        """Silence, in seconds, after which this device is stale (three intervals)."""
        return 3 * (self.interval_s or self.spec.interval_s)


class _RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zones: dict[str, str] = Field(default_factory=dict)  # zone id -> human name
    devices: list[Device]


@dataclass(eq=False)
class Registry:
    """All registered devices, looked up by id or by (site, device id).

    Changed at runtime only through replace(), copy-on-write: a reader that took `devices`
    keeps a consistent dict, and `version` tells memos of lookups (the decoder's) to start over.
    """

    devices: dict[str, Device]
    zones: dict[str, str]
    version: int = 0  # bumped by every replace()

    def replace(self, devices: dict[str, Device], zones: dict[str, str] | None = None) -> None:
        """Swap in new contents (new dicts, never mutated after) and bump the version."""
        self.devices = devices
        if zones is not None:
            self.zones = zones
        self.version += 1

    def known_zones(self) -> set[str]:
        """Zones that exist: those declared with a name, and those a device already uses."""
        return set(self.zones) | {d.zone for d in self.devices.values()}

    def zone_error(self, zone: str) -> str | None:
        """Why a device may not be placed in this zone (it does not exist), or None."""
        known = self.known_zones()
        if zone in known:
            return None
        return f"unknown zone {zone!r}; known: {', '.join(sorted(known)) or 'none'}"

    def get(self, site: str, device_id: str) -> Device | None:
        """The registered device with this id at this site, or None."""
        d = self.devices.get(device_id)
        return d if d is not None and d.site == site else None

    def __len__(self) -> int:
        return len(self.devices)

    @classmethod
    def from_devices(cls, devices: list[Device], zones: dict[str, str] | None = None) -> Registry:
        """Build a registry, refusing duplicate ids."""
        by_id: dict[str, Device] = {}
        for d in devices:
            if d.id in by_id:
                raise RegistryError(f"duplicate device id {d.id!r}")
            by_id[d.id] = d
        return cls(by_id, dict(zones or {}))


# libyaml's safe loader where PyYAML was built with it (its wheels are): a registry of
# 10,000 devices parses in 1.0 s instead of 5.2 s, which a start and every reload wait for.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_registry(text: str, source: str = "<registry>") -> Registry:
    """Parse registry YAML; errors name the source and the offending device."""
    try:
        raw = yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as e:
        raise RegistryError(f"{source}: not valid YAML: {e}") from e
    try:
        parsed = _RegistryFile.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RegistryError(f"{source}: {where}: {first['msg']}") from e
    if parsed.zones:  # a file that names its zones places every device in one of them
        for i, d in enumerate(parsed.devices):
            if d.zone not in parsed.zones:
                raise RegistryError(
                    f"{source}: devices.{i}.zone: unknown zone {d.zone!r}; declared: "
                    f"{', '.join(sorted(parsed.zones))}"
                )
    try:
        return Registry.from_devices(parsed.devices, parsed.zones)
    except RegistryError as e:
        raise RegistryError(f"{source}: {e}") from e


def load_registry(path: str | Path | None = None) -> Registry:
    """Load the registry from a YAML file, or the built-in sample site when path is None."""
    if path is None:
        text = resources.files("devices").joinpath("sample_site.yaml").read_text("utf-8")
        return parse_registry(text, "built-in sample_site.yaml")
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as e:
        raise RegistryError(f"{p}: cannot read: {e}") from e
    return parse_registry(text, str(p))

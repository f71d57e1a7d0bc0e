"""Notification routes: which incident changes go where, loaded from a YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rules.incidents.record import Incident
from rules.yaml_config import parse_yaml_model

# The changes worth telling people about unless a route lists its own actions.
NOTABLE_ACTIONS = ("opened", "escalated", "sla_breached", "resolved", "auto_resolved", "cancelled")


class NotificationConfigError(ValueError):
    """The routes file is unreadable or invalid; the message names the file and field."""


class Route(BaseModel):
    """Where to send which incident changes; an empty filter list matches everything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    channel: Literal["webhook", "email"]
    kinds: list[Literal["alert", "ticket"]] = []
    departments: list[str] = []
    grades: list[str] = []  # severities (critical...) and/or priorities (P1...)
    actions: list[str] = list(NOTABLE_ACTIONS)  # timeline actions: opened, escalated...
    url: str | None = None  # webhook
    secret: str | None = None  # webhook: HMAC-SHA256 key
    smtp_host: str | None = None  # email
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    mail_from: str | None = None
    mail_to: list[str] = []
    timeout_s: float = Field(default=5.0, gt=0)  # per attempt, seconds
    max_attempts: int = Field(default=8, ge=1)
    backoff_s: float = Field(default=2.0, ge=0)  # wait before the 2nd attempt; doubles after
    backoff_max_s: float = Field(default=600.0, ge=0)  # longest wait between attempts
    tests: bool = False  # also send walk-test alerts (SPEC §8.1), which others never get

    @model_validator(mode="after")
    def _channel_settings(self) -> Route:
        if self.channel == "webhook" and not (self.url and self.secret):
            raise ValueError("a webhook route needs url and secret")
        if self.channel == "email" and not (self.smtp_host and self.mail_from and self.mail_to):
            raise ValueError("an email route needs smtp_host, mail_from and mail_to")
        return self

    def matches(self, incident: Incident, action: str) -> bool:
        """Whether this change of this incident goes to this route."""
        grade = incident.severity or incident.priority
        return (
            action in self.actions
            and (not self.kinds or incident.kind in self.kinds)
            and (not self.departments or incident.department in self.departments)
            and (not self.grades or grade in self.grades)
        )

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after `attempts` failed attempts (exponential, capped)."""
        return float(min(self.backoff_s * 2 ** max(attempts - 1, 0), self.backoff_max_s))


class _RoutesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    routes: list[Route] = []


def parse_routes(text: str, source: str = "<notifications>") -> list[Route]:
    """Parse the routes YAML (`routes: [...]`); errors name the source and field."""
    routes = parse_yaml_model(text, source, _RoutesFile, NotificationConfigError).routes
    names = [r.name for r in routes]
    if len(names) != len(set(names)):
        raise NotificationConfigError(f"{source}: route names must be unique")
    return routes


def load_routes(path: str | Path | None) -> list[Route]:
    """Routes from a YAML file; no file means no notifications."""
    if path is None:
        return []
    p = Path(path)
    try:
        return parse_routes(p.read_text("utf-8"), str(p))
    except OSError as e:
        raise NotificationConfigError(f"{p}: cannot read: {e}") from e


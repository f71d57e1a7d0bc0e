"""Notification routes: which incident changes go where, loaded from a YAML file."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rules.incidents.record import Incident
from rules.yaml_config import parse_yaml_model

# Hosts a plain-http webhook may reach without `insecure: true` (a receiver on this machine).
LOOPBACK_NAMES = ("localhost",)
# Where a secret may come from instead of the YAML itself: <field>_env, <field>_file.
SECRET_FIELDS = ("secret", "smtp_password")

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
    url: str | None = None  # webhook: https://, or http:// to loopback or with insecure
    insecure: bool = False  # webhook: allow http:// to a host other than loopback
    secret: str | None = Field(default=None, repr=False)  # webhook: HMAC-SHA256 key
    secret_env: str | None = None  # webhook: read the secret from this environment variable
    secret_file: str | None = None  # webhook: read the secret from this file (trimmed)
    smtp_host: str | None = None  # email
    smtp_port: int = 25
    smtp_starttls: bool = False  # upgrade with STARTTLS, certificate and host name checked
    smtp_ca_file: str | None = None  # PEM CA bundle to trust instead of the system's
    smtp_username: str | None = None  # login only over STARTTLS
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_password_env: str | None = None
    smtp_password_file: str | None = None
    mail_from: str | None = None
    mail_to: list[str] = []
    timeout_s: float = Field(default=5.0, gt=0)  # per attempt, seconds
    max_attempts: int = Field(default=8, ge=1)
    backoff_s: float = Field(default=2.0, ge=0)  # wait before the 2nd attempt; doubles after
    backoff_max_s: float = Field(default=600.0, ge=0)  # longest wait between attempts
    concurrency: int = Field(default=2, ge=1, le=32)  # sends in flight at once on this route
    queue_max: int = Field(default=1000, ge=1)  # due deliveries waiting for a sender
    breaker_failures: int = Field(default=5, ge=1)  # failures in a row that open the breaker
    breaker_open_s: float = Field(default=30.0, gt=0)  # seconds open before one probe
    tests: bool = False  # also send walk-test alerts (SPEC §8.1), which others never get

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_elsewhere(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name in SECRET_FIELDS:
            env, file = data.get(f"{name}_env"), data.get(f"{name}_file")
            if sum(x is not None for x in (data.get(name), env, file)) > 1:
                raise ValueError(f"give one of {name}, {name}_env and {name}_file")
            if env is not None:
                if not os.environ.get(env):
                    raise ValueError(f"{name}_env: environment variable {env} is not set")
                data[name] = os.environ[env]
            elif file is not None:
                try:
                    data[name] = Path(file).read_text("utf-8").strip()
                except OSError as e:
                    raise ValueError(f"{name}_file: cannot read {file}: {e.strerror}") from None
        return data

    @model_validator(mode="after")
    def _channel_settings(self) -> Route:
        if self.channel == "webhook":
            if not (self.url and self.secret):
                raise ValueError("a webhook route needs url and secret")
            _check_webhook_url(self.url, self.insecure)
        if self.channel == "email" and not (self.smtp_host and self.mail_from and self.mail_to):
            raise ValueError("an email route needs smtp_host, mail_from and mail_to")
        if self.smtp_username and not self.smtp_starttls:
            raise ValueError("smtp_username needs smtp_starttls: true (no login over plain text)")
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


def _check_webhook_url(url: str, insecure: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("url must be https://HOST/... (or http:// to loopback)")
    if parts.scheme == "http" and not insecure and not _is_loopback(parts.hostname):
        raise ValueError("url: http:// is refused unless the route says insecure: true")


check_webhook_url = _check_webhook_url  # public: a person's webhook is checked alike


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def addressed(route: Route, payload: str) -> Route:
    """The route with the payload's `recipient` (one person's e-mail or webhook, checked when
    it was taken) instead of the route's own; the route itself when there is none."""
    if '"recipient"' not in payload:
        return route
    recipient = json.loads(payload).get("recipient") or {}
    if route.channel == "email" and recipient.get("email"):
        return route.model_copy(update={"mail_to": [recipient["email"]]})
    if route.channel == "webhook" and recipient.get("webhook"):
        return route.model_copy(update={"url": recipient["webhook"]})
    return route


def rank(incident: Incident) -> int:
    """Sending order within a route: alerts before tickets, the gravest first (0 = first)."""
    order = {"critical": 0, "major": 1, "minor": 2, "P1": 3, "P2": 4, "P3": 5, "P4": 6}
    grade = incident.severity or incident.priority
    fallback = 2 if incident.kind == "alert" else 7
    return order.get(grade or "", fallback)


class PeopleRoutes(BaseModel):
    """Routes whose transport carries notices to people (on-call persons, ticket requesters):
    an email route's SMTP server and sender, a webhook route's secret and timeouts; never
    their recipients. A route meant only for this can say `actions: []`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    email: str | None = None  # name of an email route
    webhook: str | None = None  # name of a webhook route


class _RoutesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    routes: list[Route] = []
    people: PeopleRoutes = PeopleRoutes()


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



def load_people_routes(path: str | Path | None) -> tuple[Route | None, Route | None]:
    """The (email, webhook) routes named under `people:` in the routes file, checked."""
    if path is None:
        return None, None
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as e:
        raise NotificationConfigError(f"{p}: cannot read: {e}") from e
    parsed = parse_yaml_model(text, str(p), _RoutesFile, NotificationConfigError)
    by_name = {r.name: r for r in parsed.routes}
    found: list[Route | None] = []
    for channel in ("email", "webhook"):
        name = getattr(parsed.people, channel)
        route = by_name.get(name) if name else None
        if name and (route is None or route.channel != channel):
            raise NotificationConfigError(f"{p}: people.{channel}: no {channel} route {name!r}")
        found.append(route)
    return found[0], found[1]

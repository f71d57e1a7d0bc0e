"""Notices to people through the notification routes' own delivery machinery: one route per
on-call person and channel (its own lane, queue and breaker), two for ticket requesters, all
made from the transports the routes file names under `people:`; and the delivery row a
notice becomes, written in the caller's transaction (the outbox pattern)."""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa

from rules.db.schema import deliveries
from rules.incidents.record import Incident, TimelineEntry
from rules.notify.intake import render_payload
from rules.notify.routes import Route, rank
from rules.people.oncall_config import Person

_FROM_ELSEWHERE = {"secret_env", "secret_file", "smtp_password_env", "smtp_password_file"}
REQUESTER_ROUTES = {"email": "requesters.email", "webhook": "requesters.webhook"}


def _derived(base: Route, name: str) -> Route:
    """`base`'s transport under a new name, matching no incident change by itself."""
    data = base.model_dump(exclude=_FROM_ELSEWHERE)
    data.update(name=name, actions=[], kinds=[], departments=[], grades=[], concurrency=1,
                tests=False)
    return Route.model_validate(data)


def route_name(person_id: str, channel: str) -> str:
    """The route of one person's channel: `oncall.<id>.<channel>` (id made name-safe)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", person_id)[:40]
    return f"oncall.{safe}.{channel}"


def person_routes(
    people: dict[str, Person], email: Route | None, webhook: Route | None
) -> dict[str, dict[str, Route]]:
    """person id -> channel -> route, for each contact a transport is configured for."""
    out: dict[str, dict[str, Route]] = {}
    for pid, person in people.items():
        mine = {}
        if person.email and email is not None:
            mine["email"] = _derived(email, route_name(pid, "email")).model_copy(
                update={"mail_to": [person.email]})
        if person.webhook and webhook is not None:
            mine["webhook"] = _derived(webhook, route_name(pid, "webhook")).model_copy(
                update={"url": person.webhook})
        out[pid] = mine
    return out


def requester_routes(email: Route | None, webhook: Route | None) -> dict[str, Route]:
    """channel -> the requesters' route (the address travels in each payload)."""
    return {channel: _derived(base, REQUESTER_ROUTES[channel])
            for channel, base in (("email", email), ("webhook", webhook)) if base is not None}


def enqueue(
    conn: sa.Connection, route: Route, incident: Incident, entry: TimelineEntry, key: str,
    extra: dict[str, Any], now: float,
) -> bool:
    """Log one pending delivery of this change to this route with `extra` in its payload
    (person, links, recipient); False when the key is already logged."""
    exists = conn.scalar(sa.select(sa.func.count()).select_from(deliveries).where(
        deliveries.c.idempotency_key == key))
    if exists:
        return False
    body = json.loads(render_payload(incident, entry, key))
    body.update(extra)
    conn.execute(deliveries.insert().values(
        idempotency_key=key, route=route.name, channel=route.channel, timeline_id=entry.id,
        incident_id=incident.id, action=entry.action, status="pending", attempts=0,
        last_error=None, payload=json.dumps(body, sort_keys=True, separators=(",", ":")),
        created_at=now, next_attempt_at=now, delivered_at=None, rank=rank(incident)))
    return True

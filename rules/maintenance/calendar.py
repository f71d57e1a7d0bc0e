"""Preventive-maintenance work as a calendar: upcoming scheduled work and open tickets' due
times, as iCalendar events (made with the `icalendar` library) a calendar app subscribes to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from devices.registry import Registry
from rules.incidents.record import Incident
from rules.maintenance.config import Schedule
from rules.maintenance.schedules import targets

PER_SCHEDULE_MAX = 2_000  # occurrences of one schedule in one calendar (all its targets)
WORK_DURATION = timedelta(hours=1)  # how long a calendar entry blocks; the ticket has the SLA


@dataclass(frozen=True)
class CalendarItem:
    """One entry: scheduled work to come (`uid` stable across fetches) or an open ticket due."""

    uid: str
    start: datetime  # aware UTC
    title: str
    description: str
    department: str
    priority: str
    location: str
    site: str | None = None  # whose work it is: a site-scoped token sees only its sites'


def upcoming_work(
    schedules: Sequence[Schedule], registry: Registry, start: datetime, end: datetime
) -> list[CalendarItem]:
    """Every calendar schedule's occurrence in [start, end), per target, oldest first.

    Meter schedules have no date until the meter crosses; their tickets appear once opened."""
    items: list[CalendarItem] = []
    for schedule in schedules:
        if schedule.cron is None:
            continue
        trigger = schedule.trigger()
        found = targets(schedule, registry)
        fire = trigger.get_next_fire_time(None, start)
        count = 0
        while fire is not None and fire < end and count < PER_SCHEDULE_MAX:
            at = fire.astimezone(UTC)
            for target in found:
                items.append(CalendarItem(
                    uid=f"{schedule.id}/{target.key}/{at:%Y%m%dT%H%M%SZ}@sitewatch",
                    start=at,
                    title=f"{schedule.title} — {target.label}",
                    description=schedule.description,
                    department=schedule.department,
                    priority=schedule.priority,
                    location=_where(target.site, target.zone, registry),
                    site=target.site,
                ))
                count += 1
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return sorted(items, key=lambda i: (i.start, i.uid))


def open_tickets_due(tickets: Iterable[Incident], registry: Registry) -> list[CalendarItem]:
    """Open tickets as entries at their resolve-by deadline (opened time when there is none)."""
    out = []
    for t in tickets:
        if t.kind != "ticket" or not t.is_open:
            continue
        out.append(CalendarItem(
            uid=f"ticket-{t.id}@sitewatch",
            start=(t.resolve_by or t.opened_at).astimezone(UTC),
            title=f"[{t.priority}] {t.title}",
            description=t.description,
            department=t.department,
            priority=t.priority or "",
            location=t.location or _where(t.site, t.zone, registry),
            site=t.site,
        ))
    return out


def to_ics(items: Iterable[CalendarItem], *, name: str, now: datetime) -> bytes:
    """An iCalendar (RFC 5545) document of `items`."""
    cal = Calendar()
    cal.add("prodid", "-//Sitewatch//Preventive maintenance//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    for item in items:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", now)
        event.add("dtstart", item.start)
        event.add("dtend", item.start + WORK_DURATION)
        event.add("summary", item.title)
        if item.description:
            event.add("description", item.description)
        if item.location:
            event.add("location", item.location)
        event.add("categories", [item.department, item.priority])
        cal.add_component(event)
    return cal.to_ical()


def _where(site: str | None, zone: str | None, registry: Registry) -> str:
    if site is None:
        return ""
    return f"{site} · {registry.zones.get(zone, zone)}" if zone else site

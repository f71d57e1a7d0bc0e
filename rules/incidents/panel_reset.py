"""A fire panel's `reset` written on the timelines of the open fire alerts of its site.

A reset means someone cleared the panel (normally the brigade or the fire safety officer once
the building is safe); the guard's alert must show when, but it does not resolve anything: a
fire alarm latches until a person resolves it (SPEC §6)."""

from __future__ import annotations

from datetime import UTC, datetime

from devices.kinds import KINDS
from devices.reading import Reading
from rules.engine.models import Rule, RulePack
from rules.engine.parts import AlertSpec
from rules.incidents.record import TimelineEntry
from rules.incidents.service import IncidentService


def is_fire_alert_rule(rule: Rule) -> bool:
    """True for a rule raising an alert about fire devices (or an unregistered fire alarm)."""
    if not isinstance(rule.raises, AlertSpec):
        return False
    kinds = rule.select.kinds
    if not kinds:
        return rule.select.unregistered and rule.raises.severity == "critical"
    return all(KINDS[k].family == "fire" for k in kinds)


class PanelResets:
    """RulesWorker observer: records each fire panel `reset` on its site's open fire alerts."""

    def __init__(self, incidents: IncidentService, pack: RulePack) -> None:
        self._incidents = incidents
        self._fire_rules = tuple(sorted(r.id for r in pack.rules if is_fire_alert_rule(r)))

    def observe(self, reading: Reading) -> None:
        """The reading hook (RulesWorker observers): see `record`."""
        self.record(reading)

    def record(self, reading: Reading) -> list[TimelineEntry]:
        """Record a panel reset; any other reading is ignored. The entries written."""
        if reading.channel != "event" or reading.event != "reset":
            return []
        if reading.kind != "fire_panel" or not self._fire_rules:
            return []
        when = datetime.fromtimestamp(reading.ts, UTC).isoformat()
        details = "".join(f" {k}={v}" for k, v in reading.data.items())
        return self._incidents.note_open_alerts(
            site=reading.site,
            rule_ids=self._fire_rules,
            actor=f"device:{reading.device_id}",
            action="panel_reset",
            note=f"fire panel {reading.device_id} reset at {when}{details}",
            now=reading.received_at,
        )

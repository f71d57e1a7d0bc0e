"""Resolving a ticket whose condition is still present (issue 17.15).

A technician resolved "Air filter clogged" while the filter still read 381 Pa and nothing
reopened it. Now: refused (409) unless forced with a note; a condition still present a grace
period after a forced resolve opens a new ticket."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from devices.reading import Reading
from rules.db.rule_state import SqlStateStore
from rules.engine.evaluator import Evaluator
from rules.engine.loader import parse_rules
from rules.incidents.record import ConditionStillPresent, NoteRequired
from rules.incidents.service import IncidentService

T0 = 1_795_773_600.0  # Unix seconds
GRACE = 600.0  # seconds

RULES = """
- id: filter_clogged
  title: Air filter clogged
  description: Filter pressure drop over 250 Pa.
  kind: threshold
  select: {kinds: [air_handler]}
  metric: filter_dp_pa
  above: 250
  clear: 200
  raises: {type: ticket, priority: P4, auto_resolve: false}
"""


class Plant:
    """One air handler under the filter rule; evaluator state in the same database."""

    def __init__(self, engine: sa.Engine) -> None:
        pack = parse_rules(RULES)
        self.evaluator = Evaluator(pack, SqlStateStore(engine))
        self.incidents = IncidentService(engine, pack, resolve_grace_s=GRACE)

    def filter(self, pa: float, at: float) -> None:
        reading = Reading("hq", "ahu-1", "telemetry", at, at, kind="air_handler", zone="plant",
                          metrics={"filter_dp_pa": pa})
        for s in self.evaluator.evaluate(reading, at):
            self.incidents.apply(s)

    def tickets(self) -> list[tuple[int, str]]:
        items, _ = self.incidents.list(kind="ticket", limit=500)
        return sorted((i.id, i.state) for i in items)


@pytest.fixture
def plant(engine: sa.Engine) -> Plant:
    return Plant(engine)


def test_resolving_while_the_filter_still_reads_high_is_refused(plant: Plant) -> None:
    plant.filter(381, T0)
    [(ticket, _)] = plant.tickets()
    with pytest.raises(ConditionStillPresent, match="still present"):
        plant.incidents.transition(ticket, "resolve", actor="tech", now=T0 + 60)
    with pytest.raises(NoteRequired):
        plant.incidents.transition(ticket, "resolve", actor="tech", force=True, now=T0 + 60)
    plant.filter(150, T0 + 120)  # cleared: an ordinary resolve goes through
    assert plant.incidents.transition(ticket, "resolve", actor="tech",
                                      now=T0 + 180).state == "resolved"


def test_a_forced_resolve_with_the_condition_still_present_opens_a_new_ticket_after_grace(
    plant: Plant,
) -> None:
    plant.filter(381, T0)
    [(ticket, _)] = plant.tickets()
    done = plant.incidents.transition(ticket, "resolve", actor="tech", force=True,
                                      note="new filter fitted; sensor reads wrong", now=T0 + 60)
    assert done.state == "resolved"
    assert "forced" in plant.incidents.timeline(ticket)[-1].note
    assert plant.incidents.recheck_forced(now=T0 + 60 + GRACE - 1) == []
    entries = plant.incidents.recheck_forced(now=T0 + 60 + GRACE)
    assert [e.action for e in entries] == ["opened"]
    assert "still present" in entries[0].note and f"#{ticket}" in entries[0].note
    assert [s for _, s in plant.tickets()] == ["resolved", "open"]
    assert plant.incidents.recheck_forced(now=T0 + 60 + 2 * GRACE) == []  # once


def test_a_forced_resolve_whose_condition_cleared_meanwhile_opens_nothing(plant: Plant) -> None:
    plant.filter(381, T0)
    [(ticket, _)] = plant.tickets()
    plant.incidents.transition(ticket, "resolve", actor="tech", force=True, note="replaced",
                               now=T0 + 60)
    plant.filter(120, T0 + 120)
    assert plant.incidents.recheck_forced(now=T0 + 60 + GRACE) == []
    assert [s for _, s in plant.tickets()] == ["resolved"]


def test_the_api_answers_409_then_422_without_a_note_then_resolves_by_force(
    tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.tokens import create_token
    from tests.api.conftest import bearer, build_runtime

    rt = build_runtime(tmp_path)
    plant = Plant(rt.engine)
    rt.incidents = plant.incidents
    rt.pack = parse_rules(RULES)
    plant.filter(381, T0)
    [(ticket, _)] = plant.tickets()
    tech = bearer(create_token(rt.engine, "tech", "maintenance"))
    with TestClient(create_app(rt)) as client:
        url = f"/api/v1/incidents/{ticket}/resolve"
        r = client.post(url, json={"note": "done"}, headers=tech)
        assert r.status_code == 409 and "still present" in r.json()["detail"]
        r = client.post(url, json={"force": True}, headers=tech)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "note"]
        r = client.post(url, json={"force": True, "note": "sensor faulty"}, headers=tech)
        assert r.status_code == 200 and r.json()["state"] == "resolved"

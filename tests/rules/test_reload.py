"""Hot reload: unchanged rules keep their state, removed rules' incidents stay open with a note,
a bad file changes nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from devices.liveness import DeviceLiveness
from devices.registry import Registry
from rules.db.database import open_database
from rules.db.outbox import SqlSignalOutbox
from rules.db.rule_reloads import ReloadLog
from rules.engine.evaluator import Evaluator
from rules.engine.loader import RuleError, RulePack, load_rules
from rules.engine.reload import RulesReloader
from rules.engine.worker import RulesWorker
from rules.incidents.service import IncidentService
from tests.rules.test_evaluator import ev, tel

T0 = 1_800_000_000.0

HOT = """
- id: hot
  title: Hot
  description: Zone too warm
  kind: threshold
  select: {kinds: [zone_sensor]}
  metric: temperature_c
  above: 28
  hold: 15m
  raises: {type: ticket, priority: P3}
"""
HUMID = """
- id: humid
  title: Humid
  description: Too humid
  kind: threshold
  select: {kinds: [zone_sensor]}
  metric: humidity_pct
  above: {above}
  hold: 10m
  raises: {type: ticket, priority: P4}
"""
FORCED = """
- id: forced
  title: Door forced
  description: Forced
  kind: event
  select: {kinds: [door]}
  event: door_forced_open
  raises: {type: alert, severity: major, latching: true}
"""


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Site:
    """A worker, evaluator and incident service on one SQLite database, and a reloader."""

    def __init__(self, tmp_path: Path, text: str) -> None:
        self.file = tmp_path / "rules.yaml"
        self.file.write_text(text)
        self.engine = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
        pack = load_rules(self.file)
        self.incidents = IncidentService(self.engine, pack)
        self.clock = Clock()
        # Wired as api/service.py wires them: batched evaluators on the outbox's state store.
        self.outbox = SqlSignalOutbox(self.engine, clock=self.clock)
        self.evaluator = Evaluator(pack, self.outbox.states, batched=True)
        self.worker = RulesWorker(self.evaluator, self.incidents,
                                  DeviceLiveness(Registry.from_devices([]), T0), self.outbox,
                                  clock=self.clock)
        self.packs: list[RulePack] = []
        self.reloader = RulesReloader(
            self.file, self.worker, lambda p: Evaluator(p, self.outbox.states, batched=True),
            self.incidents, lambda p, e: self.packs.append(p), ReloadLog(self.engine).record)

    def at(self, t: float) -> None:
        self.clock.now = T0 + t

    def tickets(self, rule: str) -> list[int]:
        items, _ = self.incidents.list(limit=500)
        return [i.id for i in items if i.rule_id == rule]


def test_a_reload_under_load_keeps_a_pending_holds_due_time(tmp_path: Path) -> None:
    site = Site(tmp_path, HOT + HUMID.replace("{above}", "70") + FORCED)
    site.at(0)
    site.worker.handle([tel("zs-1", T0, temperature_c=30.0, humidity_pct=80.0)])
    stop = threading.Event()

    def load() -> None:  # another sensor keeps reporting while the file is swapped
        while not stop.is_set():
            site.worker.handle([tel("zs-2", T0 + 1, temperature_c=21.0, humidity_pct=40.0)])

    feeder = threading.Thread(target=load)
    feeder.start()
    try:
        site.at(300)
        site.file.write_text(HOT + HUMID.replace("{above}", "75"))  # humid changed, forced gone
        done = site.reloader.reload("alice")
    finally:
        stop.set()
        feeder.join(10)
    assert (done.changes.unchanged, done.changes.changed, done.changes.removed) == (
        ["hot"], ["humid"], ["forced"])
    site.at(899)
    site.worker.tick()
    assert site.tickets("hot") == []
    site.at(900)
    site.worker.tick()
    assert len(site.tickets("hot")) == 1  # due at T0 + 15 min, as before the reload
    # The changed rule started afresh: its hold (due at T0 + 10 min before) was dropped.
    assert site.tickets("humid") == []
    assert [p.source for p in site.packs] == [str(site.file)]
    (row,) = ReloadLog(site.engine).all()
    assert (row["actor"], row["changed"], row["removed"]) == ("alice", ["humid"], ["forced"])


def test_a_removed_rules_open_incident_stays_open_and_says_so(tmp_path: Path) -> None:
    site = Site(tmp_path, HOT + FORCED)
    site.worker.handle([ev("door-1", T0, "door_forced_open")])
    (alert,) = site.tickets("forced")
    site.file.write_text(HOT)
    done = site.reloader.reload("alice")
    assert done.noted_incidents == [alert]
    inc = site.incidents.get(alert)
    assert inc.state == "active"
    last = site.incidents.timeline(alert)[-1]
    assert last.actor == "alice" and "removed" in last.note
    site.worker.handle([ev("door-1", T0 + 5, "door_forced_open")])
    assert site.tickets("forced") == [alert]  # nothing evaluates the removed rule any more


def test_a_bad_file_changes_nothing_and_every_error_is_answered(tmp_path: Path) -> None:
    site = Site(tmp_path, HOT + FORCED)
    site.worker.handle([tel("zs-1", T0, temperature_c=30.0)])
    site.file.write_text(HOT.replace("above: 28", "above: hot") + FORCED.replace(
        "event: door_forced_open", "event: 5") + "- {id: x}\n")
    with pytest.raises(RuleError) as e:
        site.reloader.reload("alice")
    assert len(e.value.errors) >= 3
    assert site.worker._evaluator is site.evaluator and site.packs == []
    assert ReloadLog(site.engine).all() == []
    site.at(900)
    site.worker.tick()
    assert len(site.tickets("hot")) == 1


RISE = """
- id: rise
  title: Fast rise
  description: Temperature rising fast
  kind: rate_of_change
  select: {kinds: [zone_sensor]}
  metric: temperature_c
  per_minute_above: 8
  window: 2m
  raises: {type: alert, severity: major}
"""


def test_a_kept_rate_windows_unflushed_samples_are_saved_by_the_next_flush(
        tmp_path: Path) -> None:
    site = Site(tmp_path, RISE + FORCED)
    site.at(1)  # under LAZY_FLUSH_S after the start: the samples wait in memory for a flush
    site.worker.handle([tel("zs-1", T0 + 1, temperature_c=20.0)])
    site.file.write_text(RISE)
    site.reloader.reload("alice")
    site.worker.flush()
    saved = site.outbox.states.load_all()[("rise", "zs-1")]
    assert saved.memo["samples"] == [[T0 + 1, 20.0]]

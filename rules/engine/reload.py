"""Hot reload of the rules file: validate, then swap, carrying the state of unchanged rules.

A file with any error changes nothing (RuleError lists every error). Otherwise a new evaluator
takes over between two readings: unchanged rules keep their state (a pending hold keeps its
due time, a window its samples), changed rules start afresh, added rules start empty. The open
incidents of removed rules stay open and get a timeline note saying so; a person resolves them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rules.engine.evaluator import Evaluator
from rules.engine.handover import adopt
from rules.engine.loader import RulePack, load_rules
from rules.engine.worker import RulesWorker
from rules.incidents.service import IncidentService

log = logging.getLogger("sitewatch.rules")
OPEN_PAGE = 500  # open incidents read per step when noting removed rules


@dataclass(frozen=True, slots=True)
class PackChanges:
    """Rule ids by what a new file does to them."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: list[str]


def compare(old: RulePack, new: RulePack) -> PackChanges:
    """What changes from `old` to `new` (a rule is unchanged when its whole definition is)."""
    same = [r.id for r in new.rules if r.id in old.by_id and old.by_id[r.id] == r]
    return PackChanges(
        added=[r.id for r in new.rules if r.id not in old.by_id],
        changed=[r.id for r in new.rules if r.id in old.by_id and old.by_id[r.id] != r],
        removed=[r.id for r in old.rules if r.id not in new.by_id],
        unchanged=same,
    )


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """A reload that took effect."""

    source: str
    changes: PackChanges
    noted_incidents: list[int]  # open incidents of removed rules, now carrying a note


class RulesReloader:
    """Loads the configured rules file and swaps it in; one reload at a time."""

    def __init__(
        self,
        path: Path | None,
        worker: RulesWorker,
        make_evaluator: Callable[[RulePack], Evaluator],
        incidents: IncidentService,
        swapped: Callable[[RulePack, Evaluator], None],
        record: Callable[[str, ReloadResult], None] | None = None,  # (actor, result): audit
    ) -> None:
        self._path = path
        self._worker = worker
        self._make = make_evaluator
        self._incidents = incidents
        self._swapped = swapped
        self._record = record
        self._lock = threading.Lock()

    def reload(self, actor: str) -> ReloadResult:
        """Validate the file (RuleError with every error: nothing changed), then swap."""
        with self._lock:
            new = load_rules(self._path)
            holder: dict[str, PackChanges] = {}

            def build(old: Evaluator) -> Evaluator:
                changes = holder["changes"] = compare(old.pack, new)
                fresh = self._make(new)
                adopt(fresh, old, set(changes.unchanged))
                # Signals of the new pack must find their rules the moment it evaluates.
                self._incidents.use_pack(new)
                return fresh

            evaluator = self._worker.replace_evaluator(build)
            changes = holder["changes"]
            self._swapped(new, evaluator)
            noted = self._note_removed(changes.removed, actor)
            log.info("rules reloaded by %s from %s: %d added, %d changed, %d removed",
                     actor, new.source, len(changes.added), len(changes.changed),
                     len(changes.removed))
            result = ReloadResult(new.source, changes, noted)
            if self._record is not None:
                try:
                    self._record(actor, result)
                except Exception:  # the swap took effect; a lost record must not undo it
                    log.exception("recording the rules reload failed")
            return result

    def _note_removed(self, removed: list[str], actor: str) -> list[int]:
        if not removed:
            return []
        gone = set(removed)
        noted: list[int] = []
        offset = 0
        while True:
            page, _ = self._incidents.list(open_only=True, limit=OPEN_PAGE, offset=offset)
            for inc in page:
                if inc.rule_id in gone:
                    self._incidents.transition(
                        inc.id, "comment", actor=actor,
                        note=f"rule {inc.rule_id} was removed from the rules file by a reload;"
                             " this incident stays open until a person resolves it",
                    )
                    noted.append(inc.id)
            if len(page) < OPEN_PAGE:
                return noted
            offset += OPEN_PAGE

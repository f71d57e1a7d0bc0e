"""Handing a running evaluator's state to its successor when the rules file is reloaded."""

from __future__ import annotations

from rules.engine.evaluator import Evaluator


def adopt(new: Evaluator, old: Evaluator, keep: set[str]) -> None:
    """`new` takes over `old`'s run: the state of the unchanged rules in `keep` (a pending
    hold keeps its due time, a window its samples) and every watched device. Any other state
    `new` loaded for its rules is dropped, in memory and in the store: those rules changed.

    Reaches into both evaluators' internals under their locks; kept apart from the evaluator
    so the hot path's module stays about the evaluation alone.
    """
    with old._lock, new._lock:
        for key in list(new._states):
            new._states.pop(key)  # kept rules: `old`'s memory is their truth, not the store's
            if key[0] not in keep:
                # At once, even when batched: a reload() after a failed commit must not bring
                # a changed rule's old state back from the store.
                new._store.delete(key)
        new._states.update({k: st for k, st in old._states.items() if k[0] in keep})
        if new._batched:
            # What `old` owed the outbox for kept rules (rate samples awaiting a lazy flush, a
            # batch whose commit failed) is owed by `new` now, or a flush would never save it.
            new._changes.update({k: st for k, st in old._changes.items() if k[0] in keep})
            new._lazy.update({k: st for k, st in old._lazy.items() if k[0] in keep})
        new._index_states()
        for dev, w in old._seen.items():
            new._seen[dev] = new._seen_entry(w.site, dev, w.kind, w.zone, w.at)

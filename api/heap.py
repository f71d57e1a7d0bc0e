"""The start-up heap kept out of the garbage collector's full passes.

A full (generation 2) collection walks every tracked object while holding the interpreter
lock, so every thread stops for it: with the ~200,000 objects that imports, the registry and
the app leave behind, each pass took 90-140 ms on the benchmark machine, and a fire alarm that
arrived during one waited for it (BENCHMARKS.md, "Garbage-collection pauses, job bursts").
Those objects live as long as the process, so once the service is built they are collected
once and frozen (`gc.freeze`): later full passes walk only what was made since. Frozen
objects are still freed by reference counting; only a cycle among them that becomes garbage
later is kept, a bounded, one-off cost against a pause at every full pass.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("sitewatch")


def freeze_startup_heap() -> int:
    """Collect, then move every surviving object to the permanent generation; how many."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("start-up heap frozen: %d objects out of full collections", frozen)
    return frozen

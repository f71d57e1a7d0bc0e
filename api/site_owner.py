"""Which sites this instance serves (`SITEWATCH_SITES`, SPEC §11): a fixed list, or `auto`.

In `auto`, every `recheck_s` the instance counts the live instances (PostgreSQL's view of the
ownership connections, rules/db/site_locks.py) and aims at ceil(sites / live) sites:
- over that (an instance came back, or joined): it hands its surplus over — stops those sites'
  sessions (the broker queues for their client ids), then releases their locks;
- under it: it tries the locks of the sites nobody holds (a dead instance's, or a surplus
  just released) until it has its share, and starts each site's sessions; still below its
  share, it wakes the peers (NOTIFY) so they hand their surplus over now, not at their next
  check.
Counts per instance come from `pg_locks`, so shares also even out below the ceiling: an
instance above floor(sites / live) hands one site over while a peer is below that and no
site is free, and nobody takes past the floor while a peer is below it.
A failed ownership connection means the locks may be gone: every site is dropped at once and
the instance starts over on a new connection, so no site ever has two serving owners for
longer than one broker session takeover.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from rules.db.site_locks import SiteLocks, SiteLocksUnavailable

log = logging.getLogger("sitewatch.sites")

RECHECK_S = 3.0  # seconds between ownership checks: takeover after kill -9 within ~2 of these
WAIT_SLICE_S = 0.2  # longest wait for a release notice before looking at our own stop


class FixedSites:
    """A fixed list of sites (`SITEWATCH_SITES=a,b`): taken at start, dropped at stop."""

    def __init__(self, sites: Iterable[str], take: Callable[[str], None],
                 drop: Callable[[str], None]) -> None:
        self._sites = frozenset(sites)
        self._take, self._drop = take, drop

    def owned(self) -> frozenset[str]:
        """The sites served."""
        return self._sites

    def start(self) -> None:
        """Serve every listed site."""
        for site in sorted(self._sites):
            self._take(site)

    def stop(self) -> None:
        """Stop serving them."""
        for site in sorted(self._sites):
            self._drop(site)

    def health(self) -> dict[str, object]:
        """Always ok: the list is configuration."""
        return {"ok": True, "mode": "list", "sites": sorted(self._sites)}


class AutoSites:
    """`SITEWATCH_SITES=auto`: a share of the registry's sites, held by advisory locks."""

    def __init__(
        self, locks: SiteLocks, sites: Callable[[], Iterable[str]],
        take: Callable[[str], None], drop: Callable[[str], None],
        recheck_s: float = RECHECK_S,
    ) -> None:
        self._locks = locks
        self._all = sites
        self._take, self._drop = take, drop
        self._recheck_s = recheck_s
        self._owned: set[str] = set()
        self._guard = threading.Lock()  # one check at a time (the thread, or stop)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connected = False
        self.live = 0  # instances counted at the last check
        self.changes = 0  # sites taken or handed over since start

    def owned(self) -> frozenset[str]:
        """The sites this instance holds the locks of (and serves) now."""
        return frozenset(self._owned)

    def start(self) -> None:
        """Connect, take a first share at once, then recheck in the background."""
        self.check()
        self._thread = threading.Thread(target=self._run, name="site-owner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Hand every site over now (graceful stop): sessions stopped, then locks released."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._recheck_s + 30)  # it may be waiting for a notice
        with self._guard:
            owned = sorted(self._owned)
            if owned:  # every site's sessions stop at once, then each lock goes with a notice
                with ThreadPoolExecutor(len(owned), thread_name_prefix="site-stop") as pool:
                    list(pool.map(self._drop_quietly, owned))
            for site in owned:
                self._release(site, dropped=True)
            self._locks.dispose()

    def _drop_quietly(self, site: str) -> None:
        try:
            self._drop(site)
        except Exception:
            log.exception("stopping site %s failed", site)

    def health(self) -> dict[str, object]:
        """ok while the ownership connection answers."""
        return {"ok": self._connected, "mode": "auto", "sites": sorted(self._owned),
                "live_instances": self.live}

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wait()
            if not self._stop.is_set():
                self.check()

    def _wait(self) -> None:
        """Until the next check: RECHECK_S, a peer's notice (graceful stop, surplus, a peer
        below its share)
        or our own stop, whichever comes first (listening in short slices, so a stop never
        waits for the connection)."""
        deadline = time.monotonic() + self._recheck_s
        while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if not self._connected:
                self._stop.wait(left)
                return
            try:
                if self._locks.wait_release(min(WAIT_SLICE_S, left)):
                    return
            except SiteLocksUnavailable:
                return  # the check finds the connection gone and hands every site over

    def check(self) -> None:
        """One round: count instances, hand over a surplus or take a share."""
        with self._guard:
            if self._stop.is_set() and self._thread is not None:
                return
            try:
                self._balance()
                self._connected = True
            except SiteLocksUnavailable as e:
                self._lost(str(e))
            except Exception:
                log.exception("site ownership check failed")

    def _balance(self) -> None:
        if not self._connected:
            self._locks.connect()
            self._connected = True
        sites = sorted(set(self._all()))
        held = self._locks.holdings()
        self.live = len(held)
        low, high = len(sites) // self.live, math.ceil(len(sites) / self.live)
        for site in sorted(self._owned - set(sites)):  # gone from the registry
            self._release(site)
        surplus = len(self._owned) - high
        others = [n for name, n in held.items() if name != self._locks.name]
        starved = bool(others) and min(others) < low  # a peer below its share...
        if surplus <= 0 and starved and sum(held.values()) >= len(sites) and len(
                self._owned) > low:
            surplus = 1  # ...and no site free for it: one of ours goes to it
        if surplus > 0:
            for site in sorted(self._owned)[-surplus:]:
                self._release(site)
            return
        # Up to the low share at once; past it only while no peer is below it (it goes first).
        share = high if not starved else low
        # Start at a place of our own in the list: peers starting together try different sites.
        start = int(self._locks.name[-6:], 16) % max(1, len(sites))
        for site in sites[start:] + sites[:start]:
            if len(self._owned) >= share:
                break
            if site not in self._owned and self._locks.try_lock(site):
                self._owned.add(site)
                self.changes += 1
                try:
                    self._take(site)
                except Exception:
                    log.exception("starting site %s failed; handing it back", site)
                    self._release(site)
        if len(self._owned) < low:  # joined, or back: the peers hand their surplus over now
            self._locks.announce()

    def _release(self, site: str, dropped: bool = False) -> None:
        """Stop serving first, then unlock: the next owner never overlaps with us."""
        try:
            if not dropped:
                self._drop(site)
        finally:
            self._owned.discard(site)
            self.changes += 1
            with contextlib.suppress(SiteLocksUnavailable):  # gone with its connection
                self._locks.unlock(site)

    def _lost(self, why: str) -> None:
        if self._connected or self._owned:
            log.error("site ownership connection lost (%s): handing every site over", why)
        self._connected = False
        for site in sorted(self._owned):
            try:
                self._drop(site)
            except Exception:
                log.exception("stopping site %s failed", site)
        self._owned.clear()
        self._locks.close()

"""Site-scoped tokens (SPEC §7): one-line helpers every endpoint calls to filter by site.

A token created with `--sites a,b` sees only those sites: lists, counts, reports, exports
and streams are filtered, and another site's incident or device answers 404 exactly as a
missing one does, so existence does not leak. A token without sites sees everything.
"""

from __future__ import annotations

import json
from typing import Protocol

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

from api.auth import Principal
from rules.incidents.record import IncidentNotFound


class Sited(Protocol):
    """Anything that belongs to a site (an incident, a device state)."""

    @property
    def site(self) -> str | None:
        """The site id, or None for what belongs to no site."""


def incident_visible(principal: Principal, incident_id: int, site: str | None) -> None:
    """IncidentNotFound (404) unless the caller may see an incident at `site`.

    A site-scoped caller does not see unsited incidents (a hand-made ticket without a
    site): they may concern any site.
    """
    if principal.sites is not None and (site is None or site not in principal.sites):
        raise IncidentNotFound(incident_id)


def device_visible(principal: Principal, device_id: str, site: str | None) -> None:
    """404 unless the caller may see a device at `site` (None: unknown device, also 404)."""
    if site is None or (principal.sites is not None and site not in principal.sites):
        raise HTTPException(404, f"device {device_id!r} is neither registered nor heard")


def sees(principal: Principal, thing: Sited) -> bool:
    """True when the caller may see `thing` (for filtering lists kept in memory)."""
    return principal.sites is None or (thing.site is not None and thing.site in principal.sites)


def narrow(principal: Principal, site: str | None) -> tuple[str | None, bool]:
    """A list's `site=` filter under the caller's scope: (site to ask for, anything to show).

    The second value is False when the caller asked for a site outside its scope: the
    answer is then an empty list, as for a site that does not exist.
    """
    if principal.sites is None or site is None:
        return site, True
    return site, site in principal.sites


def frame_visible(principal: Principal, text: str) -> bool:
    """True when one SSE frame (`id:`/`event:`/`data:` lines) concerns a visible site.

    Keep-alive comments and the `retry:` line carry no data and always pass.
    """
    if principal.sites is None:
        return True
    for line in text.split("\n"):
        if line.startswith("data: "):
            try:
                site = json.loads(line[6:])["incident"]["site"]
            except (ValueError, KeyError, TypeError):
                return False  # an unreadable frame is not shown to a scoped caller
            return site is not None and site in principal.sites
    return True


def item_visible(principal: Principal, what: str, item_id: int | str, site: str | None) -> None:
    """404 unless the caller may see an item (a disablement, a window…) at `site`."""
    if principal.sites is not None and (site is None or site not in principal.sites):
        raise HTTPException(404, f"{what} {item_id} not found")


def may_target(principal: Principal, site: str | None, field: str) -> None:
    """Before creating something at `site`: 404 for another site's, 422 naming `field` when a
    site-scoped caller names no site (it would reach every site)."""
    if principal.sites is None:
        return
    if site is None:
        raise RequestValidationError([{
            "type": "value_error", "loc": ("body", *field.split(".")), "input": None,
            "msg": f"a site-scoped token must name one of its sites {sorted(principal.sites)}"}])
    if site not in principal.sites:
        raise HTTPException(404, f"site {site!r} not found")


def unscoped(principal: Principal, what: str) -> None:
    """403 for a site-scoped caller: `what` spans the whole instance and has no site."""
    if principal.sites is not None:
        raise HTTPException(403, f"{what} covers every site: a site-scoped token may not")

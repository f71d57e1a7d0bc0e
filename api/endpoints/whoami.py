"""GET /api/v1/whoami: the calling token's name and role (the dashboard's "Assign to me")."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.auth import AUTH_ERRORS, Reader
from api.endpoints import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["auth"])


class WhoAmIOut(BaseModel):
    """Who the token belongs to: its name (the actor in timelines) and its role."""

    name: str
    role: str
    sites: list[str] | None  # the only sites this token sees; null: every site


@router.get("/whoami", response_model=WhoAmIOut, responses=AUTH_ERRORS)
def whoami(principal: Reader) -> WhoAmIOut:
    """The name, role and sites of the token that made this request."""
    sites = sorted(principal.sites) if principal.sites is not None else None
    return WhoAmIOut(name=principal.name, role=principal.role, sites=sites)

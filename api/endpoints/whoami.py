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


@router.get("/whoami", response_model=WhoAmIOut, responses=AUTH_ERRORS)
def whoami(principal: Reader) -> WhoAmIOut:
    """The name and role of the token that made this request."""
    return WhoAmIOut(name=principal.name, role=principal.role)

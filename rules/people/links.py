"""Signed, purpose-bound, expiring, single-use links (itsdangerous): an on-call person's
acknowledge link (SPEC §8.5) and a requester's rating link (SPEC §8.4).

A link carries who it acts for, the incident, a random id and its expiry, signed with a
secret from SITEWATCH_LINK_SECRET or else one made once and kept in the database (so every
instance signs and checks alike). The purpose is the signature's salt: an acknowledge link
is no rating link. A use is recorded in `link_uses` by the link's id, in the transaction
that acts on it, so a second use changes nothing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy.exc import IntegrityError

from rules.db.database import WRITE
from rules.db.schema import link_secrets, link_uses

Purpose = Literal["ack", "rate"]
ACK_TTL_S = 3600.0  # an acknowledge link expires within an hour (SPEC §8.5)
RATE_TTL_S = 14 * 86400.0  # a rating link: 14 days (SPEC §8.4)
TOKEN_MAX = 1000  # characters; a longer path segment is not one of ours
SECRET_NAME = "links"


class LinkRefused(Exception):
    """A link that may not act: `reason` is tampered, expired, used or malformed."""

    STATUS = {"tampered": 403, "expired": 410, "used": 410, "malformed": 400}

    def __init__(self, reason: str, link: Link | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.link = link  # what it was for, when the signature held

    @property
    def status(self) -> int:
        """The HTTP status a page answers with."""
        return self.STATUS[self.reason]


@dataclass(frozen=True)
class Link:
    """What a verified link says: for whom, on which incident, until when."""

    purpose: Purpose
    incident_id: int
    subject: str  # ack: the person's id; rate: "requester"
    link_id: str
    expires_at: float  # Unix seconds


def database_secret(engine: sa.Engine, now: datetime | None = None) -> str:
    """The secret kept in the database, made once by whichever instance comes first."""
    with engine.connect() as conn:
        found = conn.scalar(sa.select(link_secrets.c.secret).where(
            link_secrets.c.name == SECRET_NAME))
    if found:
        return str(found)
    made = secrets.token_urlsafe(48)
    try:
        with engine.execution_options(**WRITE).begin() as conn:
            conn.execute(link_secrets.insert().values(
                name=SECRET_NAME, secret=made, created_at=now or datetime.now(UTC)))
    except IntegrityError:
        pass  # another instance made it first: use theirs
    with engine.connect() as conn:
        return str(conn.scalar(sa.select(link_secrets.c.secret).where(
            link_secrets.c.name == SECRET_NAME)))


class LinkSigner:
    """Makes and checks links; `base_url` is where people reach Sitewatch (SITEWATCH_PUBLIC_URL)."""

    def __init__(self, secret: str, base_url: str) -> None:
        self._secret = secret
        self.base_url = base_url.rstrip("/")

    def _serializer(self, purpose: Purpose) -> URLSafeSerializer:
        return URLSafeSerializer(self._secret, salt=f"sitewatch-link-{purpose}")

    def token(self, purpose: Purpose, incident_id: int, subject: str, now: float,
              ttl_s: float) -> str:
        """A new signed token for `purpose`, valid for `ttl_s` seconds from `now`."""
        body = {"i": incident_id, "s": subject, "j": secrets.token_urlsafe(12),
                "e": int(now + ttl_s)}
        return str(self._serializer(purpose).dumps(body))

    def url(self, purpose: Purpose, incident_id: int, subject: str, now: float,
            ttl_s: float) -> str:
        """The full link: {base}/ack/{token} or {base}/rate/{token}."""
        return f"{self.base_url}/{purpose}/{self.token(purpose, incident_id, subject, now, ttl_s)}"

    def read(self, purpose: Purpose, token: str, now: float) -> Link:
        """The link `token` stands for (LinkRefused: malformed, tampered or expired); its use
        is checked by `use`."""
        if not token or len(token) > TOKEN_MAX:
            raise LinkRefused("malformed")
        try:
            body = self._serializer(purpose).loads(token)
            link = Link(purpose, int(body["i"]), str(body["s"]), str(body["j"]),
                        float(body["e"]))
        except BadData:
            raise LinkRefused("tampered") from None
        except (KeyError, TypeError, ValueError):
            raise LinkRefused("tampered") from None  # signed, but not by our shape
        if now >= link.expires_at:
            raise LinkRefused("expired", link)
        return link

    @staticmethod
    def used(conn: sa.Connection, link: Link) -> bool:
        """Whether the link has been used."""
        return conn.scalar(sa.select(sa.func.count()).select_from(link_uses).where(
            link_uses.c.link_id == link.link_id)) != 0

    @classmethod
    def use(cls, conn: sa.Connection, link: Link, by: str, at: datetime) -> None:
        """Record the link's one use inside the caller's write transaction (LinkRefused
        "used" when it was used before)."""
        if cls.used(conn, link):
            raise LinkRefused("used", link)
        conn.execute(link_uses.insert().values(
            link_id=link.link_id, purpose=link.purpose, incident_id=link.incident_id,
            used_by=by, used_at=at))

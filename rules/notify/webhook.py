"""Webhook delivery: POST a JSON body signed with a timestamped HMAC-SHA256, with an
idempotency key.

The signature header is `X-Sitewatch-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is
HMAC-SHA256(secret, f"{t}." + raw body). A receiver recomputes it, compares in constant time
and refuses a `t` further than REPLAY_WINDOW_S from its own clock (`verify` below does both),
so a captured request cannot be replayed later. Each attempt is signed afresh; the body and
the Idempotency-Key stay the same.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

SIGNATURE_HEADER = "X-Sitewatch-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_WINDOW_S = 300  # seconds either side of the receiver's clock a signature is valid


class DeliveryFailed(Exception):
    """One delivery attempt failed; the dispatcher retries later and logs `str(error)`."""


def sign(body: bytes, secret: str, t: int) -> str:
    """The signature header value for `body` sent at Unix second `t`: `t=...,v1=...`."""
    digest = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + body, hashlib.sha256)
    return f"t={t},v1={digest.hexdigest()}"


def verify(
    header: str, body: bytes, secret: str, *, now: float | None = None,
    window_s: float = REPLAY_WINDOW_S,
) -> bool:
    """Receiver side: whether `header` signs `body` with `secret` within the replay window."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - t) > window_s:
        return False
    expected = sign(body, secret, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def post_webhook(
    url: str, body: bytes, *, secret: str, idempotency_key: str, timeout_s: float = 5.0,
    now: float | None = None,
) -> None:
    """POST `body` once; any non-2xx answer or transport error raises DeliveryFailed."""
    t = int(time.time() if now is None else now)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, secret, t),
        IDEMPOTENCY_HEADER: idempotency_key,
        "User-Agent": "sitewatch-notifier",
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as e:
        raise DeliveryFailed(f"{type(e).__name__}: {e}") from e
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")

"""Webhook delivery: POST a JSON body signed with HMAC-SHA256, carrying an idempotency key."""

from __future__ import annotations

import hashlib
import hmac

import httpx

SIGNATURE_HEADER = "X-Sitewatch-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class DeliveryFailed(Exception):
    """One delivery attempt failed; the dispatcher retries later and logs `str(error)`."""


def sign(body: bytes, secret: str) -> str:
    """The signature header value: `sha256=<hex HMAC-SHA256 of the raw body>`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def post_webhook(
    url: str, body: bytes, *, secret: str, idempotency_key: str, timeout_s: float = 5.0
) -> None:
    """POST `body` once; any non-2xx answer or transport error raises DeliveryFailed."""
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, secret),
        IDEMPOTENCY_HEADER: idempotency_key,
        "User-Agent": "sitewatch-notifier",
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as e:
        raise DeliveryFailed(f"{type(e).__name__}: {e}") from e
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")

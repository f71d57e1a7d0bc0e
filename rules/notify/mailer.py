"""E-mail delivery over SMTP, with the idempotency key as the Message-ID."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from rules.notify.webhook import DeliveryFailed

IDEMPOTENCY_HEADER = "X-Sitewatch-Idempotency-Key"


def send_mail(
    *,
    host: str,
    port: int,
    mail_from: str,
    mail_to: list[str],
    subject: str,
    text: str,
    idempotency_key: str,
    starttls: bool = False,
    username: str | None = None,
    password: str | None = None,
    timeout_s: float = 10.0,
) -> None:
    """Send one plain-text message; SMTP or network errors raise DeliveryFailed."""
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = ", ".join(mail_to)
    msg["Subject"] = subject
    # A stable Message-ID lets a mail system (or a person) drop the duplicate of a retry.
    msg["Message-ID"] = f"<{idempotency_key}@sitewatch>"
    msg[IDEMPOTENCY_HEADER] = idempotency_key
    msg.set_content(text)
    try:
        with smtplib.SMTP(host, port, timeout=timeout_s) as smtp:
            if starttls:
                smtp.starttls()
            if username:
                smtp.login(username, password or "")
            smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as e:  # socket timeouts are OSErrors
        raise DeliveryFailed(f"{type(e).__name__}: {e}") from e


def mail_text(payload: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of a notification payload (see notify.render_payload)."""
    inc, change = payload["incident"], payload["change"]
    grade = inc.get("severity") or inc.get("priority")
    subject = f"[Sitewatch] {change['action']}: {inc['title']} ({grade}, #{inc['id']})"
    fields = ("kind", "state", "department", "site", "zone", "location", "device_id", "respond_by",
              "resolve_by")
    lines = [f"{k}: {inc[k]}" for k in fields if inc.get(k)]
    lines += [f"change: {change['action']} by {change['actor']} at {change['at']}", change["note"]]
    if inc.get("runbook"):
        lines += ["", "Plan:", inc["runbook"]]
    return subject, "\n".join(lines)

"""E-mail delivery over SMTP, with the idempotency key as the Message-ID.

STARTTLS checks the server's certificate and host name (the system's CAs, or the route's
`smtp_ca_file`); a login is only ever sent after STARTTLS. Header text is made single-line
first: a title with a newline must neither inject a header nor make the library raise.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from rules.notify.webhook import DeliveryFailed

IDEMPOTENCY_HEADER = "X-Sitewatch-Idempotency-Key"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")  # CR, LF, tabs and other control characters
HEADER_MAX = 900  # characters kept of one header value (RFC 5322 lines stop at 998)


def header_text(value: str) -> str:
    """`value` on one line: runs of control characters become one space."""
    return _CONTROL.sub(" ", value).strip()[:HEADER_MAX]


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A client context that verifies the certificate chain and the host name."""
    return ssl.create_default_context(cafile=ca_file)


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
    ca_file: str | None = None,
    username: str | None = None,
    password: str | None = None,
    timeout_s: float = 10.0,
) -> None:
    """Send one plain-text message; SMTP, TLS or network errors raise DeliveryFailed."""
    if username and not starttls:
        raise DeliveryFailed("refusing to log in over plain text: set smtp_starttls")
    msg = EmailMessage()
    msg["From"] = header_text(mail_from)
    msg["To"] = ", ".join(header_text(a) for a in mail_to)
    msg["Subject"] = header_text(subject)
    # A stable Message-ID lets a mail system (or a person) drop the duplicate of a retry.
    msg["Message-ID"] = f"<{header_text(idempotency_key)}@sitewatch>"
    msg[IDEMPOTENCY_HEADER] = header_text(idempotency_key)
    msg.set_content(text)
    try:
        with smtplib.SMTP(host, port, timeout=timeout_s) as smtp:
            if starttls:
                smtp.starttls(context=tls_context(ca_file))
            if username:
                smtp.login(username, password or "")
            smtp.send_message(msg)
    except (smtplib.SMTPException, OSError, ValueError) as e:  # ssl and timeouts are OSErrors
        raise DeliveryFailed(f"{type(e).__name__}: {e}") from e


def mail_text(payload: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of a notification payload (see notify.render_payload)."""
    inc, change = payload["incident"], payload["change"]
    grade = inc.get("severity") or inc.get("priority")
    subject = header_text(f"[Sitewatch] {change['action']}: {inc['title']} ({grade}, #{inc['id']})")
    fields = ("kind", "state", "department", "site", "zone", "location", "device_id", "respond_by",
              "resolve_by")
    lines = [f"{k}: {inc[k]}" for k in fields if inc.get(k)]
    lines += [f"change: {change['action']} by {change['actor']} at {change['at']}", change["note"]]
    if inc.get("runbook"):
        lines += ["", "Plan:", inc["runbook"]]
    return subject, "\n".join(_people_lines(payload, lines))


def _people_lines(payload: dict[str, Any], lines: list[str]) -> list[str]:
    """A notice to one person names them and carries their link (rules/people/)."""
    person = payload.get("person")
    if person:
        lines = [f"For: {person['name']} ({person['id']}), escalation level "
                 f"{payload.get('level')}", "", *lines]
    if payload.get("acknowledge_url"):
        lines += ["", f"Acknowledge as {person['name'] if person else 'you'} "
                      f"(one use, until {payload.get('link_expires_at')}):",
                  payload["acknowledge_url"]]
    if payload.get("rate_url"):
        lines += ["", "How did we do? Rate the service (1-5, one use, 14 days):",
                  payload["rate_url"]]
    return lines

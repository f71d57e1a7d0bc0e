"""Notification hardening: STARTTLS that checks certificates against a real TLS SMTP server,
no login over plain text, webhook URLs and secrets, and remote error text kept from viewers."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import trustme
from aiosmtpd.controller import Controller

from rules.db.database import WRITE
from rules.db.schema import deliveries
from rules.notify.delivery_log import list_deliveries
from rules.notify.mailer import send_mail
from rules.notify.routes import NotificationConfigError, parse_routes
from rules.notify.webhook import DeliveryFailed
from tests.rules.test_notify import Mailbox
from tests.servers import free_port


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_smtp(ca: trustme.CA, tmp_path: Path) -> Iterator[tuple[Mailbox, int, str]]:
    """A real SMTP server offering STARTTLS with a certificate for 127.0.0.1 from a private
    CA; yields the mailbox, the port and the CA's PEM file."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True)
    controller.start()
    yield box, port, str(ca_file)
    controller.stop()


def mail(port: int, **kw: Any) -> None:
    send_mail(host="127.0.0.1", port=port, mail_from="a@example.org", mail_to=["b@example.org"],
              subject="s", text="t", idempotency_key="k-1", timeout_s=10, **kw)


def test_starttls_delivers_when_the_certificate_checks_out_against_the_routes_ca(
    tls_smtp: tuple[Mailbox, int, str],
) -> None:
    box, port, ca_file = tls_smtp
    mail(port, starttls=True, ca_file=ca_file)
    assert len(box.messages) == 1


def test_starttls_refuses_a_certificate_the_system_does_not_trust(
    tls_smtp: tuple[Mailbox, int, str],
) -> None:
    box, port, _ = tls_smtp
    with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED"):
        mail(port, starttls=True)
    assert box.messages == []


def test_login_is_never_sent_over_plain_text() -> None:
    with pytest.raises(DeliveryFailed, match="plain text"):
        mail(free_port(), username="ops", password="pw")
    with pytest.raises(NotificationConfigError, match="smtp_starttls"):
        parse_routes("routes:\n  - {name: m, channel: email, smtp_host: h, mail_from: a@b,"
                     " mail_to: [c@d], smtp_username: ops, smtp_password: pw}\n", "n.yaml")


@pytest.mark.parametrize(("url", "extra", "ok"), [
    ("https://hooks.example.org/x", "", True),
    ("http://hooks.example.org/x", "", False),
    ("http://hooks.example.org/x", ", insecure: true", True),
    ("http://127.0.0.1:9000/x", "", True),  # loopback: a receiver on this machine
    ("http://[::1]:9000/x", "", True),
    ("ftp://hooks.example.org/x", ", insecure: true", False),
])
def test_webhook_urls_must_be_https_unless_loopback_or_marked_insecure(
    url: str, extra: str, ok: bool
) -> None:
    text = f"routes:\n  - {{name: h, channel: webhook, url: '{url}', secret: s{extra}}}\n"
    if ok:
        assert parse_routes(text)[0].url == url
    else:
        with pytest.raises(NotificationConfigError, match="url"):
            parse_routes(text, "n.yaml")


def test_route_secrets_come_from_an_environment_variable_or_a_file_and_never_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "from-env")
    (tmp_path / "pw").write_text("from-file\n")
    routes = parse_routes(
        "routes:\n"
        "  - {name: a, channel: webhook, url: 'https://x/h', secret_env: HOOK_SECRET}\n"
        f"  - {{name: b, channel: webhook, url: 'https://x/h', secret_file: '{tmp_path}/pw'}}\n"
        "  - {name: m, channel: email, smtp_host: h, mail_from: a@b, mail_to: [c@d],"
        f" smtp_starttls: true, smtp_username: u, smtp_password_file: '{tmp_path}/pw'}}\n"
    )
    assert [r.secret for r in routes[:2]] == ["from-env", "from-file"]
    assert routes[2].smtp_password == "from-file"
    assert "from-env" not in repr(routes[0]) and "from-file" not in repr(routes[2])
    with pytest.raises(NotificationConfigError, match="secret_env.*NOPE is not set"):
        parse_routes("routes:\n  - {name: a, channel: webhook, url: 'https://x/h',"
                     " secret_env: NOPE}\n")
    with pytest.raises(NotificationConfigError, match="one of secret, secret_env"):
        parse_routes("routes:\n  - {name: a, channel: webhook, url: 'https://x/h',"
                     " secret: s, secret_env: HOOK_SECRET}\n")


def test_the_delivery_log_shows_a_viewer_only_the_kind_of_a_remote_error(
    engine: sa.Engine,
) -> None:
    row = {"idempotency_key": "tl-1-h", "route": "h", "channel": "webhook", "timeline_id": 1,
           "incident_id": 1, "action": "opened", "status": "pending", "attempts": 1,
           "last_error": "HTTP 500: db01.corp.internal password=hunter2", "payload": "{}",
           "created_at": 0.0, "next_attempt_at": 1.0, "delivered_at": None}
    with engine.execution_options(**WRITE).begin() as conn:
        conn.execute(deliveries.insert().values(**row))
    (masked,), _ = list_deliveries(engine, reveal_errors=False)
    (full,), _ = list_deliveries(engine)
    assert masked.last_error == "HTTP 500 (details for admins)"
    assert full.last_error == row["last_error"]

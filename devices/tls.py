"""mqtts:// trust: a private CA and a client certificate, and a one-line reason when TLS fails."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

PROBE_TIMEOUT_S = 5.0  # seconds for the diagnostic handshake


class TlsConfigError(ValueError):
    """A CA file, certificate or key cannot be loaded."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """What to trust and how to prove who we are over mqtts:// (None: the system's CAs)."""

    ca_file: Path | None = None  # PEM: trust only this CA (a site's private CA)
    cert_file: Path | None = None  # PEM: client certificate, for brokers that require one
    key_file: Path | None = None  # PEM: its private key (None: inside cert_file)

    def context(self) -> ssl.SSLContext:
        """A verifying client context (hostname checked), or TlsConfigError naming the file."""
        try:
            ctx = ssl.create_default_context(
                cafile=str(self.ca_file) if self.ca_file is not None else None
            )
        except (OSError, ssl.SSLError) as e:
            raise TlsConfigError(f"CA file {self.ca_file}: {_reason(e)}") from None
        if self.cert_file is not None:
            try:
                ctx.load_cert_chain(self.cert_file, self.key_file)
            except (OSError, ssl.SSLError) as e:
                raise TlsConfigError(f"client certificate {self.cert_file}: {_reason(e)}") from None
        return ctx


def _reason(e: BaseException) -> str:
    if isinstance(e, ssl.SSLCertVerificationError):
        return e.verify_message or str(e)
    if isinstance(e, ssl.SSLError):
        return e.reason or str(e)
    return e.strerror or str(e) if isinstance(e, OSError) else str(e)


def tls_failure(host: str, port: int, files: TlsFiles) -> str | None:
    """Why a TLS handshake with host:port fails, in one line; None when it succeeds.

    paho retries a failed connection silently; this handshake, made once when a connection
    fails, tells the operator the cause (e.g. a wrong CA) instead of a bare timeout.
    """
    try:
        ctx = files.context()
        with (socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S) as raw,
              ctx.wrap_socket(raw, server_hostname=host)):
            return None
    except TlsConfigError as e:
        return str(e)
    except ssl.SSLCertVerificationError as e:
        return (f"TLS to {host}:{port}: the broker's certificate is not trusted "
                f"({_reason(e)}); check the CA file")
    except (OSError, ssl.SSLError) as e:
        return f"TLS to {host}:{port}: {_reason(e)}"

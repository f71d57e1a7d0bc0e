"""`sitewatch devices export` and `sitewatch devices credentials --out DIR` (SPEC §10)."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from devices.registry import Registry

SERVICE_USER = "sitewatch"  # the service's own broker login: reads every device topic
CHANNELS = ("telemetry", "event", "status")


class CredentialsError(RuntimeError):
    """The credentials could not be written (e.g. mosquitto_passwd is missing)."""


def registry_yaml(registry: Registry) -> str:
    """The registry as a file `parse_registry` reads back to the same registry."""
    devices: list[dict[str, Any]] = []
    for d in sorted(registry.devices.values(), key=lambda d: d.id):
        entry = d.model_dump(exclude_none=True)
        devices.append(entry)
    doc = {"zones": dict(sorted(registry.zones.items())), "devices": devices}
    header = "# Sitewatch device registry, exported from the database (sitewatch devices export)\n"
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


def acl_text(registry: Registry, prefix: str) -> str:
    """A Mosquitto ACL: the service reads everything; each device writes only its own topics."""
    lines = [
        "# Sitewatch broker ACL, written by `sitewatch devices credentials`: one entry per device.",
        f"user {SERVICE_USER}",
        f"topic read {prefix}/#",
        "topic read $SYS/#",
    ]
    for d in sorted(registry.devices.values(), key=lambda d: d.id):
        lines += ["", f"user {d.id}"]
        lines += [f"topic write {prefix}/{d.site}/{d.id}/{ch}" for ch in CHANNELS]
    return "\n".join(lines) + "\n"


def _read_passwords(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    out: dict[str, str] = {}
    for line in path.read_text("utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2 and not parts[0].startswith("#"):
            out[parts[0]] = parts[1]
    return out


def write_credentials(registry: Registry, out: Path, prefix: str = "sitewatch") -> int:
    """Write `passwd` (hashed by mosquitto_passwd -U), `acl` and `passwords.txt` (plain, 0600,
    reused on the next run so existing devices keep their passwords); the number of users."""
    exe = shutil.which("mosquitto_passwd")
    if exe is None:
        raise CredentialsError("mosquitto_passwd not found (Debian package mosquitto)")
    out.mkdir(parents=True, exist_ok=True)
    plain_path = out / "passwords.txt"
    known = _read_passwords(plain_path)
    users = [SERVICE_USER, *sorted(registry.devices)]
    passwords = {u: known.get(u) or secrets.token_hex(16) for u in users}
    old_umask = os.umask(0o077)
    try:
        plain_path.write_text(
            "# USER PASSWORD: give each device its own; the service logs in as "
            f"{SERVICE_USER}\n" + "".join(f"{u} {passwords[u]}\n" for u in users), "utf-8"
        )
        tmp = out / "passwd.new"
        tmp.write_text("".join(f"{u}:{passwords[u]}\n" for u in users), "utf-8")
        done = subprocess.run([exe, "-U", str(tmp)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise CredentialsError(f"mosquitto_passwd -U failed: {done.stderr.strip()}")
        tmp.replace(out / "passwd")
        (out / "acl").write_text(acl_text(registry, prefix), "utf-8")
    finally:
        os.umask(old_umask)
    return len(users)


def _registry() -> tuple[Registry, str]:
    """The database's registry after importing SITEWATCH_DEVICES, as `serve` would see it."""
    from api.device_admin import DeviceAdmin
    from api.settings import Settings
    from devices.registry import load_registry
    from rules.db.database import open_database
    from rules.db.device_registry import DeviceTable

    settings = Settings()
    engine = open_database(settings.database_url)
    try:
        admin = DeviceAdmin(DeviceTable(engine), load_registry(settings.devices))
        admin.load(admin.registry, actor="cli")
        return admin.registry, settings.mqtt_topic_prefix
    finally:
        engine.dispose()


def _export(args: argparse.Namespace) -> int:
    registry, _ = _registry()
    text = registry_yaml(registry)
    if args.out in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, "utf-8")
        print(f"{len(registry)} devices written to {args.out}", file=sys.stderr)
    return 0


def _credentials(args: argparse.Namespace) -> int:
    registry, prefix = _registry()
    try:
        users = write_credentials(registry, Path(args.out), prefix)
    except (CredentialsError, OSError) as e:
        print(f"sitewatch devices credentials: {e}", file=sys.stderr)
        return 2
    print(f"{users} broker users written to {args.out} (passwd, acl, passwords.txt)")
    return 0


def add_parser(sub: Any) -> None:
    """The `devices` verb and its sub-verbs."""
    devices = sub.add_parser("devices", help="the device registry")
    dsub = devices.add_subparsers(dest="devices_verb", required=True)
    export = dsub.add_parser("export", help="write the registry as YAML")
    export.add_argument("--out", default=None, help="file to write (default: standard output)")
    export.set_defaults(func=_export)
    creds = dsub.add_parser("credentials", help="Mosquitto password file and ACL per device")
    creds.add_argument("--out", required=True, help="folder for passwd, acl, passwords.txt")
    creds.set_defaults(func=_credentials)

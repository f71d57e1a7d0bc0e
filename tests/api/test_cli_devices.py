"""`sitewatch devices export` round-trips; `devices credentials` works on a real Mosquitto."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from api.cli import main
from api.cli_devices import write_credentials
from devices.registry import Device, Registry, parse_registry
from rules.db.database import open_database
from rules.db.device_registry import DeviceTable
from tests.devices.test_compose import close, connect
from tests.ingest.helpers import wait_until
from tests.servers import Server, free_port, missing

FILE = """
zones: {hall: Hall, lobby: Lobby}
devices:
  - {id: sd-1, kind: smoke_detector, site: hq, zone: hall, name: Smoke 1}
  - {id: door-1, kind: door, site: annex, zone: lobby, interval_s: 5}
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "site.yaml").write_text(FILE)
    monkeypatch.setenv("SITEWATCH_DEVICES", str(tmp_path / "site.yaml"))
    monkeypatch.setenv("SITEWATCH_DATA_DIR", str(tmp_path))
    return tmp_path


def test_the_export_imports_back_to_the_same_registry_including_runtime_devices(
    env: Path,
) -> None:
    engine = open_database(f"sqlite:///{env / 'sitewatch.db'}")
    table = DeviceTable(engine)
    table.import_registry(parse_registry(FILE), "file")
    table.create(Device(id="hd-7", kind="heat_detector", site="hq", zone="hall"), "alice")
    assert main(["devices", "export", "--out", str(env / "out.yaml")]) == 0
    exported = parse_registry((env / "out.yaml").read_text(), "out.yaml")
    assert exported.devices == table.load().devices
    assert set(exported.devices) == {"sd-1", "door-1", "hd-7"}
    assert exported.zones == {"hall": "Hall", "lobby": "Lobby"}
    again = DeviceTable(open_database(f"sqlite:///{env / 'again.db'}"))
    again.import_registry(exported, "file")
    assert again.load().devices == table.load().devices


def _mosquitto_with(creds: Path) -> Server:
    """A Mosquitto that takes only the written passwd and acl (it drops root for `mosquitto`)."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        missing("mosquitto")
    for path in (creds, *creds.iterdir()):
        shutil.chown(path, "mosquitto")
    os.chmod(creds, 0o755)
    port = free_port()
    conf = creds / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {creds / 'passwd'}\nacl_file {creds / 'acl'}\n"
        "log_dest stderr\nlog_type error\n"
    )
    return Server([exe, "-c", str(conf)], port, creds)


def test_credentials_let_a_device_publish_its_own_topic_and_not_another_devices() -> None:
    registry = parse_registry(FILE)
    creds = Path(tempfile.mkdtemp(prefix="sitewatch-creds-"))
    assert write_credentials(registry, creds) == 3
    passwd = (creds / "passwd").read_text()
    assert "sd-1:$7$" in passwd  # Mosquitto's own PBKDF2-SHA512 format, not the password
    passwords = dict(line.split() for line in (creds / "passwords.txt").read_text().splitlines()
                     if not line.startswith("#"))
    assert passwords["sd-1"] not in passwd
    assert "topic write sitewatch/annex/door-1/event" in (creds / "acl").read_text()
    broker = _mosquitto_with(creds)
    broker.start()
    got: list[str] = []
    try:
        service, answer = connect(broker.port, "sitewatch", passwords["sitewatch"])
        assert answer == "Success"
        subscribed = threading.Event()
        service.on_message = lambda _c, _u, m: got.append(m.topic)
        service.on_subscribe = lambda *a: subscribed.set()
        service.subscribe("sitewatch/#", qos=1)
        assert subscribed.wait(5)
        device, answer = connect(broker.port, "sd-1", passwords["sd-1"])
        assert answer == "Success"
        device.publish("sitewatch/annex/door-1/event", "{}", qos=1).wait_for_publish(5)
        device.publish("sitewatch/hq/sd-1/event", "{}", qos=1).wait_for_publish(5)
        assert wait_until(lambda: "sitewatch/hq/sd-1/event" in got, 10)
        time.sleep(0.3)
        assert got == ["sitewatch/hq/sd-1/event"]  # the other device's topic was refused
        intruder, answer = connect(broker.port, "sd-1", "not-the-password")
        assert answer == "Not authorized"
        for c in (service, device, intruder):
            close(c)
    finally:
        broker.stop()
        shutil.rmtree(creds, ignore_errors=True)


def test_running_credentials_again_keeps_existing_passwords_and_adds_new_devices(
    tmp_path: Path,
) -> None:
    registry = parse_registry(FILE)
    write_credentials(registry, tmp_path)
    first = (tmp_path / "passwords.txt").read_text().splitlines()
    bigger = Registry.from_devices(
        [*registry.devices.values(), Device(id="hd-7", kind="heat_detector", site="hq",
                                            zone="hall")], registry.zones)
    assert write_credentials(bigger, tmp_path) == 4
    second = (tmp_path / "passwords.txt").read_text().splitlines()
    assert set(first) < set(second)
    assert (tmp_path / "passwords.txt").stat().st_mode & 0o077 == 0

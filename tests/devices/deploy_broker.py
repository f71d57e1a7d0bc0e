"""The deploy broker for real: Mosquitto started by deploy/mosquitto/entrypoint.sh with the
deploy config, certificates from deploy/make-certs.sh, and a few device accounts."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from tests.servers import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "mosquitto"
DEVICES = "# id site password\nsd-01 hq pw-sd-01\n\nsd-02 hq pw-sd-02\nac-01 annex pw-ac-01\n"


@dataclass(frozen=True)
class DeployBroker:
    """Where the deploy broker listens: plain (internal accounts) and TLS (devices)."""

    internal: int  # port of listener 1883's configuration
    tls: int  # port of listener 8883's configuration
    certs: Path  # ca.crt, server.crt, server.key from make-certs.sh
    workdir: Path  # passwd-*, acl, persistence, server.log


def make_certs(out: Path, *names: str, client: str | None = None) -> Path:
    """Run deploy/make-certs.sh into `out`; the folder."""
    env = {**os.environ, **({"CLIENT": client} if client else {})}
    subprocess.run(["sh", str(REPO / "deploy" / "make-certs.sh"), str(out), *names],
                   check=True, capture_output=True, env=env, timeout=60)
    return out


def start_deploy_broker(env_extra: dict[str, str] | None = None) -> Iterator[DeployBroker]:
    """Start it (a generator for a fixture): yields the broker, then stops it."""
    workdir = Path(tempfile.mkdtemp(prefix="sitewatch-deploy-mqtt-"))
    os.chmod(workdir, 0o755)
    shutil.chown(workdir, "mosquitto")  # Mosquitto drops root and writes its persistence here
    certs = make_certs(workdir / "certs", "localhost")
    internal, tls = free_port(), free_port()
    conf = (DEPLOY / "mosquitto.conf").read_text()
    conf = conf.replace("/mosquitto/data/", f"{workdir}/")
    conf = conf.replace("/mosquitto/certs", str(certs))
    conf = conf.replace("listener 8883", f"listener {tls} 127.0.0.1")
    conf = conf.replace("listener 1883", f"listener {internal} 127.0.0.1")
    (workdir / "mosquitto.conf").write_text(conf)
    (workdir / "devices.txt").write_text(DEVICES)
    env = {
        "PATH": f"/usr/sbin:/usr/bin:/bin:{os.environ.get('PATH', '')}",
        "MOSQUITTO_CONF": str(workdir / "mosquitto.conf"),
        "MOSQUITTO_DATA": str(workdir),
        "MOSQUITTO_ACL_HEAD": str(DEPLOY / "acl"),
        "MOSQUITTO_DEVICE_CREDENTIALS": str(workdir / "devices.txt"),
        "MQTT_SITEWATCH_PASSWORD": "pw-service",
        "MQTT_SIMULATOR_PASSWORD": "pw-sim",
        "COMPOSE_PROFILES": "simulate",
        **(env_extra or {}),
    }
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - lives with the process
    proc = subprocess.Popen(["sh", str(DEPLOY / "entrypoint.sh")], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        wait_for_port(internal)
        wait_for_port(tls)
        yield DeployBroker(internal, tls, certs, workdir)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def connect(port: int, user: str | None, password: str | None, will: str | None = None,
            ca: Path | None = None, client_id: str = "", clean: bool = True,
            ) -> tuple[mqtt.Client, str]:
    """A started client and the broker's answer (`Success` or the refusal); TLS with `ca`."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=clean if client_id else True)
    answer: list[str] = []
    done = threading.Event()

    def on_connect(c: mqtt.Client, u: object, f: object, rc: Any, p: object) -> None:
        answer.append(str(rc))
        if rc.is_failure:
            # No retry: paho would wait out its reconnect delay in a 1-s sleep that close()'s
            # loop_stop() has to join (a second per refused login).
            c.disconnect()
        done.set()

    client.on_connect = on_connect
    if ca is not None:
        client.tls_set_context(ssl.create_default_context(cafile=str(ca)))
    if user is not None:
        client.username_pw_set(user, password)
    if will is not None:
        client.will_set(will, "offline", qos=1, retain=True)
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(5)
    return client, answer[0] if answer else "no answer"


def close(client: mqtt.Client) -> None:
    """Disconnect and stop a client from connect()."""
    client.disconnect()
    client.loop_stop()

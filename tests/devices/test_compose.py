"""The production stack: docker-compose.yml, Dockerfile, .env.example and the broker's ACL.

No Docker engine runs here, so the compose file is checked by reading it, and the Mosquitto
configuration is checked for real: the deploy entrypoint builds the password file and runs
Mosquitto with the deploy config and ACL, and devices try to publish where they may not.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml

from devices.registry import Device, Registry
from devices.sim.simulator import Simulator
from tests.servers import Server, free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "mosquitto"
SERVICES = {"mosquitto", "influxdb", "postgres", "sitewatch", "simulate", "grafana"}
_VAR_RE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yml, parsed."""
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_the_stack_has_its_services_each_with_a_healthcheck(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES
    for name, service in compose["services"].items():
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_every_dependency_waits_for_a_healthy_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        deps = service.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on must name a condition"
        for dep, how in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert how == {"condition": "service_healthy"}, f"{name} -> {dep}: {how}"
    assert set(services["sitewatch"]["depends_on"]) == {"mosquitto", "influxdb", "postgres"}


def test_every_file_the_stack_references_exists_in_the_repo(compose: dict[str, Any]) -> None:
    named_volumes = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is not None:
            context = REPO / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else (
                "Dockerfile")
            assert (context / dockerfile).is_file(), f"{name}: no {dockerfile} in {context}"
        for env_file in ([service["env_file"]] if isinstance(service.get("env_file"), str)
                         else service.get("env_file", [])):
            assert (REPO / env_file).exists(), f"{name}: env_file {env_file} missing"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: bind mount {source} missing"
            else:
                assert source in named_volumes, f"{name}: volume {source} not declared"
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), f"Dockerfile copies missing {source}"


def test_the_image_runs_sitewatch_serve_on_python_311_slim_and_ignores_secrets() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert 'CMD ["sitewatch", "serve"]' in dockerfile
    assert "pip install ." in dockerfile
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git"} <= set(ignored)


def test_every_variable_the_stack_uses_is_documented_in_env_example(
    compose: dict[str, Any]
) -> None:
    used = set(_VAR_RE.findall((REPO / "docker-compose.yml").read_text()))
    example = (REPO / ".env.example").read_text().splitlines()
    defined = {line.split("=", 1)[0] for line in example if line and not line.startswith("#")}
    assert used == defined
    for i, line in enumerate(example):
        if line and not line.startswith("#"):
            assert example[i - 1].startswith("#"), f"{line.split('=')[0]} has no comment"


def test_the_service_is_configured_for_mqtt_user_influx_v2_and_postgres(
    compose: dict[str, Any]
) -> None:
    env = compose["services"]["sitewatch"]["environment"]
    assert env["SITEWATCH_MQTT_URL"].startswith("mqtt://sitewatch:")
    assert env["SITEWATCH_MQTT_URL"].endswith("@mosquitto:1883")
    assert env["SITEWATCH_INFLUX_API"] == "v2"
    assert env["SITEWATCH_INFLUX_URL"] == "http://influxdb:8086"
    assert {"SITEWATCH_INFLUX_TOKEN", "SITEWATCH_INFLUX_ORG", "SITEWATCH_INFLUX_BUCKET"} <= set(env)
    assert env["SITEWATCH_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["SITEWATCH_DATABASE_URL"].endswith("@postgres:5432/${POSTGRES_DB:-sitewatch}")
    assert env["SITEWATCH_API_HOST"] == "0.0.0.0"
    assert "/api/v1/health" in " ".join(compose["services"]["sitewatch"]["healthcheck"]["test"])
    influx = compose["services"]["influxdb"]["environment"]
    assert influx["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert {"DOCKER_INFLUXDB_INIT_ORG", "DOCKER_INFLUXDB_INIT_BUCKET",
            "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"} <= set(influx)
    simulate = compose["services"]["simulate"]
    assert simulate["profiles"] == ["simulate"]
    assert simulate["command"].startswith("sitewatch simulate --broker mqtt://simulator:")


def test_the_broker_config_refuses_anonymous_clients_and_uses_the_password_file_and_acl() -> None:
    conf = [line.split() for line in (DEPLOY / "mosquitto.conf").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    settings = {words[0]: words[1:] for words in conf}
    assert settings["allow_anonymous"] == ["false"]
    assert ["allow_anonymous", "true"] not in conf
    assert settings["password_file"] == ["/mosquitto/data/passwd"]  # written by entrypoint.sh
    assert settings["acl_file"] == ["/mosquitto/config/acl"]  # ./deploy/mosquitto mounted here


def test_the_acl_lets_a_device_write_only_its_own_topics_and_read_nothing() -> None:
    lines = [line.split() for line in (DEPLOY / "acl").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    first_user = next(i for i, words in enumerate(lines) if words[0] == "user")
    assert all(words[0] != "topic" for words in lines[:first_user])  # nothing for anonymous
    patterns = [words[1:] for words in lines if words[0] == "pattern"]
    assert patterns
    for access, topic in patterns:
        assert access == "write"
        prefix, site, device, channel = topic.split("/")
        assert (prefix, site, device) == ("sitewatch", "+", "%u")
        assert channel in {"telemetry", "event", "status"}


# -- the deploy broker, for real --------------------------------------------------------


@pytest.fixture(scope="module")
def deploy_broker() -> Iterator[int]:
    """Mosquitto started by deploy/mosquitto/entrypoint.sh with the deploy config and ACL."""
    workdir = Path(tempfile.mkdtemp(prefix="sitewatch-deploy-mqtt-"))
    os.chmod(workdir, 0o755)
    shutil.chown(workdir, "mosquitto")  # Mosquitto drops root and writes its persistence here
    port = free_port()
    conf = (DEPLOY / "mosquitto.conf").read_text()
    conf = conf.replace("/mosquitto/data/passwd", f"{workdir}/passwd")
    conf = conf.replace("/mosquitto/data/", f"{workdir}/")
    conf = conf.replace("/mosquitto/config/acl", str(DEPLOY / "acl"))
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1")
    (workdir / "mosquitto.conf").write_text(conf)
    (workdir / "devices.txt").write_text("# id password\nsd-01 pw-sd-01\n\nsd-02 pw-sd-02\n")
    env = {
        "PATH": f"/usr/sbin:/usr/bin:/bin:{os.environ.get('PATH', '')}",
        "MOSQUITTO_CONF": str(workdir / "mosquitto.conf"),
        "MOSQUITTO_PASSWD_FILE": str(workdir / "passwd"),
        "MOSQUITTO_DEVICE_CREDENTIALS": str(workdir / "devices.txt"),
        "MQTT_SITEWATCH_PASSWORD": "pw-service",
        "MQTT_SIMULATOR_PASSWORD": "pw-sim",
    }
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - lives with the process
    proc = subprocess.Popen(["sh", str(DEPLOY / "entrypoint.sh")], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def connect(port: int, user: str | None, password: str | None, will: str | None = None
            ) -> tuple[mqtt.Client, str]:
    """A started client and the broker's answer (`Success` or the refusal)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    answer: list[str] = []
    done = threading.Event()

    def on_connect(c: mqtt.Client, u: object, f: object, rc: Any, p: object) -> None:
        answer.append(str(rc))
        done.set()

    client.on_connect = on_connect
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


@pytest.fixture
def service_reader(deploy_broker: int) -> Iterator[tuple[mqtt.Client, list[str]]]:
    """The `sitewatch` user subscribed to sitewatch/#, with the topics it received."""
    client, answer = connect(deploy_broker, "sitewatch", "pw-service")
    assert answer == "Success"
    topics: list[str] = []
    subscribed = threading.Event()
    client.on_message = lambda c, u, m: topics.append(m.topic)
    client.on_subscribe = lambda *a: subscribed.set()
    client.subscribe("sitewatch/#", qos=1)
    assert subscribed.wait(5)
    yield client, topics
    close(client)


def wait_for_topic(topics: list[str], topic: str) -> None:
    """Block until `topic` has been received."""
    deadline = time.monotonic() + 10
    while topic not in topics:
        assert time.monotonic() < deadline, f"{topic} never arrived; got {topics}"
        time.sleep(0.02)


@pytest.mark.parametrize(("user", "password"), [(None, None), ("sd-01", "wrong"), ("nobody", "x")])
def test_the_deploy_broker_refuses_anonymous_and_unknown_logins(
    deploy_broker: int, user: str | None, password: str | None
) -> None:
    client, answer = connect(deploy_broker, user, password)
    close(client)
    assert answer == "Not authorized"


def test_a_device_can_publish_only_under_its_own_topics_at_the_deploy_broker(
    deploy_broker: int, service_reader: tuple[mqtt.Client, list[str]]
) -> None:
    _, topics = service_reader
    device, answer = connect(deploy_broker, "sd-01", "pw-sd-01")
    assert answer == "Success"
    forged = ["sitewatch/hq/sd-02/telemetry", "sitewatch/hq/sd-02/status",
              "sitewatch/hq/sd-01/commands", "sitewatch/hq/sd-01/telemetry/x"]
    for topic in forged:
        device.publish(topic, "{}", qos=1).wait_for_publish(5)
    device.publish("sitewatch/hq/sd-01/telemetry", "{}", qos=1).wait_for_publish(5)
    wait_for_topic(topics, "sitewatch/hq/sd-01/telemetry")  # same client: forged ones came first
    close(device)
    assert not set(forged) & set(topics)


def drop(client: mqtt.Client) -> None:
    """Cut a client's connection without a DISCONNECT, so the broker fires its will."""
    client.loop_stop()
    sock = client.socket()
    assert sock is not None
    sock.close()


def test_a_device_last_will_fires_on_its_own_status_but_never_on_another_devices(
    deploy_broker: int, service_reader: tuple[mqtt.Client, list[str]]
) -> None:
    _, topics = service_reader
    forger, answer = connect(deploy_broker, "sd-01", "pw-sd-01", will="sitewatch/hq/sd-02/status")
    assert answer == "Success"  # Mosquitto 2 accepts the connection and drops the will later
    honest, answer = connect(deploy_broker, "sd-02", "pw-sd-02", will="sitewatch/hq/sd-02/status")
    assert answer == "Success"
    drop(forger)
    time.sleep(0.5)  # let the broker handle the first drop before the second
    drop(honest)
    deadline = time.monotonic() + 10
    while topics.count("sitewatch/hq/sd-02/status") < 1:
        assert time.monotonic() < deadline, "the honest will never arrived"
        time.sleep(0.02)
    time.sleep(0.2)
    assert topics.count("sitewatch/hq/sd-02/status") == 1


def test_the_simulator_user_publishes_the_whole_site_with_last_wills_at_the_deploy_broker(
    deploy_broker: int, service_reader: tuple[mqtt.Client, list[str]]
) -> None:
    _, topics = service_reader
    registry = Registry.from_devices([Device(id=i, kind="door", site="acl", zone="z")
                                      for i in ("door-a", "door-b")])
    sim = Simulator(registry, f"mqtt://simulator:pw-sim@127.0.0.1:{deploy_broker}",
                    rate=10, duration_s=1.0)
    sim.run()
    for d in ("door-a", "door-b"):
        wait_for_topic(topics, f"sitewatch/acl/{d}/telemetry")
        wait_for_topic(topics, f"sitewatch/acl/{d}/status")


# -- the container healthcheck script ---------------------------------------------------


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200 if self.path == "/api/v1/health" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def healthcheck(*args: str) -> int:
    """Exit status of deploy/healthcheck.py with these arguments."""
    return subprocess.run([sys.executable, str(REPO / "deploy" / "healthcheck.py"), *args],
                          capture_output=True, timeout=30).returncode


def test_the_http_healthcheck_passes_on_2xx_and_fails_on_errors_or_silence() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert healthcheck("http", f"{base}/api/v1/health") == 0
        assert healthcheck("http", f"{base}/broken") == 1
    finally:
        server.shutdown()
        server.server_close()
    assert healthcheck("http", f"http://127.0.0.1:{free_port()}/") == 1


def test_the_mqtt_healthcheck_compares_the_retained_status(
    mosquitto: Server, topic_prefix: str
) -> None:
    client, answer = connect(mosquitto.port, None, None)
    topic = f"{topic_prefix}/hq/sd-01/status"
    client.publish(topic, "online", qos=1, retain=True).wait_for_publish(5)
    close(client)
    url = f"mqtt://127.0.0.1:{mosquitto.port}"
    assert healthcheck("mqtt", url, topic, "online") == 0
    assert healthcheck("mqtt", url, topic, "offline") == 1

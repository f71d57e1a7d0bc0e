"""The production stack: docker-compose.yml, Dockerfile, .env.example and the broker's ACL.

No Docker engine runs here, so the compose file is checked by reading it, and the Mosquitto
configuration is checked for real: the deploy entrypoint builds the password file and runs
Mosquitto with the deploy config and ACL, and devices try to publish where they may not.
"""

from __future__ import annotations

import http.server
import re
import subprocess
import sys
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
from tests.devices.deploy_broker import (
    DeployBroker,
    close,
    connect,
    start_deploy_broker,
)
from tests.servers import Server, free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "mosquitto"
SERVICES = {"mosquitto", "influxdb", "postgres", "sitewatch", "caddy", "simulate", "grafana"}
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
    assert env["SITEWATCH_MQTT_URL"].startswith("mqtts://sitewatch:")
    assert env["SITEWATCH_MQTT_URL"].endswith("@mosquitto:8883")
    assert env["SITEWATCH_MQTT_CA_FILE"] == "/certs/ca.crt"
    assert env["SITEWATCH_INFLUX_API"] == "v2"
    assert env["SITEWATCH_INFLUX_URL"] == "http://influxdb:8086"
    assert {"SITEWATCH_INFLUX_TOKEN_FILE", "SITEWATCH_INFLUX_ORG",
            "SITEWATCH_INFLUX_BUCKET"} <= set(env)
    assert "SITEWATCH_INFLUX_TOKEN" not in env  # the admin token stays inside InfluxDB
    assert env["SITEWATCH_DATABASE_URL"].startswith("postgresql+psycopg://sitewatch_app:")
    assert env["SITEWATCH_DATABASE_URL"].endswith("@postgres:5432/${POSTGRES_DB:-sitewatch}")
    assert env["SITEWATCH_API_HOST"] == "0.0.0.0"
    check = " ".join(compose["services"]["sitewatch"]["healthcheck"]["test"])
    assert "/api/v1/health/live" in check  # liveness: buffering through an outage is healthy
    influx = compose["services"]["influxdb"]["environment"]
    assert influx["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert {"DOCKER_INFLUXDB_INIT_ORG", "DOCKER_INFLUXDB_INIT_BUCKET",
            "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"} <= set(influx)
    simulate = compose["services"]["simulate"]
    assert simulate["profiles"] == ["simulate"]
    assert simulate["command"].startswith("sitewatch simulate --broker mqtt://simulator:")


def _listeners() -> dict[str, dict[str, list[str]]]:
    """mosquitto.conf's settings per listener port ("global" for those before the first)."""
    out: dict[str, dict[str, list[str]]] = {"global": {}}
    current = out["global"]
    for line in (DEPLOY / "mosquitto.conf").read_text().splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "listener":
            current = out.setdefault(words[1], {})
        else:
            current[words[0]] = words[1:]
    return out


def test_each_broker_listener_refuses_anonymous_clients_and_has_its_own_accounts() -> None:
    conf = _listeners()
    assert conf["global"]["per_listener_settings"] == ["true"]
    assert set(conf) == {"global", "8883", "1883"}
    for port in ("8883", "1883"):
        assert conf[port]["allow_anonymous"] == ["false"]
        assert conf[port]["acl_file"] == ["/mosquitto/data/acl"]  # written by entrypoint.sh
    assert conf["8883"]["password_file"] == ["/mosquitto/data/passwd-devices"]
    assert conf["1883"]["password_file"] == ["/mosquitto/data/passwd-internal"]
    # Devices: TLS only, and a client id bound to the username (no session takeover).
    assert conf["8883"]["use_username_as_clientid"] == ["true"]
    assert {"cafile", "certfile", "keyfile"} <= set(conf["8883"])
    flat = {k: v for settings in conf.values() for k, v in settings.items()}  # global ones
    assert flat["max_packet_size"] == ["67584"]  # 66 KiB
    assert int(flat["max_queued_bytes"][0]) > 0


def test_only_tls_and_https_are_published_beyond_this_host(compose: dict[str, Any]) -> None:
    published = {}
    for name, service in compose["services"].items():
        for mapping in service.get("ports", []):
            published[mapping] = name
    public = {m: n for m, n in published.items() if not m.startswith("127.0.0.1:")}
    assert sorted(public.values()) == ["caddy", "mosquitto"]
    assert {m.rsplit(":", 1)[1] for m in public} == {"8883", "8443"}


def test_containers_run_as_non_root_and_read_only_where_the_image_allows(
    compose: dict[str, Any]
) -> None:
    for name, service in compose["services"].items():
        if name == "influxdb":  # its setup writes CLI config and bolt files outside volumes
            continue
        assert service.get("read_only") is True, name
        assert service.get("user") not in (None, "root", "0"), name


def test_the_simulator_account_exists_only_under_the_simulate_profile(
    compose: dict[str, Any]
) -> None:
    script = (DEPLOY / "entrypoint.sh").read_text()
    assert "*,simulate,*) simulate=true" in script
    assert compose["services"]["mosquitto"]["environment"]["COMPOSE_PROFILES"] == (
        "${COMPOSE_PROFILES:-}")


# -- the deploy broker, for real --------------------------------------------------------


@pytest.fixture(scope="module")
def deploy_broker() -> Iterator[DeployBroker]:
    """The deploy broker (both listeners, generated certificates, three devices)."""
    yield from start_deploy_broker()


@pytest.fixture
def service_reader(deploy_broker: DeployBroker) -> Iterator[tuple[mqtt.Client, list[str]]]:
    """The `sitewatch` user subscribed to sitewatch/# (internal listener), with the topics."""
    client, answer = connect(deploy_broker.internal, "sitewatch", "pw-service")
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


def device(broker: DeployBroker, user: str, will: str | None = None) -> mqtt.Client:
    """A device logged in over TLS with its password from DEVICES."""
    client, answer = connect(broker.tls, user, f"pw-{user}", will=will, ca=broker.certs / "ca.crt")
    assert answer == "Success"
    return client


@pytest.mark.parametrize(("user", "password"), [(None, None), ("sd-01", "wrong"), ("nobody", "x")])
def test_the_deploy_broker_refuses_anonymous_and_unknown_logins(
    deploy_broker: DeployBroker, user: str | None, password: str | None
) -> None:
    client, answer = connect(deploy_broker.tls, user, password, ca=deploy_broker.certs / "ca.crt")
    close(client)
    assert answer == "Not authorized"
    client, answer = connect(deploy_broker.internal, user, password)
    close(client)
    assert answer == "Not authorized"


def test_devices_cannot_log_in_on_the_plain_internal_listener(
    deploy_broker: DeployBroker,
) -> None:
    client, answer = connect(deploy_broker.internal, "sd-01", "pw-sd-01")
    close(client)
    assert answer == "Not authorized"


def test_a_device_can_publish_only_under_its_own_site_and_topics_at_the_deploy_broker(
    deploy_broker: DeployBroker, service_reader: tuple[mqtt.Client, list[str]]
) -> None:
    _, topics = service_reader
    sd01 = device(deploy_broker, "sd-01")
    forged = ["sitewatch/hq/sd-02/telemetry", "sitewatch/hq/sd-02/status",
              "sitewatch/annex/sd-01/telemetry", "sitewatch/annex/sd-01/event",
              "sitewatch/hq/sd-01/commands", "sitewatch/hq/sd-01/telemetry/x"]
    for topic in forged:
        sd01.publish(topic, "{}", qos=1).wait_for_publish(5)
    sd01.publish("sitewatch/hq/sd-01/telemetry", "{}", qos=1).wait_for_publish(5)
    wait_for_topic(topics, "sitewatch/hq/sd-01/telemetry")  # same client: forged ones came first
    close(sd01)
    assert not set(forged) & set(topics)


def drop(client: mqtt.Client) -> None:
    """Cut a client's connection without a DISCONNECT, so the broker fires its will."""
    client.loop_stop()
    sock = client.socket()
    assert sock is not None
    sock.close()


@pytest.mark.slow  # two dropped TLS sessions, each joining paho's 1-s network loop: over 2 s
def test_a_device_last_will_fires_on_its_own_status_but_never_on_another_devices(
    deploy_broker: DeployBroker, service_reader: tuple[mqtt.Client, list[str]]
) -> None:
    _, topics = service_reader
    forger = device(deploy_broker, "sd-01", will="sitewatch/hq/sd-02/status")
    honest = device(deploy_broker, "sd-02", will="sitewatch/hq/sd-02/status")
    drop(forger)
    time.sleep(0.5)  # let the broker handle the first drop before the second
    drop(honest)
    wait_for_topic(topics, "sitewatch/hq/sd-02/status")
    # A barrier instead of a sleep: the broker delivers in order, so once a message published
    # after the honest will has arrived, a forged will would have arrived before it.
    marker = device(deploy_broker, "sd-01")
    marker.publish("sitewatch/hq/sd-01/telemetry", "{}", qos=1).wait_for_publish(10)
    close(marker)
    wait_for_topic(topics, "sitewatch/hq/sd-01/telemetry")
    assert topics.count("sitewatch/hq/sd-02/status") == 1


def test_the_simulator_user_publishes_the_whole_site_with_last_wills_at_the_deploy_broker(
    deploy_broker: DeployBroker, service_reader: tuple[mqtt.Client, list[str]]
) -> None:
    _, topics = service_reader
    registry = Registry.from_devices([Device(id=i, kind="door", site="acl", zone="z")
                                      for i in ("door-a", "door-b")])
    sim = Simulator(registry, f"mqtt://simulator:pw-sim@127.0.0.1:{deploy_broker.internal}",
                    rate=10, duration_s=1.0)
    sim.run()
    for d in ("door-a", "door-b"):
        wait_for_topic(topics, f"sitewatch/acl/{d}/telemetry")
        wait_for_topic(topics, f"sitewatch/acl/{d}/status")


def test_the_generated_acl_gives_each_device_its_own_site_and_id(
    deploy_broker: DeployBroker,
) -> None:
    acl = (deploy_broker.workdir / "acl").read_text()
    block = acl[acl.index("user ac-01\n"):].splitlines()[1:4]
    assert block == [f"topic write sitewatch/annex/ac-01/{c}" for c in
                     ("telemetry", "event", "status")]
    rules = [line.split() for line in acl.splitlines() if line and not line.startswith("#")]
    own_output = {"sitewatch/+/_incidents/+", "sitewatch/+/_events"}  # the service publishes
    assert not [r for r in rules if r[0] == "pattern" or "+" in r[-1] and r[0] != "user"
                and r[-1] != "sitewatch/#" and r[-1] not in own_output]


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
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
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

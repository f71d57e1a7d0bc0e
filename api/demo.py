"""`sitewatch demo`: broker, stores, rules, scheduler, API and a simulated site on one machine."""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

from api.broker import EmbeddedBroker, free_port
from api.server import serve_api
from api.service import Service
from api.settings import Settings
from api.tokens import ensure_bootstrap_token, new_token_secret
from devices.registry import Registry, load_registry
from devices.sim.scenario import Fault, demo_scenario
from devices.sim.simulator import Simulator
from rules.engine.loader import RulePack, load_rules
from rules.engine.models import ThresholdRule

log = logging.getLogger("sitewatch.demo")

DEMO_INTERVAL_S = 5.0  # every demo device reports this often, so a silent one is stale in 15 s
# The built-in holds are minutes long (a clogged filter 5 min, a hot zone 15 min); the demo
# shortens them so its scripted faults show within the first two minutes.
DEMO_HOLDS_S = {"filter_clogged": 20.0, "zone_overheat": 20.0}
DEFAULT_BROKER_PORT = 1884  # beside a system Mosquitto on 1883


def demo_registry() -> Registry:
    """The built-in sample site, every device reporting every DEMO_INTERVAL_S."""
    site = load_registry(None)
    devices = [d.model_copy(update={"interval_s": DEMO_INTERVAL_S}) for d in site.devices.values()]
    return Registry.from_devices(devices, site.zones)


def demo_pack() -> RulePack:
    """The built-in rule pack with the holds of DEMO_HOLDS_S (new rule objects; none mutated)."""
    pack = load_rules(None)
    rules = [
        r.model_copy(update={"hold": DEMO_HOLDS_S[r.id]})
        if isinstance(r, ThresholdRule) and r.id in DEMO_HOLDS_S
        else r
        for r in pack.rules
    ]
    return RulePack.of(rules, f"{pack.source} (demo holds)")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # As a listening server does: a closed connection's TIME_WAIT does not block the port.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _admin_token(data_dir: Path) -> str:
    """The demo's admin token: made once, kept in the data folder so a restart reuses it."""
    path = data_dir / "admin-token"
    if path.exists():
        return path.read_text().strip()
    token = new_token_secret()
    path.touch(mode=0o600)  # the admin secret: readable by its owner only
    path.write_text(token + "\n")
    return token


SCENARIO_MARK = "scenario-played"  # in the data folder once the scripted scenario has run


def demo_faults(data_dir: Path) -> tuple[Fault, ...]:
    """The scripted scenario on the first start in `data_dir`; none on a restart.

    A restart keeps the incidents of the first run; playing the scenario again would open the
    same faults as new incidents (or bump the latched ones) as if they had happened twice.
    Delete the mark file to play it again."""
    mark = data_dir / SCENARIO_MARK
    if mark.exists():
        return ()
    mark.write_text("the demo's scripted scenario has run here; delete this file to replay it\n")
    return tuple(demo_scenario())


def run_demo(data_dir: Path, port: int = 8000, broker_port: int = 0) -> int:
    """Run the demo until Ctrl-C; incidents and the token persist in `data_dir`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("httpx", "apscheduler", "alembic", "ingest.mqtt", "devices.sim.simulator"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not _port_free(port):
        log.error("port %d is in use; choose another with --port", port)
        return 2
    if broker_port == 0:
        broker_port = DEFAULT_BROKER_PORT if _port_free(DEFAULT_BROKER_PORT) else free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker(broker_port)
    broker.start()
    settings = Settings(
        mqtt_url=broker.url,
        mqtt_client_id="sitewatch-demo",
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir.resolve()}/sitewatch.db",
        api_port=port,
    )
    registry = demo_registry()
    service = Service(settings, registry=registry, pack=demo_pack())
    token = _admin_token(data_dir)
    ensure_bootstrap_token(service.engine, token)
    service.start()
    faults = demo_faults(data_dir)
    simulator = Simulator(registry, broker.url, faults=faults, seed=7)
    sim_thread = threading.Thread(target=simulator.run, name="simulator", daemon=True)
    sim_thread.start()
    base = f"http://127.0.0.1:{port}"
    story = (
        "In the first two minutes the simulated site clogs a filter, forces a door, holds "
        "another open,\nraises a smoke alarm, bursts access denials, overheats a zone and "
        "silences a detector."
        if faults else
        f"The scripted scenario ran on the first start; the site now reports normally (delete "
        f"{data_dir / SCENARIO_MARK} to replay it)."
    )
    banner = f"""
Sitewatch demo is running (data in {data_dir.resolve()}; Ctrl-C stops it).

  dashboard  {base}/   (paste the token)
  API        {base}/api/v1/status      (interactive docs: {base}/docs)
  token      {token}
  try        curl -H 'Authorization: Bearer {token}' {base}/api/v1/incidents
  live       curl -N -H 'Authorization: Bearer {token}' {base}/api/v1/stream
  your own   mosquitto_pub -h 127.0.0.1 -p {broker_port} -q 1 -t sitewatch/hq/zs-01/telemetry \\
               -m '{{"metrics": {{"temperature_c": 31.5, "humidity_pct": 40, "co2_ppm": 650}}}}'

{story}
"""
    try:
        serve_api(service.runtime, settings.api_host, port, lambda: print(banner, flush=True))
    finally:
        # Ingest and rules stop before the simulated devices go: their `offline` goodbyes are
        # the demo ending, not ten life-safety devices failing (no false P1 tickets).
        service.stop()
        simulator.stop()
        sim_thread.join(10)
        broker.stop()
    return 0

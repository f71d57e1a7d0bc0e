"""Browser tests: Debian's Chromium driven by Playwright against a real `sitewatch serve`.

One Chromium and one `sitewatch serve` (real Mosquitto, real InfluxDB 1.x over the
v1 API, SQLite) per test module, a fresh browser context (its own storage) per test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from api.tokens import create_token
from rules.db.database import open_database
from tests.e2e.helpers import Site
from tests.servers import Server, free_port, missing, stop_process

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",  # the alarm may sound without a click
]
ROOT = Path(__file__).resolve().parents[2]
# The README's pictures are refreshed on purpose (`SITEWATCH_SCREENSHOTS=docs/screenshots`); a
# plain test run writes them to a temporary folder and leaves the working tree as it was.
SCREENSHOTS = Path(os.environ.get("SITEWATCH_SCREENSHOTS")
                   or Path(tempfile.gettempdir()) / "sitewatch-screenshots")
_ids = count()

# Counts what the page asks of Web Audio, so a test can tell the alarm requested sound
# (headless Chromium has no speaker to listen to).
AUDIO_PROBE = """
(() => {
  window.__sound = { contexts: 0, oscillators: 0 };
  const Real = window.AudioContext;
  if (!Real) return;
  window.AudioContext = class extends Real {
    constructor(...a) { super(...a); window.__sound.contexts += 1; }
    createOscillator() { window.__sound.oscillators += 1; return super.createOscillator(); }
  };
})();
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless; missing: a failure under CI=true, a skip elsewhere.

    Per module, not per session: Playwright's sync API keeps an asyncio loop running in the
    thread while it is open, and an xdist worker goes on with other tests (asyncio.run) after
    the browser tests."""
    if not CHROMIUM.exists():
        missing("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright (pip install -e '.[test]')")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Console:
    """A running `sitewatch serve`: its URL, tokens by role, a device site and the store."""

    def __init__(self, mosquitto: Server, influxdb: Server, workdir: Path) -> None:
        self.workdir = workdir
        n = next(_ids)
        self.prefix = f"b{os.getpid()}x{n}"
        self.influx_port = influxdb.port
        self.influx_db = f"b{os.getpid()}_{n}"
        self._influx_query(f'CREATE DATABASE "{self.influx_db}"', post=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url = f"sqlite:///{workdir / 'sitewatch.db'}"
        self.env = {
            **os.environ,
            "SITEWATCH_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto.port}",
            "SITEWATCH_MQTT_CLIENT_ID": f"{self.prefix}-serve",
            "SITEWATCH_MQTT_TOPIC_PREFIX": self.prefix,
            "SITEWATCH_INFLUX_URL": f"http://127.0.0.1:{influxdb.port}",
            "SITEWATCH_INFLUX_API": "v1",
            "SITEWATCH_INFLUX_DB": self.influx_db,
            "SITEWATCH_DATA_DIR": str(workdir / "var"),
            "SITEWATCH_DATABASE_URL": self.db_url,
            "SITEWATCH_API_PORT": str(self.port),
            "SITEWATCH_FLOOR_PLANS": str(self._plans(workdir / "plans")),
            "PYTHONPATH": str(ROOT),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.site = Site(mosquitto.port, self.prefix, "hq")
        self.tokens: dict[str, str] = {}

    @staticmethod
    def _plans(folder: Path) -> Path:
        """A plan image for the ground floor only; floor 1 is drawn from device positions."""
        (folder / "hq").mkdir(parents=True)
        (folder / "hq" / "G.svg").write_text(
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 100">'
            '<rect x="1" y="1" width="198" height="98" fill="#fff" stroke="#555"/>'
            '<line x1="60" y1="1" x2="60" y2="50" stroke="#555"/></svg>'
        )
        return folder

    def _influx_query(self, q: str, post: bool = False) -> dict[str, Any]:
        params = urllib.parse.urlencode({"q": q, "db": getattr(self, "influx_db", "")})
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.influx_port}/query?{params}", method="POST" if post else "GET"
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            body: dict[str, Any] = json.load(r)
            return body

    def start(self) -> None:
        """Start the service and wait until its API answers."""
        log = open(self.workdir / "serve.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve"], env=self.env, cwd=self.workdir,
            stdout=log, stderr=log,
        )
        deadline = time.monotonic() + 40
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # 503: up, a dependency still starting
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((self.workdir / "serve.log").read_text()) from None
                time.sleep(0.1)
        if self.tokens:
            return  # a restart: the tokens are in the database already
        engine = open_database(self.db_url)
        try:
            for role in ("admin", "security", "maintenance", "viewer"):
                self.tokens[role] = create_token(engine, f"{role}-{self.prefix}", role)
        finally:
            engine.dispose()
        self._warm_up()

    def _warm_up(self) -> None:
        """One alert through the whole path (broker, rules, database, stream) and resolved, so
        the first test's timing is the service's, not its first-call start-up."""
        self.site.event("door-08", "door_forced_open")
        deadline = time.monotonic() + 30
        while True:
            items = self.api("/incidents?kind=alert&open=true&device_id=door-08")["items"]
            if items:
                break
            assert time.monotonic() < deadline, "the warm-up alert never opened"
            time.sleep(0.1)
        self.api(f"/incidents/{items[0]['id']}/resolve", "admin",
                 {"note": "warm-up", "code": "test"})

    def stop(self, keep_site: bool = False) -> None:
        """Stop the service (SIGTERM, then SIGKILL); the devices go on unless told otherwise."""
        if not keep_site:
            self.site.close()
        stop_process(self.proc, grace_s=20)

    def api(self, path: str, role: str = "admin", body: Any = None) -> Any:
        """Call the API as `role`; the decoded JSON answer."""
        req = urllib.request.Request(
            f"{self.url}/api/v1{path}",
            data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
            headers={"Authorization": f"Bearer {self.tokens[role]}",
                     "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def write_points(self, device_id: str, metric: str, points: list[tuple[float, float]]) -> None:
        """Store readings straight into InfluxDB, as the ingest path would have."""
        lines = "\n".join(
            f"telemetry,site=hq,device_id={device_id} {metric}={v} {int(ts * 1e9)}"
            for ts, v in points
        )
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.influx_port}/write?db={self.influx_db}",
            data=lines.encode(), method="POST",
        )
        urllib.request.urlopen(req, timeout=5).close()


@pytest.fixture(scope="module")
def console(
    mosquitto: Server, influxdb: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    """One `sitewatch serve` for the whole test module (starting it costs seconds)."""
    c = Console(mosquitto, influxdb, tmp_path_factory.mktemp("console"))
    c.start()
    try:
        yield c
    finally:
        c.stop()


OpenPage = Callable[..., Any]


@pytest.fixture
def open_page(browser: Any, console: Console) -> Iterator[OpenPage]:
    """Open the console as a role, in a locale, at a width; every context closed afterwards."""
    contexts: list[Any] = []
    errors: list[str] = []  # uncaught exceptions in any page: a broken view fails its test

    def _open(role: str = "security", locale: str = "en-US", width: int = 1280,
              height: int = 900, route: str = "#/queue") -> Any:
        ctx = browser.new_context(
            locale=locale, viewport={"width": width, "height": height},
            permissions=["notifications"], base_url=console.url,
        )
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
        page.add_init_script(AUDIO_PROBE)
        page.goto(f"/#token={console.tokens[role]}")
        page.wait_for_function("() => document.getElementById('live').dataset.state === 'ok'",
                               timeout=15000)
        if route != "#/queue":
            page.evaluate("r => { location.hash = r; }", route)
        return page

    try:
        yield _open
    finally:
        for ctx in contexts:
            ctx.close()
    assert not errors, errors


def shot(page: Any, name: str) -> None:
    """Save a screenshot of the whole page under SCREENSHOTS."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

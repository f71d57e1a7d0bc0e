"""The console in Debian's Chromium: first load on the demo; the alarm queue with 500 active
alerts and the device list with 10,000 devices against a real `sitewatch serve`.

    .venv/bin/python -m bench.console            # ~2 minutes on 2 cores; prints JSON

Needs what the browser tests need (Chromium at /usr/bin/chromium, Playwright, Mosquitto,
InfluxDB 1.x). Not run by the tests.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright

from bench.common import ROOT, TOKEN, Serve, Servers, wait_until
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.ingest.helpers import Publisher
from tests.servers import free_port, stop_process

ALERTS = 500  # doors each raising "door forced open": 500 active critical alerts
DEVICES = 10_000  # zone sensors besides the doors
LOADS = 5  # first loads measured on the demo
FRAMES = 100  # repeat frames sent while the 500-alert queue is on screen

READY = "() => document.getElementById('live').dataset.state === 'ok'"


def _registry(path: Path) -> Path:
    lines = ["devices:"]
    lines += [f"  - {{id: door-{i:04d}, kind: door, site: hq, zone: z{i % 50}}}"
              for i in range(ALERTS)]
    lines += [f"  - {{id: zs-{i:05d}, kind: zone_sensor, site: hq, zone: z{i % 50}}}"
              for i in range(DEVICES)]
    path.write_text("\n".join(lines) + "\n")
    return path


def first_load_on_the_demo(browser: Browser, workdir: Path) -> dict[str, Any]:
    """`sitewatch demo`: navigation start -> live stream attached and the queue drawn."""
    port = free_port()
    data = workdir / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "demo", "--port", str(port), "--data-dir", str(data)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: (data / "admin-token").exists() and _up(port), 60), "no demo"
        token = (data / "admin-token").read_text().strip()
        times, dcl = [], []
        for _ in range(LOADS):
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            page = ctx.new_page()
            page.goto(f"http://127.0.0.1:{port}/#token={token}")
            page.wait_for_function(READY, timeout=30000)
            page.wait_for_selector("#queue-count:not(:empty)")
            times.append(page.evaluate("() => performance.now()"))
            dcl.append(page.evaluate(
                "() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"))
            ctx.close()
        return {"loads": LOADS, "ready_ms_median": round(statistics.median(times)),
                "ready_ms_max": round(max(times)),
                "dom_content_loaded_ms_median": round(statistics.median(dcl))}
    finally:
        stop_process(proc)


def _up(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).close()
        return True
    except OSError:
        return False


def _open_alerts(serve: Serve) -> int:
    return int(serve.get("/incidents?kind=alert&open=true&limit=1")["total"])


def queue_and_devices(browser: Browser, workdir: Path) -> dict[str, Any]:
    """500 active alerts and 10,500 devices: queue draw, per-frame work, device pages."""
    servers = Servers(workdir / "servers")
    servers.start()
    prefix = "bconsole"
    db = "bconsole"
    urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{servers.influx.port}/query?q=CREATE+DATABASE+{db}", method="POST"))
    serve = Serve(servers.mqtt, servers.influx, workdir / "serve", db,
                  _registry(workdir / "devices.yaml"), prefix)
    out: dict[str, Any] = {}
    try:
        serve.start()
        pub = Publisher(servers.mqtt.port, f"{prefix}-pub")
        for i in range(ALERTS):
            body = json.dumps({"ts": time.time(), "seq": 1, "event": "door_forced_open"})
            pub.publish(f"{prefix}/hq/door-{i:04d}/event", body)
        pub.close()
        assert wait_until(lambda: _open_alerts(serve) >= ALERTS, 120), _open_alerts(serve)

        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        started = time.monotonic()
        page.goto(f"http://127.0.0.1:{serve.port}/#token={TOKEN}")
        page.wait_for_function(READY, timeout=30000)
        page.wait_for_function(f"() => document.getElementById('queue-count').textContent"
                               f" === '({ALERTS})'", timeout=30000)
        out["queue_ready_ms"] = round((time.monotonic() - started) * 1000)
        out["queue_items_in_dom"] = page.locator("#queue > li").count()
        # Count what each stream frame does to the queue: nodes added and main-thread time.
        page.evaluate("""() => {
          window.__m = { added: 0, busy: 0 };
          new MutationObserver((ms) => {
            for (const m of ms) window.__m.added += m.addedNodes.length;
          }).observe(document.getElementById('queue'), { childList: true });
          new PerformanceObserver((l) => {
            for (const e of l.getEntries()) window.__m.busy += e.duration;
          }).observe({ type: 'longtask', buffered: false });
        }""")
        pub = Publisher(servers.mqtt.port, f"{prefix}-pub2")
        sent = time.monotonic()
        for i in range(FRAMES):  # repeats: each one a "repeated" frame for one alert
            body = json.dumps({"ts": time.time(), "seq": 2, "event": "door_forced_open"})
            pub.publish(f"{prefix}/hq/door-{i:04d}/event", body)
        pub.close()
        wait_until(lambda: page.evaluate("() => window.__m.added") >= FRAMES * 0.5, 60)
        time.sleep(2)
        m = page.evaluate("() => window.__m")
        out.update(frames_sent=FRAMES, queue_nodes_added=m["added"],
                   long_task_ms_during_frames=round(m["busy"]),
                   frames_wall_s=round(time.monotonic() - sent, 1))

        started = time.monotonic()
        page.evaluate("() => { location.hash = '#/devices'; }")
        page.wait_for_function("() => document.querySelectorAll('#devices tr').length === 100",
                               timeout=30000)
        out["devices_first_page_ms"] = round((time.monotonic() - started) * 1000)
        out["devices_total"] = page.inner_text("#dv-h small")
        pages = []
        for _ in range(5):
            first = page.locator("#devices tr").first.get_attribute("data-id")
            started = time.monotonic()
            page.get_by_role("button", name="Next page").click()
            page.wait_for_function(
                "f => document.querySelector('#devices tr').dataset.id !== f", arg=first)
            pages.append((time.monotonic() - started) * 1000)
        out["devices_next_page_ms_median"] = round(statistics.median(pages))
        out["devices_rows_in_dom"] = page.locator("#devices tr").count()
        ctx.close()
    finally:
        serve.stop()
        servers.stop()
    return out


def main() -> int:
    """Run both and print the figures as JSON."""
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            result = {"first_load_demo": first_load_on_the_demo(browser, Path(tmp)),
                      "queue_500_devices_10000": queue_and_devices(browser, Path(tmp))}
        finally:
            browser.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

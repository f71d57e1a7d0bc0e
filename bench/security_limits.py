"""The API's limits measured on a real uvicorn (not run by the tests).

    PYTHONPATH=. .venv/bin/python bench/security_limits.py

Prints: the answer to a 2 MiB body announced but never sent (413 before any byte is read),
to an unauthenticated body (401 before it is read), the request series after 40 made-up
HTTP methods, authenticated requests per second, and how long a revoked token's open stream
lives (at most one heartbeat, 15 s).
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from api.app import create_app
from api.tokens import create_token, revoke_token
from tests.api.conftest import bearer, build_runtime
from tests.servers import free_port

HEAD = "POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def first_line(port: int, request: str) -> tuple[str, float]:
    """Send only the request head; the status line and milliseconds until it came."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        started = time.perf_counter()
        s.sendall(request.encode())
        line = s.recv(200).split(b"\r\n")[0].decode()
        return line, (time.perf_counter() - started) * 1000


def main() -> None:
    """Run every measurement against one server."""
    rt = build_runtime(Path(tempfile.mkdtemp()))
    token = create_token(rt.engine, "bench", "admin")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(
        create_app(rt, heartbeat_s=15), host="127.0.0.1", port=port, log_level="error"
    ))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    line, ms = first_line(port, HEAD + "Authorization: Bearer x\r\nContent-Length: 2097152\r\n\r\n")
    print(f"2 MiB announced, none sent: {line} in {ms:.1f} ms")
    line, ms = first_line(port, HEAD + "Content-Length: 1000\r\n\r\n")
    print(f"1000 B announced without a token, none sent: {line} in {ms:.1f} ms")
    with httpx.Client(timeout=60) as http:
        for i in range(40):
            http.request(f"MADEUP{i}", f"{url}/api/v1/status")
        text = http.get(f"{url}/metrics", headers=bearer(token)).text
        series = [s for s in text.splitlines() if s.startswith("sitewatch_api_requests_total{")]
        print(f"request series after 40 made-up methods: {len(series)}")
        n, started = 500, time.perf_counter()
        for _ in range(n):
            http.get(f"{url}/api/v1/whoami", headers=bearer(token))
        print(f"GET /api/v1/whoami: {n / (time.perf_counter() - started):.0f} req/s, one client")
        with http.stream("GET", f"{url}/api/v1/stream", headers=bearer(token)) as r:
            lines = r.iter_lines()
            next(lines)
            revoke_token(rt.engine, "bench")
            started = time.perf_counter()
            for _ in lines:
                pass
            print(f"revoked token's stream ended {time.perf_counter() - started:.1f} s later "
                  "(heartbeat 15 s)")
    server.should_exit = True


if __name__ == "__main__":
    main()

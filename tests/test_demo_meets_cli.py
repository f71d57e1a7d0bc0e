"""The demo and the CLI meet by default; stopping the demo opens no false tickets (17.12, 17.13)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from api.cli import main
from api.demo import SCENARIO_MARK, demo_faults
from rules.db.database import open_database
from tests.ingest.helpers import wait_until
from tests.servers import free_port


def test_the_scripted_scenario_plays_on_the_first_start_only(tmp_path: Path) -> None:
    assert demo_faults(tmp_path)  # first start: the whole scenario
    assert (tmp_path / SCENARIO_MARK).exists()
    assert demo_faults(tmp_path) == ()  # a restart: normal traffic, no replayed faults


@pytest.mark.slow
def test_token_create_works_with_the_running_demo_and_its_stop_opens_no_offline_tickets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "var"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "SITEWATCH_DATA_DIR": str(data)}
    env.pop("SITEWATCH_DATABASE_URL", None)
    port = free_port()
    out = tmp_path / "demo.out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "demo", "--port", str(port),
         "--broker-port", str(free_port())],
        stdout=out.open("ab"), stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
    )

    def get(path: str, token: str) -> dict:
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.load(r)

    try:
        assert wait_until(lambda: "token" in out.read_text(), 60), out.read_text()
        admin = re.findall(r"token\s+(\S+)", out.read_text())[0]
        # frozen before the API listens (api/heap.py): full collections skip the start-up heap
        frozen = re.findall(r"start-up heap frozen: (\d+) objects", out.read_text())
        assert frozen and int(frozen[0]) > 50_000, out.read_text()[-2000:]
        assert wait_until(
            lambda: get("/api/v1/status", admin)["devices"]["by_state"]["online"] >= 40, 30
        )
        monkeypatch.setenv("SITEWATCH_DATA_DIR", str(data))
        monkeypatch.delenv("SITEWATCH_DATABASE_URL", raising=False)
        capsys.readouterr()
        assert main(["token", "create", "guard-1", "--role", "security"]) == 0
        guard = capsys.readouterr().out.strip()
        assert get("/api/v1/incidents", guard)["total"] >= 0  # 200, not 401
        assert main(["token", "list"]) == 0
        listed = capsys.readouterr().out
        assert "bootstrap" in listed and "guard-1" in listed
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, out.read_text()[-3000:]
    engine = open_database(f"sqlite:///{data}/sitewatch.db")
    try:
        with engine.connect() as conn:
            offline = conn.execute(sa.text(
                "select count(*) from incidents where rule_id in "
                "('life_safety_offline', 'device_offline')"
            )).scalar_one()
    finally:
        engine.dispose()
    assert offline == 0

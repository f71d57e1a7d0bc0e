"""Ports for test servers and the demo's broker come from below the kernel's ephemeral range."""

from __future__ import annotations

import socket
from pathlib import Path

from api import broker
from api.broker import free_port


def test_a_free_port_is_below_the_ephemeral_range_and_can_be_listened_on() -> None:
    low = int(broker.EPHEMERAL_RANGE.read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(low - broker.BELOW_EPHEMERAL <= p < low for p in ports), ports
    assert len(ports) > 1  # picked at random, not the same one each time
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports.pop()))
        s.listen()


def test_a_port_in_use_is_not_given(monkeypatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        used = taken.getsockname()[1]
        real, tried = broker._PICK.randrange, []

        def pick(a: int, b: int) -> int:  # the taken port first, then at random
            tried.append(used if not tried else real(a, b))
            return tried[-1]

        monkeypatch.setattr(broker._PICK, "randrange", pick)
        assert free_port() != used and tried[0] == used and len(tried) >= 2


def test_without_the_kernels_range_it_assumes_linuxs_default(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(broker, "EPHEMERAL_RANGE", Path(tmp_path / "missing"))
    assert 32768 - broker.BELOW_EPHEMERAL <= free_port() < 32768

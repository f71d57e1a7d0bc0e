"""The telemetry stores a parametrised fixture names: the embedded one in the test's folder,
or a real InfluxDB 1.6.7 on a database of the test's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.stores.embedded import EmbeddedStore
from ingest.stores.influx_v1 import InfluxV1Store


def embedded_or_influx_v1(request: pytest.FixtureRequest, tmp_path: Path
                          ) -> EmbeddedStore | InfluxV1Store:
    """The store `request.param` names ("embedded" or "influx_v1"); the caller closes it."""
    if request.param == "embedded":
        return EmbeddedStore(tmp_path / "telemetry.db")
    server = request.getfixturevalue("influxdb")
    return InfluxV1Store(f"http://127.0.0.1:{server.port}", request.getfixturevalue("influx_db"))

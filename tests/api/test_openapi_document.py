"""The OpenAPI document declares the bearer scheme and the error answers clients must handle
(the fast loop's check; test_openapi.py fuzzes the whole document in the full suite)."""

from __future__ import annotations

from pathlib import Path

from api.app import create_app
from tests.api.conftest import build_runtime


def test_the_document_declares_the_bearer_scheme_and_error_answers(tmp_path: Path) -> None:
    doc = create_app(build_runtime(tmp_path)).openapi()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    ack = doc["paths"]["/api/v1/incidents/{incident_id}/acknowledge"]["post"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(ack["responses"])
    assert "400" in doc["paths"]["/api/v1/devices/{device_id}/telemetry"]["get"]["responses"]
    assert "201" in doc["paths"]["/api/v1/tickets"]["post"]["responses"]
    stream = doc["paths"]["/api/v1/stream"]["get"]["responses"]["200"]["content"]
    assert list(stream) == ["text/event-stream"]
    assert doc["paths"]["/api/v1/health"]["get"].get("security") is None

"""GET /api/v1/deadletters: every role reads it, times in RFC 3339 (issue 17.5)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.runtime import Runtime
from api.tokens import ROLES
from tests.api.conftest import bearer

T0 = 1_795_773_600.25  # 2026-11-27T10:00:00.25Z


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_role_reads_dead_letters_with_rfc3339_times(
    rt: Runtime, client: TestClient, tokens: dict[str, str], role: str
) -> None:
    rt.deadletters.add("sitewatch/hq/x/telemetry", "bad_json", "not JSON", b"{x", T0)
    r = client.get("/api/v1/deadletters", headers=bearer(tokens[role]))
    assert r.status_code == 200, r.text
    item = r.json()["items"][0]
    assert item["at"] == "2026-11-27T10:00:00.250000Z"
    assert r.json()["dropped"] == 0

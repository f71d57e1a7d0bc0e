"""Dead letters an operator can read: persistent, bounded, oldest dropped and counted (17.5)."""

from __future__ import annotations

from pathlib import Path

from ingest.deadletters import DeadLetters

T0 = 1_795_773_600.25  # 2026-11-27T10:00:00.25Z


def test_dead_letters_survive_a_restart_and_drop_the_oldest_first_counting_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deadletters.sqlite3"
    first = DeadLetters(3, path)
    for n in range(5):
        first.add(f"sitewatch/hq/d{n}/telemetry", "bad_json", "not JSON", b"{x", T0 + n)
    first.close()
    again = DeadLetters(3, path)
    assert [i["topic"] for i in again.items()] == [
        "sitewatch/hq/d4/telemetry", "sitewatch/hq/d3/telemetry", "sitewatch/hq/d2/telemetry"
    ]
    assert len(again) == 3 and again.dropped == 2
    again.add("t", "too_large", "over 64 KiB", b"", T0 + 9)
    assert again.dropped == 3 and again.items()[0]["reason"] == "too_large"
    again.close()


def test_without_a_file_the_record_is_kept_in_memory_as_before() -> None:
    ring = DeadLetters(2)
    for n in range(3):
        ring.add("t", "bad_json", "", b"", T0 + n)
    assert [i["at"] for i in ring.items()] == [T0 + 2, T0 + 1] and ring.dropped == 1

"""Seq-gap counting, the counters snapshot and the dead-letter record."""

from __future__ import annotations

import threading

from ingest.counters import IngestCounters, SeqTracker
from ingest.deadletters import DeadLetters


def test_consecutive_seqs_lose_nothing_and_a_jump_counts_the_missing_readings():
    t = SeqTracker()
    assert t.observe("hq", "a", 10) == ("first", 0)
    assert t.observe("hq", "a", 11) == ("next", 0)
    assert t.observe("hq", "a", 15) == ("gap", 3)  # 12, 13, 14 lost


def test_a_lower_seq_is_a_restart_not_a_loss_and_the_same_seq_is_a_duplicate():
    t = SeqTracker()
    t.observe("hq", "a", 500)
    assert t.observe("hq", "a", 500) == ("duplicate", 0)
    assert t.observe("hq", "a", 0) == ("restart", 0)
    assert t.observe("hq", "a", 1) == ("next", 0)


def test_devices_are_tracked_separately_and_by_site():
    t = SeqTracker()
    t.observe("hq", "a", 1)
    t.observe("annex", "a", 7)
    assert t.observe("hq", "b", 100) == ("first", 0)
    assert t.observe("hq", "a", 2) == ("next", 0)
    assert t.observe("annex", "a", 8) == ("next", 0)


def test_tracker_forgets_the_least_recent_device_beyond_its_bound():
    t = SeqTracker(max_devices=2)
    t.observe("hq", "a", 1)
    t.observe("hq", "b", 1)
    t.observe("hq", "c", 1)  # evicts a
    assert t.observe("hq", "a", 50) == ("first", 0)  # no false loss of 48
    assert t.observe("hq", "c", 2) == ("next", 0)


def test_counters_sum_seq_losses_per_device_in_the_snapshot():
    c = IngestCounters()
    for seq in (1, 2, 5, 5, 9):
        c.observe_seq("hq", "a", seq)
    c.observe_seq("hq", "b", 3)
    c.observe_seq("hq", "b", 1)
    s = c.snapshot()
    assert s["seq_lost"] == {"hq/a": 5}  # 3, 4 and 6, 7, 8
    assert s["seq_lost_total"] == 5
    assert (s["seq_duplicates"], s["seq_restarts"]) == (1, 1)


def test_snapshot_reports_every_counter_and_names_the_store_consumer():
    c = IngestCounters()
    c.add_received(3)
    c.add_accepted(2)
    c.add_rejected("bad_json")
    c.add_rejected("bad_json")
    c.add_queue_refused()
    c.add_handled("store", 2)
    c.add_handled("rules", 1)
    c.add_retry("store")
    c.add_dropped("store")
    c.set_log_depth("store", 4)
    s = c.snapshot()
    assert s["received"] == 3 and s["accepted"] == 2 and s["queue_refused"] == 1
    assert s["rejected"] == {"bad_json": 2} and s["rejected_total"] == 2
    assert (s["stored"], s["write_retries"], s["store_rejected"]) == (2, 1, 1)
    assert s["handled"] == {"store": 2, "rules": 1}
    assert s["log_depth"] == {"store": 4}


def test_another_processes_totals_are_added_once_each_as_they_grow():
    """SITEWATCH_WORKERS=processes: the ingest child reports its totals every 0.1 s; the
    parent adds what grew since the last report, and a new child starts from none."""
    child, parent = IngestCounters(), IngestCounters()
    parent.add_received(5)  # the parent's own life-safety lane
    child.add_received(3)
    child.add_accepted(2)
    child.add_rejected("bad_json")
    child.add_warning("unknown_metric")
    for seq in (1, 4):
        child.observe_seq("hq", "a", seq)
    first = child.totals()
    parent.add_totals(first, None)
    child.add_received(1)
    child.add_rejected("bad_json")
    child.add_rejected("bad_topic")
    child.observe_seq("hq", "a", 4)
    parent.add_totals(child.totals(), first)
    parent.add_totals(child.totals(), child.totals())  # a report with nothing new
    again = IngestCounters()  # the child restarted: its totals begin at zero
    again.add_received(2)
    parent.add_totals(again.totals(), None)
    s = parent.snapshot()
    assert (s["received"], s["accepted"]) == (5 + 4 + 2, 2)
    assert s["rejected"] == {"bad_json": 2, "bad_topic": 1}
    assert s["warnings"] == {"unknown_metric": 1}
    assert (s["seq_lost"], s["seq_duplicates"]) == ({"hq/a": 2}, 1)


def test_counters_do_not_lose_increments_under_concurrent_threads():
    c = IngestCounters()

    def work() -> None:
        for _ in range(5000):
            c.add_received()
            c.add_rejected("bad_ts")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    s = c.snapshot()
    assert s["received"] == 20_000 and s["rejected"]["bad_ts"] == 20_000


def test_dead_letters_keep_the_newest_n_newest_first_with_the_first_200_bytes():
    d = DeadLetters(maxlen=3)
    for i in range(5):
        d.add(f"sitewatch/hq/d{i}/telemetry", "bad_json", f"case {i}", b"x" * 1000, float(i))
    items = d.items()
    assert [it["detail"] for it in items] == ["case 4", "case 3", "case 2"]
    assert items[0]["payload_head"] == "x" * 200
    assert items[0]["payload_bytes"] == 1000
    assert (items[0]["reason"], items[0]["at"]) == ("bad_json", 4.0)


def test_dead_letters_show_binary_payloads_as_escaped_text_and_truncate_topics():
    d = DeadLetters(maxlen=10)
    d.add("t" * 5000, "not_utf8", "byte 0", b"\xff\xfeok", 1.0)
    it = d.items()[0]
    assert it["payload_head"] == "\\xff\\xfeok"
    assert len(it["topic"]) == 256

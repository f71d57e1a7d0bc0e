"""The audit log's promises on both databases: entries are never updated or deleted, and an
entry commits with its change or not at all."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from api.tokens import create_token, ensure_bootstrap_token, revoke_token
from rules.audit import log as audit
from rules.db.rule_reloads import ReloadLog
from rules.db.schema import audit_log
from rules.engine.loader import parse_rules
from rules.engine.reload import PackChanges, ReloadResult
from rules.incidents.record import TimelineEntry
from rules.incidents.service import IncidentService
from rules.incidents.transitions import move
from tests.databases import DATABASES
from tests.rules.test_incidents import PACK_YAML, T0, fire

pytestmark = pytest.mark.parametrize("engine", DATABASES, indirect=True)
AT = datetime.fromtimestamp(T0, UTC)


def _rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(audit_log).order_by(audit_log.c.id))]


def _one_entry(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        audit.record(conn, actor="alice", action="silence.create", target="silence:1", at=AT,
                     site="hq", detail={"until": AT, "matchers": ("site",)})


def test_an_entry_is_never_updated_nor_deleted(engine: sa.Engine) -> None:
    _one_entry(engine)
    (before,) = _rows(engine)
    assert before["detail"] == {"until": AT.isoformat(), "matchers": ["site"]}
    for statement in (audit_log.update().values(actor="mallory"), audit_log.delete()):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = :id"), {"id": before["id"]})
    assert _rows(engine) == [before]


def _service(engine: sa.Engine) -> tuple[IncidentService, int]:
    svc = IncidentService(engine, parse_rules(PACK_YAML), clock=lambda: T0)
    return svc, svc.apply(fire("fire-alarm"))[0].incident_id


def test_an_entry_commits_with_its_change_and_a_failure_after_the_change_leaves_neither(
    engine: sa.Engine,
) -> None:
    svc, alert = _service(engine)
    assert _rows(engine) == []  # the rule opened it: not a person's change

    def acknowledge_then_fail(conn: sa.Connection) -> tuple[None, list[TimelineEntry]]:
        move(conn, parse_rules(PACK_YAML), alert, "acknowledge", AT, actor="alice", note="",
             assignee=None, force=False, code=None, grace_s=600)
        assert len(conn.execute(sa.select(audit_log)).all()) == 1  # written, not committed
        raise RuntimeError("injected after the change, in its transaction")

    with pytest.raises(RuntimeError, match="injected"):
        svc.write(acknowledge_then_fail)
    assert svc.get(alert).state == "active" and _rows(engine) == []

    svc.transition(alert, "acknowledge", actor="alice", note="on it")
    (row,) = _rows(engine)
    assert svc.get(alert).state == "acknowledged"
    assert (row["actor"], row["action"], row["target"], row["site"]) == (
        "alice", "incident.acknowledge", f"incident:{alert}", "hq")
    assert row["detail"]["note"] == "on it" and row["at"] == AT


def test_a_failed_audit_write_undoes_the_change_it_records(engine: sa.Engine) -> None:
    svc, alert = _service(engine)
    refuse = {
        "sqlite": ["CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log"
                   " BEGIN SELECT RAISE(ABORT, 'audit refused'); END"],
        "postgresql": [
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$",
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log"
            " FOR EACH ROW EXECUTE FUNCTION refuse_audit()"],
    }[engine.dialect.name]
    undo = {"sqlite": ["DROP TRIGGER refuse_audit"],
            "postgresql": ["DROP TRIGGER refuse_audit ON audit_log",
                           "DROP FUNCTION refuse_audit()"]}[engine.dialect.name]
    with engine.begin() as conn:
        for statement in refuse:
            conn.exec_driver_sql(statement)
    try:
        with pytest.raises(Exception, match="audit refused"):
            svc.transition(alert, "acknowledge", actor="alice")
    finally:
        with engine.begin() as conn:
            for statement in undo:
                conn.exec_driver_sql(statement)
    assert svc.get(alert).state == "active" and _rows(engine) == []


def test_the_acting_token_is_the_live_one_of_that_name_and_a_rules_reload_is_audited(
    engine: sa.Engine,
) -> None:
    create_token(engine, "alice", "admin", actor="setup")
    revoke_token(engine, "alice", actor="setup")
    create_token(engine, "alice", "admin", actor="setup")
    tokens = [r["detail"]["token_id"] for r in _rows(engine) if r["action"] == "token.create"]
    changes = PackChanges(added=["new"], changed=["fire_alarm"], removed=[], unchanged=[])
    ReloadLog(engine, clock=lambda: T0).record("alice", ReloadResult("rules.yaml", changes, []))
    ReloadLog(engine, clock=lambda: T0).record("SIGHUP", ReloadResult("rules.yaml", changes, []))
    *_, by_alice, by_signal = _rows(engine)
    assert (by_alice["action"], by_alice["target"], by_alice["actor_token_id"]) == (
        "rules.reload", "rules:pack", tokens[1])
    assert by_alice["detail"] == {"source": "rules.yaml", "added": ["new"],
                                  "changed": ["fire_alarm"], "removed": []}
    assert (by_signal["actor"], by_signal["actor_token_id"]) == ("SIGHUP", None)
    with engine.begin() as conn:  # the scheduler's own changes are no entries
        audit.record(conn, actor=audit.SYSTEM, action="silence.end", target="silence:1", at=AT)
    assert len(_rows(engine)) == 5
    secret = "s" * 32
    assert ensure_bootstrap_token(engine, secret) and ensure_bootstrap_token(engine, secret)
    *_, bootstrap = _rows(engine)  # once: the second start changed nothing
    assert (bootstrap["actor"], bootstrap["action"], bootstrap["target"]) == (
        "SITEWATCH_BOOTSTRAP_TOKEN", "token.create", "token:bootstrap")
    assert len(_rows(engine)) == 6

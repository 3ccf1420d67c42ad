"""Storage on SQLite and PostgreSQL: migrations, dedupe, finding order, approvals, the audit trail."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from bot.domain import Page, PageSource
from bot.storage.db import ROOT, SQLITE_BUSY_TIMEOUT_MS, alembic_config, make_engine, migrate, normalise_url
from bot.storage.store import Store, hash_token
from bot.storage.tables import (
    ActionStatus,
    Approval,
    AuditEntry,
    Incident,
    InvestigationStatus,
    Verdict,
)

T = TypeVar("T")
FIRED = datetime(2026, 3, 1, 14, 5, tzinfo=UTC)


def page(alarm: str = "checkout-5xx", **kw: object) -> Page:
    return Page.model_validate(
        {"source": PageSource.CLOUDWATCH, "title": f"ALARM: {alarm}", "fired_at": FIRED, "alarm_name": alarm}
        | kw
    )


def investigation_id(store: Store, alarm: str = "checkout-5xx") -> int:
    incident, _ = store.open_incident(page(alarm))
    assert incident.id is not None
    inv = store.start_investigation(incident.id, f"inv-{incident.fingerprint}")
    assert inv.id is not None
    return inv.id


def action_id(store: Store) -> int:
    action = store.propose_action(investigation_id(store), "ecs-rollback", {"service": "checkout"})
    assert action.id is not None
    return action.id


def race(n: int, fn: Callable[[int], T]) -> list[T]:
    """Run fn(0..n-1) on n threads released together by a barrier."""
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# Engines and migrations.


def test_urls_map_to_psycopg_3() -> None:
    assert normalise_url("postgres://u:p@db:5432/bot") == "postgresql+psycopg://u:p@db:5432/bot"
    assert normalise_url("postgresql://u@db/bot") == "postgresql+psycopg://u@db/bot"
    assert normalise_url("postgresql+psycopg://u@db/bot") == "postgresql+psycopg://u@db/bot"
    assert normalise_url("sqlite:///var/sre-bot.sqlite") == "sqlite:///var/sre-bot.sqlite"
    engine = make_engine("postgres://u@db/bot")  # creating an engine does not connect
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "bot.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert path.exists()
    finally:
        engine.dispose()


def test_sqlite_connections_move_between_threads(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/bot.sqlite")
    try:
        with engine.connect() as conn:
            assert (
                ThreadPoolExecutor(1).submit(lambda: conn.exec_driver_sql("SELECT 1").scalar()).result() == 1
            )
    finally:
        engine.dispose()


def test_migrate_twice_is_a_no_op(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        store = Store(engine)
        store.record_delivery("slack", "Ev1")
        tables = set(sa.inspect(engine).get_table_names())
        migrate(db_url)
        assert current_revision(engine) == head_revision()
        assert set(sa.inspect(engine).get_table_names()) == tables
        assert store.record_delivery("slack", "Ev1") is False  # the data survived
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    """A model change without a migration fails here: write the migration (alembic revision --autogenerate)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "target_metadata": SQLModel.metadata}
        )
        assert compare_metadata(ctx, SQLModel.metadata) == []


def test_downgrade_to_base_and_back(db_url: str) -> None:
    migrate(db_url)
    command.downgrade(alembic_config(db_url), "base")
    engine = make_engine(db_url)
    try:
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate(db_url)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_alembic_cli_takes_database_url_from_settings(db_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"DATABASE_URL": db_url}
    cli = "from alembic.config import main; main(['upgrade', 'head']); main(['check'])"  # one process: faster
    done = subprocess.run(
        [sys.executable, "-c", cli], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "No new upgrade operations detected" in done.stdout + done.stderr
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


# Incidents and investigations.


def test_incident_dedupe_by_fingerprint(store: Store) -> None:
    first, created = store.open_incident(page(), service="checkout")
    again, created_again = store.open_incident(page(message_ts="1700000000.000200"))
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert first.fingerprint == page().fingerprint()
    assert first.page["alarm_name"] == "checkout-5xx"

    found = store.find_open_incident(first.fingerprint)
    assert found is not None and found.id == first.id
    assert found.opened_at.tzinfo is not None and found.opened_at.utcoffset() == timedelta(0)

    assert first.id is not None
    assert store.resolve_incident(first.id) is True
    assert store.resolve_incident(first.id) is False
    assert store.find_open_incident(first.fingerprint) is None
    resolved = store.get_incident(first.id)
    assert resolved is not None and resolved.status == "resolved" and resolved.resolved_at is not None


def test_concurrent_pages_open_one_incident(store: Store) -> None:
    results = race(8, lambda _: store.open_incident(page()))
    assert len({inc.id for inc, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_recent_incidents_newest_first(engine: Engine) -> None:
    times = iter([FIRED + timedelta(minutes=m) for m in (0, 10, 5)])
    store = Store(engine, clock=lambda: next(times))
    for alarm in ("a", "b", "c"):
        store.open_incident(page(alarm))
    assert [i.page["alarm_name"] for i in store.recent_incidents(2)] == ["b", "c"]


def test_incident_messages_are_recorded(store: Store) -> None:
    incident, _ = store.open_incident(page(channel="C1"))
    assert incident.id is not None
    store.set_incident_messages(incident.id, thread_ts="1.1", status_message_ts="1.2")
    got = store.get_incident(incident.id)
    assert got is not None and (got.channel, got.thread_ts, got.status_message_ts) == ("C1", "1.1", "1.2")


def test_investigations_start_once_and_finish(store: Store) -> None:
    incident, _ = store.open_incident(page())
    assert incident.id is not None
    inv = store.start_investigation(incident.id, "wf-1")
    assert store.start_investigation(incident.id, "wf-1").id == inv.id
    other = store.start_investigation(incident.id, "wf-2")
    assert [i.id for i in store.open_investigations()] == [inv.id, other.id]
    assert inv.id is not None
    assert store.finish_investigation(inv.id, InvestigationStatus.DONE) is True
    assert store.finish_investigation(inv.id, InvestigationStatus.FAILED) is False
    assert [i.id for i in store.open_investigations()] == [other.id]
    done = store.investigation_for_workflow("wf-1")
    assert done is not None and done.status == "done" and done.finished_at is not None
    assert [i.id for i in store.investigations_of(incident.id)] == [inv.id, other.id]


# Findings.


def test_findings_are_numbered_per_investigation_and_posted_once(store: Store) -> None:
    one, two = investigation_id(store, "a"), investigation_id(store, "b")
    f1 = store.add_finding(one, kind="metric", summary="5xx up", service="checkout", detail={"p": "1"})
    f2 = store.add_finding(one, kind="change", summary="deploy 42")
    g1 = store.add_finding(two, kind="log", summary="timeouts")
    assert (f1.seq, f2.seq, g1.seq) == (1, 2, 1)

    assert [f.seq for f in store.unposted_findings(one)] == [1, 2]
    assert f1.id is not None
    assert store.mark_posted(f1.id, "1700000000.000100") is True
    assert store.mark_posted(f1.id, "1700000000.000999") is False  # a retried post keeps the first ts
    assert [f.seq for f in store.unposted_findings(one)] == [2]
    assert [(f.seq, f.posted_ts) for f in store.findings(one)] == [(1, "1700000000.000100"), (2, None)]
    assert store.findings(one)[0].detail == {"p": "1"}


def test_concurrent_findings_get_distinct_sequence_numbers(store: Store) -> None:
    inv = investigation_id(store)
    rows = race(8, lambda i: store.add_finding(inv, kind="note", summary=f"finding {i}"))
    assert sorted(r.seq for r in rows) == list(range(1, 9))


# Deliveries.


def test_delivery_dedupe(store: Store) -> None:
    assert store.record_delivery("slack", "Ev123") is True
    assert store.record_delivery("slack", "Ev123") is False
    assert store.record_delivery("pagerduty", "Ev123") is True


def test_two_threads_racing_on_one_delivery_id_see_it_once(store: Store) -> None:
    for n in range(5):
        delivery = f"wh-{n}"
        results = race(2, lambda _: store.record_delivery("pagerduty", delivery))  # noqa: B023 (race() waits)
        assert sorted(results) == [False, True]


# Approvals.


def test_approval_is_single_use(store: Store) -> None:
    action = action_id(store)
    token = store.create_approval(action, "action:rollback", timedelta(minutes=15))
    now = datetime.now(UTC)
    used = store.consume_approval(token, "action:rollback", now, approver="U123")
    assert used is not None and used.action_id == action and used.approver == "U123"
    assert used.used_at == now
    assert store.consume_approval(token, "action:rollback", now) is None


def test_approval_token_is_stored_only_hashed(store: Store, engine: Engine) -> None:
    token = store.create_approval(action_id(store), "s", timedelta(minutes=1))
    with Session(engine) as s:
        row = s.get(Approval, 1)
    assert row is not None and row.token_hash == hash_token(token) and token not in row.token_hash


def test_approval_with_wrong_scope_is_refused_and_left_usable(store: Store) -> None:
    token = store.create_approval(action_id(store), "action:1", timedelta(minutes=15))
    now = datetime.now(UTC)
    assert store.consume_approval(token, "action:2", now) is None
    assert store.consume_approval("not-a-token", "action:1", now) is None
    assert store.consume_approval(token, "action:1", now) is not None


def test_expired_approval_is_refused(store: Store) -> None:
    token = store.create_approval(action_id(store), "action:1", timedelta(minutes=15))
    later = datetime.now(UTC) + timedelta(minutes=15, seconds=1)
    assert store.consume_approval(token, "action:1", later) is None
    with pytest.raises(ValueError, match="positive ttl"):
        store.create_approval(action_id(store), "action:1", timedelta(0))


def test_concurrent_consumers_of_one_approval_have_one_winner(store: Store) -> None:
    token = store.create_approval(action_id(store), "action:1", timedelta(minutes=15))
    now = datetime.now(UTC)
    results = race(6, lambda i: store.consume_approval(token, "action:1", now, approver=f"U{i}"))
    assert sum(r is not None for r in results) == 1


def test_action_status_compare_and_set(store: Store) -> None:
    action = action_id(store)
    assert store.set_action_status(action, ActionStatus.APPROVED, expected=[ActionStatus.PROPOSED]) is True
    assert store.set_action_status(action, ActionStatus.REJECTED, expected=[ActionStatus.PROPOSED]) is False
    assert store.set_action_status(action, ActionStatus.RUNNING) is True
    got = store.get_action(action)
    assert got is not None and got.status == "running" and got.params == {"service": "checkout"}


# Audit.


def test_audit_entries_are_append_only(store: Store, engine: Engine) -> None:
    store.audit("U123", "approve", "action:1", {"scope": "action:1"})
    store.audit("bot", "execute", "action:1")
    store.audit("bot", "post", "finding:1")
    assert [(e.actor, e.verb) for e in store.audit_log("action:1")] == [
        ("U123", "approve"),
        ("bot", "execute"),
    ]
    assert [e.verb for e in store.audit_log(limit=2)] == ["execute", "post"]

    for statement in ("UPDATE audit_entries SET actor = 'mallory'", "DELETE FROM audit_entries"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), Session(engine) as s:
        entry = s.get(AuditEntry, 1)
        assert entry is not None
        entry.verb = "forged"
        s.commit()
    assert [(e.actor, e.verb) for e in store.audit_log()] == [
        ("U123", "approve"),
        ("bot", "execute"),
        ("bot", "post"),
    ]


# Reports, steering, feedback.


def test_report_versions(store: Store) -> None:
    inv = investigation_id(store)
    assert store.latest_report(inv) is None
    store.save_report(inv, 1, {"root_cause": "deploy 42"})
    store.save_report(inv, 2, {"root_cause": "deploy 42", "plan": "rollback"})
    again = store.save_report(inv, 1, {"root_cause": "something else"})
    assert again.body == {"root_cause": "deploy 42"}  # a version, once saved, does not change
    latest = store.latest_report(inv)
    assert latest is not None and latest.version == 2 and latest.body["plan"] == "rollback"
    assert [r.version for r in store.report_versions(inv)] == [1, 2]
    got = store.get_investigation(inv)
    assert got is not None and got.report_version == 2
    with pytest.raises(ValueError):
        store.save_report(inv, 0, {})


def test_steering_replies_are_claimed_once(store: Store) -> None:
    inv = investigation_id(store)
    first = store.add_steering(inv, user="U1", text="ignore forge")
    assert store.unclaimed_steering(inv) == first.id
    assert [m.id for m in store.claim_steering(inv, "wf#1")] == [first.id]
    assert store.unclaimed_steering(inv) is None
    second = store.add_steering(inv, user="U2", text="last 30 minutes")
    assert [m.id for m in store.claim_steering(inv, "wf#2")] == [second.id]
    assert [m.id for m in store.claim_steering(inv, "wf#1")] == [first.id]  # a repeated claim: the same rows
    assert store.claim_steering(inv, "other") == []
    store.record_understanding(second.id or 0, understood=True, directive={"since": "x"})
    got = store.steering_messages(inv)
    assert [(m.claimed_by, m.understood, m.directive) for m in got] == [
        ("wf#1", False, None),
        ("wf#2", True, {"since": "x"}),
    ]
    with pytest.raises(ValueError, match="no steering message 999"):
        store.record_understanding(999, understood=False, directive=None)


def test_steering_and_feedback(store: Store, engine: Engine) -> None:
    inv = investigation_id(store)
    store.add_steering(inv, user="U1", text="ignore forge", understood=True, directive={"exclude": ["forge"]})
    store.add_steering(inv, user="U2", text="hmm?", understood=False)
    got = store.steering_messages(inv)
    assert [(m.user, m.understood, m.directive) for m in got] == [
        ("U1", True, {"exclude": ["forge"]}),
        ("U2", False, None),
    ]
    with engine.connect() as conn:  # None is SQL NULL, not the JSON value null
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM steering_messages WHERE directive IS NULL").scalar()
            == 1
        )

    store.add_feedback(inv, "U1", Verdict.UP, "spot on")
    store.add_feedback(inv, "U2", Verdict.DOWN)
    assert [(f.verdict, f.note) for f in store.feedback_for(inv)] == [("up", "spot on"), ("down", "")]
    with pytest.raises(ValueError):
        store.add_feedback(inv, "U3", "sideways")  # type: ignore[arg-type]


def test_times_are_stored_as_utc_and_naive_times_refused(engine: Engine) -> None:
    plus_two = timezone(timedelta(hours=2))
    store = Store(engine, clock=lambda: datetime(2026, 3, 1, 16, 5, tzinfo=plus_two))
    incident, _ = store.open_incident(page())
    assert incident.id is not None
    got = store.get_incident(incident.id)
    assert got is not None and got.opened_at == FIRED and got.opened_at.tzinfo == UTC

    with pytest.raises(sa.exc.StatementError, match="naive datetime"), Session(engine) as s:
        s.add(Incident(fingerprint="f", title="t", opened_at=datetime(2026, 3, 1, 14, 5)))
        s.commit()

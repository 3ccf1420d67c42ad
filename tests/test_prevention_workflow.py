"""A page of an alarm seen before: the durable investigation says what caused it last time, with a link to that
thread, and after its own report whether this incident's evidence confirms it. The earlier incident is the
flagship scenario investigated by the real engine and recorded two days back; the new one runs through the
DBOS workflow against the same live estate."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.domain import Report
from bot.investigation.engine import Investigator
from bot.investigation.ports import InvestigationRef, NullNotifier
from bot.investigation.workflow import launch_runtime
from bot.sandbox.history import Clock, Collected, Investigated, record
from bot.sandbox.runner import sandbox
from bot.sandbox.scenario import load_scenario, resolve_scenario
from bot.storage.db import make_engine, migrate
from bot.storage.store import Store
from bot.storage.tables import Verdict


class Told(NullNotifier):
    """A notifier that keeps what the thread is told."""

    def __init__(self) -> None:
        self.replies: list[str] = []
        self.reports: list[Report] = []
        self.lock = threading.Lock()

    def report(self, ref: InvestigationRef, report: Report) -> None:
        with self.lock:
            self.reports.append(report)

    def reply(self, ref: InvestigationRef, text: str) -> None:
        with self.lock:
            self.replies.append(text)


def test_a_recurring_alarm_is_told_what_caused_it_before(
    tmp_path: Path, moto_server: Any, estates: Any
) -> None:
    estates.release()
    sc = load_scenario(resolve_scenario("flagship-cache-deploy"))
    url = f"sqlite:///{tmp_path / 'bot.sqlite'}"
    migrate(url)
    with sandbox(sc, moto=moto_server) as box:
        deps = box.deps()
        collect = Collected()
        outcome = Investigator(deps).investigate(box.page, collect)
        before = datetime.now(UTC) - timedelta(days=2)
        clock = Clock(before)
        past = record(
            Store(make_engine(url), clock=clock),
            clock,
            Investigated(sc.id, box.page, outcome, tuple(collect.found)),
            before,
            channel="C0INC",
            verdict=Verdict.UP,
        )
        store = Store(make_engine(url))
        told = Told()
        settings = Settings(
            database_url=url,
            dbos_system_database_url=f"sqlite:///{tmp_path / 'dbos.sqlite'}",
            executor_id="t",
        )
        runtime = launch_runtime(settings, lambda: deps, store, told, polling_interval_s=0.05)
        try:
            page = box.page.model_copy(update={"channel": "C0INC", "message_ts": "1800000000.000100"})
            accepted = runtime.open(page)
            assert accepted.outcome == "recurrence" and accepted.ref is not None
            result = runtime.result(accepted.ref.workflow_id, timeout_s=120)
        finally:
            runtime.shutdown()
    assert result["root_cause"].startswith("pricing")
    seen = [r for r in told.replies if r.startswith("Seen before:")]
    assert len(seen) == 1, told.replies
    assert f"{before:%Y-%m-%d}" in seen[0] and "(confirmed by a responder)" in seen[0]
    assert f"https://slack.com/app_redirect?channel=C0INC&message_ts={past.thread_ts}" in seen[0]
    confirms = [r for r in told.replies if r.startswith("The evidence confirms the same cause")]
    assert confirms == [
        f"The evidence confirms the same cause as on {before:%Y-%m-%d}: pricing (bad-deployment)."
    ]
    assert told.replies.index(seen[0]) < told.replies.index(confirms[0]) and told.reports
    new = store.get_incident(accepted.ref.incident_id)
    assert new is not None and new.recurrence_of == past.id and new.service == "mobile-bff"

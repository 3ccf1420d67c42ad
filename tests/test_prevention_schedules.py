"""The prevention schedules fire once per tick with two worker processes on one PostgreSQL system database.

Each worker launches DBOS and applies the schedules (as `sre-bot worker` does at start), the nightly job set
to fire every second; each firing's run writes one audit entry named after its scheduled time. Two workers,
several ticks, and every tick is run exactly once.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.prevention.schedules import digest_cron, nightly_cron
from bot.storage.db import make_engine, migrate
from bot.storage.store import Store

ROOT = Path(__file__).resolve().parents[1]
#: How long each worker runs with the every-second schedule.
RUN_S = 4.0


def child(app_url: str, system_url: str, executor: str) -> None:
    """A worker: launch DBOS, apply the schedules (nightly every second), run a few seconds, stop."""
    from dbos import DBOS

    from bot.investigation.enqueue import APP_NAME
    from bot.prevention.schedules import install_schedules

    store = Store(make_engine(app_url))
    DBOS(
        config={
            "name": APP_NAME,
            "system_database_url": system_url,
            "executor_id": executor,
            "application_version": "schedules-test",
            "log_level": "WARNING",
        }
    )
    DBOS.launch()
    install_schedules(store, None, nightly="* * * * * *", digest=digest_cron("mon", 9))
    time.sleep(RUN_S)
    DBOS.destroy(workflow_completion_timeout_sec=2)


@pytest.fixture
def databases(postgres_database: str) -> Iterator[tuple[str, str]]:
    """The app database (migrated) and a fresh DBOS system database beside it."""
    from psycopg import sql

    from tests.fixtures_db import POSTGRES_ADMIN_URL, _connect, _empty_schema

    _empty_schema(postgres_database)
    migrate(postgres_database)
    name = f"sre_bot_sched_{os.getpid()}_{secrets.token_hex(4)}"
    with _connect(POSTGRES_ADMIN_URL) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield (
            postgres_database,
            make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False),
        )
    finally:
        with _connect(POSTGRES_ADMIN_URL) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_the_nightly_schedule_fires_once_per_tick_across_two_workers(databases: tuple[str, str]) -> None:
    app_url, system_url = databases
    code = "import sys; from tests.test_prevention_schedules import child; child(*sys.argv[1:])"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code, app_url, system_url, f"worker.{n}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in (1, 2)
    ]
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    store = Store(make_engine(app_url))
    runs = Counter(e.subject for e in store.audit_log(limit=1000) if e.verb == "prevention:nightly")
    assert len(runs) >= 2, f"the schedule fired {len(runs)} times in {RUN_S} s: {outputs}"
    assert set(runs.values()) == {1}, f"a tick ran more than once: {runs}"
    assert all(
        e.detail["run"].startswith("0 incidents mined")
        for e in store.audit_log(limit=1000)
        if e.verb == "prevention:nightly"
    )
    store.engine.dispose()


def test_schedule_settings_are_checked() -> None:
    assert nightly_cron(3) == "0 0 3 * * *" and digest_cron("Monday", 9) == "0 0 9 * * mon"
    with pytest.raises(ValueError, match="not a day of the week"):
        digest_cron("someday", 9)
    with pytest.raises(ValueError, match="not an hour"):
        nightly_cron(24)

"""Readiness, as ``/readyz`` reports it: the database answers, its migrations are at the code's head, and (where
this process runs investigations) the DBOS queue workers are running.

``/healthz`` says only that the process answers; ``/readyz`` is for orchestrators deciding whether to send it
traffic. Checks run on a thread of their own, one round at a time (concurrent probes share it) and at most once a
`cache_s`; a probe waits at most `timeout_s` and a check still running then counts as failing. The answer names
each check and a short reason; the details (which host refused) go to the log, not to whoever asked.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from bot.config import Settings
from bot.storage.db import alembic_config, make_engine, normalise_url

log = logging.getLogger(__name__)

#: Seconds a readiness connection to PostgreSQL may take (libpq's smallest useful connect_timeout).
CONNECT_TIMEOUT_S = 2


class NotReady(Exception):
    """A readiness check failed; the message is the short reason reported."""


Check = Callable[[], None]


@dataclass(frozen=True)
class Readout:
    """One round of checks: each check's name and ``ok`` or why not."""

    checks: dict[str, str]

    @property
    def failing(self) -> list[str]:
        """The checks that did not pass, in order."""
        return [name for name, result in self.checks.items() if result != "ok"]

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.failing


class _Round:
    def __init__(self, names: Sequence[str]) -> None:
        self.results: dict[str, str] = {}
        self.done = threading.Event()
        self.names = names


class Readiness:
    """Runs named checks (each raises when not ready) and reports them as a `Readout`."""

    def __init__(
        self, checks: Sequence[tuple[str, Check]], *, timeout_s: float = 0.9, cache_s: float = 1.0
    ) -> None:
        self._checks = list(checks)
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._round: _Round | None = None
        self._last: tuple[float, Readout] | None = None

    @classmethod
    def for_settings(cls, settings: Settings, *, worker: Supervised | None = None) -> Readiness:
        """The checks of a `serve` process: database and migrations, and the queue workers unless it only
        enqueues -- its `worker` child's, when one runs them (it said it is ready and has not died since)."""
        database = DatabaseProbe(settings.database_url)
        checks: list[tuple[str, Check]] = [
            ("database", database.reachable),
            ("migrations", database.migrated),
        ]
        if worker is not None:
            checks.append(("workers", child_ready(worker)))
        elif settings.run_investigations:
            from bot.investigation.workflow import FOLLOW_UPS, QUEUE

            checks.append(("workers", queue_workers([QUEUE, FOLLOW_UPS])))
        return cls(checks)

    def report(self) -> Readout:
        """The latest round's readout, from a round started now or in the last `cache_s`."""
        with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < self._cache_s:
                return self._last[1]
            current = self._round
            if current is None or current.done.is_set():
                current = self._round = _Round([name for name, _ in self._checks])
                threading.Thread(target=self._run, args=(current,), daemon=True, name="readyz").start()
        current.done.wait(self._timeout_s)
        waited = f"no answer within {self._timeout_s:g} s"
        return Readout({name: current.results.get(name, waited) for name in current.names})

    def _run(self, current: _Round) -> None:
        for name, check in self._checks:
            try:
                check()
                current.results[name] = "ok"
            except NotReady as err:
                current.results[name] = str(err)
            except Exception as err:
                log.warning("readiness check %s failed: %s", name, " ".join(str(err).split())[:500])
                current.results[name] = f"failed ({type(err).__name__})"
        with self._lock:
            self._last = (time.monotonic(), Readout(dict(current.results)))
        current.done.set()


class DatabaseProbe:
    """Reaches our database afresh on each check (no pool: a pooled connection says nothing about a new one)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._engine: Engine | None = None
        self._heads = code_heads()

    def _connect(self) -> sa.Connection:
        if self._engine is None:
            parsed = make_url(normalise_url(self._url))
            if parsed.get_backend_name() == "sqlite":
                self._engine = make_engine(self._url)
            else:
                connect_args = {"connect_timeout": CONNECT_TIMEOUT_S}
                self._engine = sa.create_engine(parsed, poolclass=NullPool, connect_args=connect_args)
        try:
            return self._engine.connect()
        except sa.exc.DBAPIError as err:
            log.warning("readiness: database unreachable: %s", " ".join(str(err.orig).split())[:500])
            raise NotReady(f"unreachable ({type(err.orig).__name__})") from None

    def reachable(self) -> None:
        """Connect and run ``SELECT 1``."""
        with self._connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def migrated(self) -> None:
        """The database's Alembic revision is the code's head."""
        from alembic.runtime.migration import MigrationContext

        with self._connect() as conn:
            current = tuple(MigrationContext.configure(conn).get_current_heads())
        if set(current) != set(self._heads):
            have = ", ".join(current) or "no revision"
            raise NotReady(f"database at {have}, code at {', '.join(self._heads)}")


@functools.cache
def code_heads() -> tuple[str, ...]:
    """The Alembic head revisions of the migrations in this code (read once: they do not change while it runs)."""
    from alembic.script import ScriptDirectory

    return tuple(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


class Supervised(Protocol):
    """A supervised worker process (:class:`bot.slack.supervisor.WorkerChild`)."""

    def problem(self) -> str | None:
        """None when it runs and is ready, else why not."""


def child_ready(worker: Supervised) -> Check:
    """A check that the worker child running this process's investigations is up and ready."""

    def check() -> None:
        problem = worker.problem()
        if problem is not None:
            raise NotReady(problem)

    return check


def queue_workers(queues: Sequence[str]) -> Check:
    """A check that DBOS runs a worker thread for each of `queues` in this process."""

    def check() -> None:
        alive = {t.name for t in threading.enumerate() if t.is_alive()}
        missing = [q for q in queues if f"queue-worker-{q}" not in alive]
        if missing:
            raise NotReady(f"not running: {', '.join(missing)}")

    return check

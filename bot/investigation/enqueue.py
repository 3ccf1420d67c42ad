"""Putting workflows on DBOS queues from a request: in the page's own transaction when DBOS keeps its system
tables in our database, else right after it, failing fast either way.

DBOS's own `enqueue` blocks and retries while its database is unreachable, which suits a workflow but not a
request that must answer Slack within seconds. A `DBOSClient` made with `retry_connection_errors=False`
raises instead, so the request answers non-2xx and the sender delivers again. When the system database is
ours (PostgreSQL, the default in production: `DATABASE_URL` holds both), `enqueue_in_transaction` writes
the workflow in the transaction that records the page: one commit, nothing half-made. Otherwise (SQLite
files, a separate system database) the enqueue follows the commit; a workflow id derived from the page
makes a repeated enqueue a no-op, and a crash between the two is finished by `recovery.sweep` and by the
sender's re-delivery.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from dbos import DBOSClient, EnqueueOptions
from sqlalchemy.engine import make_url
from sqlmodel import Session

from bot.config import Settings
from bot.storage.db import normalise_url

#: DBOS's name for this application (`DBOSConfig["name"]`): workflows we enqueue belong to it.
APP_NAME = "sre-bot"

#: A transaction on our database: an ORM session or a Core connection.
Tx = Session | sa.Connection


def same_database(a: str, b: str) -> bool:
    """Whether two database URLs name the same PostgreSQL database (SQLite files never count: DBOS keeps
    its own file, and one SQLite transaction cannot span two files)."""
    ua, ub = make_url(normalise_url(a)), make_url(normalise_url(b))
    if ua.get_backend_name() != "postgresql" or ub.get_backend_name() != "postgresql":
        return False
    key = ("host", "port", "database", "username")
    return all(getattr(ua, k) == getattr(ub, k) for k in key)


class Enqueuer:
    """Enqueues workflows by name for requests (see the module docstring)."""

    def __init__(self, settings: Settings, system_url: str, engine: sa.Engine) -> None:
        self.app_version = settings.app_version
        self.same_db = same_database(settings.database_url, system_url)
        self._own_engine: sa.Engine | None = None
        if self.same_db:
            client_engine = engine  # only to build the rows: they are written on the caller's session
        elif make_url(system_url).get_backend_name() == "postgresql":
            self._own_engine = client_engine = sa.create_engine(
                make_url(normalise_url(system_url)),
                pool_size=10,
                max_overflow=10,
                pool_timeout=5,
                pool_pre_ping=True,
                connect_args={"connect_timeout": 5, "application_name": "sre-bot-enqueue"},
            )
        else:
            client_engine = None
        self.client = DBOSClient(
            system_database_url=None if client_engine is not None else system_url,
            system_database_engine=client_engine,
            lazy=True,
            retry_connection_errors=False,
            application_name=APP_NAME,
        )

    def options(
        self, workflow: str, queue: str, workflow_id: str, *, partition: str | None = None
    ) -> EnqueueOptions:
        """The enqueue options of workflow `workflow` (its registered name) as `workflow_id` on `queue`."""
        opts: EnqueueOptions = {
            "workflow_name": workflow,
            "queue_name": queue,
            "workflow_id": workflow_id,
            "app_version": self.app_version,
            "application_name": APP_NAME,
        }
        if partition is not None:
            opts["queue_partition_key"] = partition
        return opts

    def in_transaction(self, session: Tx, options: EnqueueOptions, *args: Any) -> None:
        """Enqueue on `session` (our database, which holds DBOS's tables): committed with the caller's rows."""
        assert self.same_db, "enqueue_in_transaction needs the system database to be ours"
        self.client.enqueue_in_transaction(session, options, *args)

    def now(self, options: EnqueueOptions, *args: Any) -> None:
        """Enqueue in a transaction of its own; raises at once when the system database is unreachable.
        Enqueuing an id that exists already does nothing."""
        self.client.enqueue(options, *args)

    def close(self) -> None:
        """Release the client's connections."""
        self.client.destroy()
        if self._own_engine is not None:
            self._own_engine.dispose()

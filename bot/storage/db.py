"""Engines and migrations: a SQLite file by default (WAL mode), PostgreSQL (psycopg 3) when the URL says so."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

import bot

if TYPE_CHECKING:
    from alembic.config import Config

#: The repository root: alembic.ini and migrations/ live here, beside the `bot` package.
ROOT = Path(bot.__file__).resolve().parents[1]

#: How long a SQLite connection waits for another writer before failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 15_000

#: Connections a PostgreSQL engine keeps open (see `Store.warm`).
POOL_SIZE = 10

#: A pooled PostgreSQL connection idle for longer than this is pinged before it is used again.
PING_IDLE_S = 2.0

#: Any constant will do: the PostgreSQL advisory lock that serialises concurrent `migrate()` calls.
_PG_MIGRATE_LOCK = 0x5E_B0_7D_B1


def normalise_url(url: str) -> str:
    """`url` with `postgres://` and `postgresql://` mapped to the psycopg 3 driver; anything else as given."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection SQLite settings: wait for writers, WAL journal, enforce foreign keys."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`.

    SQLite: the parent directory is created; every connection gets WAL mode, a busy timeout and foreign keys;
    connections may move between threads. PostgreSQL: `postgres://` / `postgresql://` use psycopg 3, with a
    pool of `POOL_SIZE` connections (and up to 20 more in a burst).
    """
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite":
        # Each page is recorded before it is acknowledged, so a burst holds a connection per request in
        # flight: keep enough open that a burst does not pay for new ones (overflow ones are closed again).
        engine = sa.create_engine(parsed, pool_size=POOL_SIZE, max_overflow=20)
        _ping_when_idle(engine)
        return engine
    path = _sqlite_file(parsed)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if path is None:
        kwargs["poolclass"] = StaticPool  # one shared connection, or each would see its own empty database
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, **kwargs)
    sa.event.listen(engine, "connect", _on_sqlite_connect)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it sat idle for `PING_IDLE_S` (one round trip fewer on
    every page of a burst); one that fails is replaced. A connection broken while busy fails its statement,
    which invalidates the pool: the request answers non-2xx and its sender delivers again."""

    @sa.event.listens_for(engine, "checkin")
    def checkin(_dbapi: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi)
        except Exception as err:
            raise sa.exc.DisconnectionError(str(err)) from err


def alembic_config(url: str) -> Config:
    """The Alembic configuration of this repository, pointed at `url`."""
    from alembic.config import Config  # imported here: most users of bot.storage never migrate

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    cfg.attributes["programmatic"] = True  # env.py leaves the application's logging alone
    return cfg


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if needed), held for the block."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(url: str) -> None:
    """Apply the Alembic migrations up to head; a no-op when the database is already there.

    Safe to call from several processes at once: PostgreSQL takes an advisory lock, a SQLite file a lock file
    beside it. SQLite migrations run with foreign keys off (batch migrations copy and drop tables) and are
    checked afterwards.
    """
    from alembic import command

    cfg = alembic_config(url)
    engine = make_engine(url)
    sqlite_path = _sqlite_file(engine.url) if engine.dialect.name == "sqlite" else None
    lock = _file_lock(sqlite_path.with_name(sqlite_path.name + "-migrate-lock")) if sqlite_path else None
    try:
        with lock or contextlib.nullcontext(), engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
                conn.commit()
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATE_LOCK)))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            if engine.dialect.name == "sqlite":
                problems = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                conn.exec_driver_sql("PRAGMA foreign_keys = ON")
                conn.commit()
                if problems:
                    raise RuntimeError(f"migration left rows that break foreign keys: {problems[:5]}")
    finally:
        engine.dispose()

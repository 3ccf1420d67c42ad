"""Fixtures: databases. Every test that takes `db_url`, `engine` or `store` runs on SQLite and on PostgreSQL.

PostgreSQL: one database per test session (`sre_bot_test_<pid>_<random>`, dropped at the end) on the server at
$SRE_BOT_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres), with the `public` schema
emptied before each test. Where no server answers, the postgres variants skip, except under CI (the CI
variable is set), where they fail: CI has PostgreSQL, so a missing one is a broken pipeline, not a skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import Engine, make_url

from bot.storage.db import make_engine, migrate
from bot.storage.store import Store

POSTGRES_ADMIN_URL = os.environ.get(
    "SRE_BOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _connect(url: str) -> psycopg.Connection:
    """An autocommit psycopg connection to a libpq URL (SQLAlchemy driver suffixes removed)."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(conninfo, autocommit=True, connect_timeout=3)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The URL of a database created for this test session on the local PostgreSQL, dropped afterwards."""
    try:
        admin = _connect(POSTGRES_ADMIN_URL)
    except psycopg.OperationalError as err:
        where = make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)
        message = f"PostgreSQL is not reachable at {where} ({' '.join(str(err).split())})"
        if os.environ.get("CI"):
            pytest.fail(
                f"{message}; CI is set and CI must run the storage tests on PostgreSQL", pytrace=False
            )
        pytest.skip(
            f"{message}; set SRE_BOT_TEST_POSTGRES_URL or start a server to run the postgres variants"
        )
    name = f"sre_bot_test_{os.getpid()}_{secrets.token_hex(4)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with _connect(POSTGRES_ADMIN_URL) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _empty_schema(url: str) -> None:
    """Drop everything in the `public` schema of `url` (tables, triggers, functions)."""
    with _connect(url) as conn:
        conn.execute("SET lock_timeout = '10s'")  # a leaked connection fails the test instead of hanging it
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file under tmp_path, or the session's PostgreSQL database, emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'sre-bot.sqlite'}"
    url: str = request.getfixturevalue("postgres_database")
    _empty_schema(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on `db_url`, migrated to head."""
    migrate(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: Engine) -> Store:
    """A `Store` on the migrated database."""
    return Store(engine)

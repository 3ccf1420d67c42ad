"""Storage: SQLModel tables, engine creation and migrations, and the `Store` repository."""

from bot.storage.db import make_engine, migrate
from bot.storage.store import Store

__all__ = ["Store", "make_engine", "migrate"]

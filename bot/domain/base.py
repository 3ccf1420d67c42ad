"""The base of every domain model, and the one conversion between event times and series times."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """Base for domain models: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def epoch(at: datetime) -> int:
    """An event time as whole unix seconds: the clock metric series are indexed by."""
    return int(at.timestamp())


def utc(seconds: float) -> datetime:
    """Unix seconds as a timezone-aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)

"""One result type for every read-only tool: data, no data, denied, or error — never an exception.

A DENIED or ERROR result becomes an investigation gap that the report names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from bot.domain import Gap

T = TypeVar("T")


class Outcome(StrEnum):
    """How a tool call ended."""

    OK = "ok"
    NO_DATA = "no-data"
    DENIED = "denied"
    ERROR = "error"


@dataclass(frozen=True)
class ToolResult(Generic[T]):
    """What a tool returned; `source` names the API (e.g. `cloudtrail:LookupEvents`)."""

    status: Outcome
    source: str
    data: T | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when the call succeeded (with or without data)."""
        return self.status in (Outcome.OK, Outcome.NO_DATA)

    def gap(self) -> Gap | None:
        """The investigation gap this result means, if any."""
        if self.ok:
            return None
        return Gap(source=self.source, reason=self.message or self.status.value)

    def unwrap_or(self, default: T) -> T:
        """The data, or `default` when there is none."""
        return self.data if self.data is not None else default

    @staticmethod
    def success(source: str, data: T) -> ToolResult[T]:
        """A successful result; empty data counts as NO_DATA."""
        empty = data is None or (hasattr(data, "__len__") and len(data) == 0)
        return ToolResult(Outcome.NO_DATA if empty else Outcome.OK, source, data)


def guarded(
    source: str, fn: Callable[[], T], classify: Callable[[Exception], tuple[Outcome, str]]
) -> ToolResult[T]:
    """Run `fn`, turning its exception into a DENIED/ERROR result via `classify`."""
    try:
        return ToolResult.success(source, fn())
    except Exception as exc:
        status, message = classify(exc)
        return ToolResult(status, source, None, message)

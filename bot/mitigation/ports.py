"""What the mitigation use case needs from the surface: a thread to talk in, and buttons to close."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Where:
    """The thread an action is discussed in, and the message holding its buttons."""

    channel: str
    thread_ts: str
    message_ts: str


class MitigationNotifier(Protocol):
    """Posts an action's progress; implementations are idempotent enough for steps run at least once."""

    def say(self, where: Where, text: str) -> None:
        """A reply in the action's thread (already-safe mrkdwn)."""

    def close_step(self, where: Where, step: int, text: str) -> None:
        """Replace step `step`'s Approve / Reject buttons with `text` (used, rejected or expired)."""

    def groups_of(self, user: str, groups: frozenset[str]) -> frozenset[str]:
        """Which of `groups` (user group ids) `user` belongs to."""


class NullMitigationNotifier:
    """Tells no one (the CLI, tests of the use case alone)."""

    def say(self, where: Where, text: str) -> None:
        """Do nothing."""

    def close_step(self, where: Where, step: int, text: str) -> None:
        """Do nothing."""

    def groups_of(self, user: str, groups: frozenset[str]) -> frozenset[str]:
        """No groups."""
        return frozenset()

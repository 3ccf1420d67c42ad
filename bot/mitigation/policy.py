"""Who may approve which actions, from configuration: approvers, risk levels, self-approval, time to live."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from bot.config import Settings
from bot.mitigation.catalogue import Risk


@dataclass(frozen=True)
class ApprovalPolicy:
    """The approval rules (``APPROVERS``, ``APPROVER_GROUPS``, ``APPROVAL_RISK_LEVELS``,
    ``APPROVAL_SELF_HIGH_RISK``, ``APPROVAL_TTL_MINUTES``)."""

    approvers: frozenset[str]
    groups: frozenset[str]
    needs_approval: frozenset[Risk]
    self_high_risk: bool = False
    ttl: timedelta = timedelta(minutes=30)

    @classmethod
    def from_settings(cls, settings: Settings) -> ApprovalPolicy:
        """The policy the settings describe; an unknown risk level is a configuration error naming it."""
        levels = set()
        for level in settings.approval_risk_levels:
            try:
                levels.add(Risk(level.strip().lower()))
            except ValueError:
                raise ValueError(
                    f"APPROVAL_RISK_LEVELS: unknown risk level {level!r} (use low, medium, high)"
                ) from None
        return cls(
            approvers=frozenset(settings.approvers),
            groups=frozenset(settings.approver_groups),
            needs_approval=frozenset(levels),
            self_high_risk=settings.approval_self_high_risk,
            ttl=timedelta(minutes=settings.approval_ttl_minutes),
        )

    def needs(self, risk: Risk) -> bool:
        """Whether an action of this risk needs an approver's click."""
        return risk in self.needs_approval

    def may_approve(self, user: str, user_groups: Collection[str], risk: Risk) -> bool:
        """Whether `user` (a member of `user_groups`) may approve or reject an action of `risk`."""
        if not self.needs(risk):
            return True
        return user in self.approvers or bool(self.groups.intersection(user_groups))

    def needs_another(self, risk: Risk, requester: str, approver: str) -> bool:
        """Whether an approval by `approver` does not count because they requested this high-risk action."""
        return risk is Risk.HIGH and not self.self_high_risk and requester == approver

    def who(self) -> str:
        """The approvers, as Slack mentions (for a refusal)."""
        people = [f"<@{u}>" for u in sorted(self.approvers)] + [
            f"<!subteam^{g}>" for g in sorted(self.groups)
        ]
        return ", ".join(people) or "nobody (set APPROVERS or APPROVER_GROUPS)"

"""A kept recommendation becomes a GitHub issue: its specification as the issue's body, opened once."""

from __future__ import annotations

import re
from typing import Protocol

from bot.domain.prevention import RecommendationStatus
from bot.storage.recommendations import Recommendations
from bot.storage.store import Store
from bot.storage.tables import Recommendation

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
VERB = "recommendation:issue"


class IssueOpener(Protocol):
    """Opens an issue in a repository and returns its URL (the GitHub adapter's writer)."""

    def open_issue(self, repo: str, title: str, body: str) -> str:
        """Open the issue; raise when GitHub refuses."""


def issue_body(rec: Recommendation) -> str:
    """The issue's body: what to change and where, the specification, and where it came from."""
    return (
        f"**Change:** {rec.change}\n\n**Where:** {rec.where}\n\n**Kind / priority:** {rec.kind} / {rec.priority}"
        f"\n\n{rec.spec}\n\n---\nProposed by sre-bot's nightly prevention job (recommendation #{rec.id}, "
        f"from incidents {', '.join(str(i) for i in rec.incident_ids)}) and kept by the team."
    )


def open_issue(store: Store, rec_id: int, repo: str, opener: IssueOpener, user: str) -> tuple[str, bool]:
    """Open the GitHub issue of kept recommendation `rec_id` in `repo`; returns (its URL, whether it was opened
    now). A recommendation gets one issue: asked again, the first one's URL comes back. Raises ValueError for a
    malformed repository or a recommendation nobody kept, LookupError for an unknown one."""
    if not _REPO.match(repo):
        raise ValueError(f"repository {repo!r} is not owner/name")
    rec = Recommendations(store).get(rec_id)
    if rec is None:
        raise LookupError(f"no recommendation {rec_id}")
    for entry in store.audit_log(f"recommendation:{rec_id}"):
        if entry.verb == VERB and isinstance(entry.detail.get("url"), str):
            return entry.detail["url"], False
    if rec.status != RecommendationStatus.KEPT.value:
        raise ValueError(
            f"recommendation {rec_id} is {rec.status}: only a kept one becomes an issue (keep it first)"
        )
    url = opener.open_issue(repo, f"Prevention: {rec.title}", issue_body(rec))
    store.audit(user, VERB, f"recommendation:{rec_id}", {"url": url, "repo": repo})
    return url, True

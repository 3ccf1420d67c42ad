"""The long-term fix from the thread: a GitHub issue with the evidence and a specification a coding agent can
pick up, and, when the guilty change is a commit, a revert pull request (opened, never merged by the bot).

Only approvers may open them; each is opened once per investigation (a second click gets the first link),
and every attempt is audited. Text that came from logs, alarms or commits goes into fenced blocks: it is
shown as data, never as markdown or instructions.
"""

from __future__ import annotations

import threading
from collections.abc import Collection

from bot.domain import Report
from bot.mitigation.policy import ApprovalPolicy
from bot.mitigation.service import Answer
from bot.sources.github import GithubWriteFailed, GithubWriter
from bot.storage.store import Store

KINDS = ("issue", "revert")


def _fenced(text: str, limit: int = 2000) -> str:
    return "```\n" + text[:limit].replace("```", "ʼʼʼ") + "\n```"


def issue_body(report: Report) -> str:
    """The issue: what happened, the evidence, the guilty change, and the work to do."""
    rc, change, plan = report.root_cause, report.guilty_change, report.plan
    parts = [f"Opened by sre-bot from the investigation of **{report.page_title[:200]}**.", "## Impact"]
    parts.append(_fenced(report.impact or "unknown"))
    if rc is not None:
        parts += [
            "## Root cause",
            f"{rc.category.value}, confidence {rc.confidence:.0%}",
            _fenced(rc.summary),
        ]
        if rc.evidence:
            parts += ["## Evidence", _fenced("\n".join(f"- {e}" for e in rc.evidence[:20]))]
    if change is not None:
        parts += ["## Guilty change", _fenced(f"{change.summary}\ncommit: {change.commit or '-'}")]
    spec = plan.long_term_fix if plan and plan.long_term_fix else "Find and fix the cause shown above."
    parts += [
        "## Specification (for a person or a coding agent)",
        _fenced(spec),
        "Done when: a test reproduces the failure above and passes with the fix; the change ships "
        "through the normal pipeline; the alarm that paged stays OK after the deploy.",
    ]
    return "\n\n".join(parts)


class Fixes:
    """Opens the issue or the revert pull request of an investigation's guilty change."""

    def __init__(self, store: Store, policy: ApprovalPolicy, github: GithubWriter | None) -> None:
        self.store = store
        self.policy = policy
        self.github = github
        self._lock = threading.Lock()

    def open(self, kind: str, investigation_id: int, user: str, user_groups: Collection[str]) -> Answer:
        """Open the `kind` ("issue" or "revert") of the investigation's long-term fix; says how it went."""
        subject = f"investigation:{investigation_id}:fix:{kind}"
        if kind not in KINDS:
            raise ValueError(f"unknown fix kind {kind!r}")
        if user not in self.policy.approvers and not self.policy.groups.intersection(user_groups):
            self.store.audit(user, "refuse-unauthorised", subject, {})
            return Answer(f"Only approvers may open it: {self.policy.who()}.")
        if self.github is None:
            return Answer("GitHub writes are not configured (set GITHUB_WRITE_TOKEN).")
        row = self.store.latest_report(investigation_id)
        report = Report.model_validate(row.body) if row is not None else None
        change = report.guilty_change if report is not None else None
        if report is None or change is None or not change.repo or (kind == "revert" and not change.commit):
            return Answer("This investigation names no guilty change in a repository: nothing to open.")
        with self._lock:
            done = [a for a in self.store.audit_trail([subject]) if a.verb == "open"]
            if done:
                return Answer(f"Already opened: {done[0].detail.get('url')}", public=True)
            self.store.audit(user, "request", subject, {"repo": change.repo, "commit": change.commit})
            title = f"{report.root_cause.summary[:120] if report.root_cause else report.page_title[:120]}"
            try:
                if kind == "issue":
                    url = self.github.open_issue(
                        change.repo, f"Incident follow-up: {title}", issue_body(report)
                    )
                else:
                    assert change.commit is not None
                    body = (
                        issue_body(report)
                        + "\n\nThis pull request was opened by sre-bot and is not merged by it."
                    )
                    url = self.github.open_revert(
                        change.repo, change.commit, f"Revert {change.commit[:7]}: {title}", body
                    )
            except GithubWriteFailed as err:
                self.store.audit(user, "open-failed", subject, {"error": str(err)})
                return Answer(f"Could not open it: {err}", public=True)
            self.store.audit(user, "open", subject, {"url": url})
        what = (
            "issue" if kind == "issue" else "revert pull request (not merged: a person reviews and merges it)"
        )
        return Answer(f"<@{user}> opened the {what}: {url}", public=True)

"""GitHub, read-only: deploy workflow runs, the commits they shipped, and their diffs (PyGithub).

The only module that imports PyGithub. The base URL is PyGithub's own `base_url` setting, so the same code
reads github.com, GitHub Enterprise, or the sandbox's stand-in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from github import Auth, Github, GithubException, GithubRetry
from github.GithubException import RateLimitExceededException, UnknownObjectException
from github.WorkflowRun import WorkflowRun

from bot.domain import Actor, ActorKind, Change, ChangeSource, ChangeVia
from bot.sources.result import Outcome, ToolResult, guarded

#: Workflow names that count as deploys.
DEPLOY_WORKFLOWS = ("deploy", "release", "cd")


def _classify(exc: Exception) -> tuple[Outcome, str]:
    """GitHub errors as tool statuses."""
    if isinstance(exc, RateLimitExceededException):
        return Outcome.ERROR, "GitHub rate limit exceeded after retries"
    if isinstance(exc, UnknownObjectException):
        return Outcome.NO_DATA, "not found on GitHub"
    if isinstance(exc, GithubException) and exc.status in (401, 403):
        return Outcome.DENIED, f"GitHub denied access ({exc.status})"
    return Outcome.ERROR, f"GitHub call failed: {type(exc).__name__}: {str(exc)[:200]}"


class GithubSource:
    """Read deploys and commits of the services' repositories."""

    def __init__(
        self, token: str | None, base_url: str = "https://api.github.com", timeout: float = 15.0
    ) -> None:
        auth = Auth.Token(token) if token else None
        retry = GithubRetry(total=3, backoff_factor=0.2)
        self._gh = Github(
            base_url=base_url,
            auth=auth,
            timeout=int(timeout),
            retry=retry,
            per_page=50,
            seconds_between_requests=0.0,
        )

    def deploys(self, repo: str, since: datetime, until: datetime) -> ToolResult[list[Change]]:
        """Successful deploy workflow runs in [since, until], newest first, with the commit each shipped."""
        return guarded(f"github:{repo}:actions/runs", lambda: self._deploys(repo, since, until), _classify)

    def _deploys(self, repo: str, since: datetime, until: datetime) -> list[Change]:
        r = self._gh.get_repo(repo)
        created = f"{since.strftime('%Y-%m-%dT%H:%M:%SZ')}..{until.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        out: list[Change] = []
        for run in r.get_workflow_runs(created=created):
            name = (run.name or "").lower()
            if not any(w in name for w in DEPLOY_WORKFLOWS):
                continue
            at = run.updated_at or run.created_at
            if at < since or at > until:
                continue
            sha = run.head_sha
            commit = r.get_commit(sha)
            files = tuple(f.filename for f in commit.files)
            added = added_lines(f.patch or "" for f in commit.files)
            message = commit.commit.message.splitlines()[0] if commit.commit.message else ""
            author = commit.commit.author.name if commit.commit.author else None
            out.append(
                Change(
                    id=f"deploy:{repo}:{sha[:7]}",
                    at=at,
                    via=ChangeVia.GITHUB_ACTIONS,
                    summary=f"deploy of {sha[:7]} “{message}” by {author or 'unknown'} ({run.conclusion})",
                    source=ChangeSource.GITHUB,
                    source_id=str(run.id),
                    action="deploy",
                    actor=Actor(name=author, kind=ActorKind.PERSON) if author else None,
                    repo=repo,
                    commit=sha,
                    parent_commit=(commit.parents[0].sha if commit.parents else None),
                    files=files,
                    added_lines=added,
                    link=run.html_url,
                )
            )
        out.sort(key=lambda c: c.at, reverse=True)
        return out

    def last_good_run(self, repo: str, run_id: str) -> ToolResult[dict[str, str]]:
        """The deploy run to go back to from run `run_id`: the latest successful run of the same workflow on
        the default branch, created before it, that shipped another commit (its workflow file, id and sha)."""

        def fetch() -> dict[str, str]:
            r = self._gh.get_repo(repo)
            bad = r.get_workflow_run(int(run_id))
            workflow = (bad.path or "").rsplit("/", 1)[-1]
            runs = r.get_workflow(workflow).get_runs(branch=r.default_branch, status="success")
            run: WorkflowRun
            for run in runs[:100]:
                if run.id != bad.id and run.created_at < bad.created_at and run.head_sha != bad.head_sha:
                    return {"workflow": workflow, "run_id": str(run.id), "head_sha": run.head_sha}
            return {}

        return guarded(f"github:{repo}:actions/runs", fetch, _classify)

    def accessible_repos(self) -> ToolResult[list[str]]:
        """Full names of the repositories the token can read."""
        return guarded(
            "github:user/repos",
            lambda: sorted(r.full_name for r in self._gh.get_user().get_repos()),
            _classify,
        )


#: How many added lines of a commit are kept, and how long each may be.
ADDED_LINES_KEPT = 400
ADDED_LINE_CHARS = 300


def added_lines(patches: Iterable[str]) -> tuple[str, ...]:
    """The lines a commit's unified-diff patches add (without the `+`), stripped, non-empty, capped."""
    out: list[str] = []
    for patch in patches:
        for line in patch.splitlines():
            if line.startswith("+") and not line.startswith("+++"):
                text = line[1:].strip()
                if text:
                    out.append(text[:ADDED_LINE_CHARS])
                    if len(out) >= ADDED_LINES_KEPT:
                        return tuple(out)
    return tuple(out)


def _why(exc: Exception) -> str:
    return _classify(exc)[1] if isinstance(exc, GithubException) else str(exc)


class GithubWriteFailed(Exception):
    """A GitHub write of a fix button failed; the message says which and why."""


class GithubWriter:
    """The GitHub writes: the fix buttons' issue and revert pull request (never merged here), and re-running
    a deploy workflow run (an approved catalogue action).

    Give it a token allowed to write issues, contents and pull requests of the services' repositories.
    """

    def __init__(self, token: str, base_url: str = "https://api.github.com", timeout: float = 15.0) -> None:
        retry = GithubRetry(total=3, backoff_factor=0.2)
        self._gh = Github(base_url=base_url, auth=Auth.Token(token), timeout=int(timeout), retry=retry)

    def deploy_run(self, repo: str, run_id: str) -> dict[str, str]:
        """One workflow run: its workflow file, head sha, status, conclusion, attempt and start time."""
        try:
            run = self._gh.get_repo(repo).get_workflow_run(int(run_id))
            return {
                "id": str(run.id),
                "workflow": (run.path or "").rsplit("/", 1)[-1],
                "head_sha": run.head_sha,
                "status": run.status or "",
                "conclusion": run.conclusion or "",
                "attempt": str(run.run_attempt or 1),
            }
        except (GithubException, ValueError) as exc:
            raise GithubWriteFailed(f"reading run {run_id} of {repo} failed: {_why(exc)}") from exc

    def latest_deploy_run(self, repo: str, workflow: str) -> str:
        """The id of the run of `workflow` (its file name) on the default branch that started last (a re-run
        starts again), or "" when it never ran."""
        try:
            r = self._gh.get_repo(repo)
            runs: list[WorkflowRun] = list(r.get_workflow(workflow).get_runs(branch=r.default_branch)[:30])
        except GithubException as exc:
            raise GithubWriteFailed(f"listing {workflow} runs of {repo} failed: {_why(exc)}") from exc
        if not runs:
            return ""
        latest = max(runs, key=lambda x: (x.run_started_at or x.created_at, x.id))
        return str(latest.id)

    def rerun(self, repo: str, run_id: str) -> None:
        """Re-run a workflow run (`POST .../actions/runs/{id}/rerun`): the same commit deployed again."""
        try:
            if not self._gh.get_repo(repo).get_workflow_run(int(run_id)).rerun():
                raise GithubWriteFailed(f"GitHub refused to re-run run {run_id} of {repo}")
        except GithubException as exc:
            raise GithubWriteFailed(f"re-running run {run_id} of {repo} failed: {_why(exc)}") from exc

    def open_issue(self, repo: str, title: str, body: str) -> str:
        """Open an issue; returns its URL."""
        try:
            return str(self._gh.get_repo(repo).create_issue(title=title[:250], body=body[:60000]).html_url)
        except GithubException as exc:
            raise GithubWriteFailed(f"opening an issue in {repo} failed: {_classify(exc)[1]}") from exc

    def open_revert(self, repo: str, commit: str, title: str, body: str) -> str:
        """Branch `sre-bot/revert-<sha>` from the default branch with a commit that restores the content before
        `commit`, and a pull request from it; returns the PR's URL. Refused when `commit` is not the head of
        the default branch (later commits would be undone too: a person reverts it by hand)."""
        try:
            r = self._gh.get_repo(repo)
            base = r.default_branch
            head = r.get_branch(base).commit.sha
            bad = r.get_git_commit(commit)
            if head != bad.sha:
                raise GithubWriteFailed(
                    f"{commit[:7]} is not the head of {base} (later commits would be undone too): "
                    f"revert it by hand with `git revert {commit[:12]}`"
                )
            if not bad.parents:
                raise GithubWriteFailed(f"{commit[:7]} has no parent to return to")
            before = r.get_git_commit(bad.parents[0].sha)
            message = f'Revert "{bad.message.splitlines()[0][:150]}"\n\nThis reverts commit {bad.sha}.'
            revert = r.create_git_commit(message, before.tree, [r.get_git_commit(head)])
            branch = f"sre-bot/revert-{bad.sha[:12]}"
            r.create_git_ref(f"refs/heads/{branch}", revert.sha)
            pr = r.create_pull(title=title[:250], body=body[:60000], base=base, head=branch)
            return str(pr.html_url)
        except GithubException as exc:
            raise GithubWriteFailed(
                f"opening a revert of {commit[:7]} in {repo} failed: {_classify(exc)[1]}"
            ) from exc

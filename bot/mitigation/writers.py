"""The writers an approved action runs with: AWS on the bot's write role, and GitHub for re-running a deploy.

`Writers` is what the catalogue's reads and the phases see: one `perform` for every write call (an AWS call, or
``github:ReRunWorkflowRun``), and the GitHub reads beside it, with every failure as `WriteFailed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.sources.aws.writes import ApiCall, AwsWriter, WriteFailed
from bot.sources.github import GithubWriteFailed, GithubWriter

#: The GitHub write calls an action may make, by operation.
GITHUB_CALLS = frozenset({"ReRunWorkflowRun"})


@dataclass(frozen=True)
class Writers:
    """AWS (the write role) and, when GITHUB_WRITE_TOKEN is set, GitHub."""

    aws: AwsWriter
    github: GithubWriter | None = None

    def _gh(self) -> GithubWriter:
        if self.github is None:
            raise WriteFailed("GITHUB_WRITE_TOKEN is not set, so the bot cannot re-run a GitHub workflow")
        return self.github

    def perform(self, call: ApiCall) -> ApiCall:
        """Make one allowed write call; anything else is refused before it leaves the process."""
        if call.service != "github":
            return self.aws.perform(call)
        if call.operation not in GITHUB_CALLS:
            raise WriteFailed(f"github:{call.operation} is not a write call the bot may make")
        try:
            self._gh().rerun(call.params["repo"], call.params["run_id"])
        except GithubWriteFailed as err:
            raise WriteFailed(str(err)) from err
        return call

    def alarm_state(self, alarm: str) -> str:
        """A CloudWatch alarm's state."""
        return self.aws.alarm_state(alarm)

    def latest_run(self, repo: str, workflow: str) -> str:
        """The id of the workflow's run that started last on the default branch."""
        try:
            return self._gh().latest_deploy_run(repo, workflow)
        except GithubWriteFailed as err:
            raise WriteFailed(str(err)) from err

    def run_succeeded(self, repo: str, run_id: str) -> bool:
        """Whether the run completed successfully (a good release to deploy again)."""
        try:
            run = self._gh().deploy_run(repo, run_id)
        except GithubWriteFailed as err:
            raise WriteFailed(str(err)) from err
        return run["status"] == "completed" and run["conclusion"] == "success"

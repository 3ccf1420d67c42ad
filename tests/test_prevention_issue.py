"""A kept recommendation becomes a GitHub issue (the fake GitHub's REST API, through PyGithub), once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.domain.prevention import Priority, Proposal, RecommendationKind
from bot.prevention.lifecycle import decide
from bot.sandbox.fake_github import FakeGitHub
from bot.sandbox.fake_github_writes import GithubWrites
from bot.storage.db import make_engine, migrate
from bot.storage.recommendations import Recommendations
from bot.storage.store import Store

REPO = "grocerly/pricing"


@pytest.fixture
def gh() -> Iterator[tuple[FakeGitHub, GithubWrites]]:
    with FakeGitHub().start() as fake:
        writes = GithubWrites(fake)
        fake.add_repo(REPO)
        yield fake, writes


def test_a_kept_recommendation_is_opened_as_an_issue_once(
    tmp_path: Path, gh: tuple[FakeGitHub, GithubWrites], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, writes = gh
    url = f"sqlite:///{tmp_path / 'bot.sqlite'}"
    migrate(url)
    store = Store(make_engine(url))
    recs = Recommendations(store)
    proposal = Proposal(
        key="pipeline-guard:pricing",
        kind=RecommendationKind.PIPELINE,
        priority=Priority.HIGH,
        title="Deploys of pricing reach all of production unguarded",
        change="Deploy pricing to a canary first",
        where="the deploy workflow of grocerly/pricing",
        spec="## Goal\nCanary and automatic rollback",
        incident_ids=(3, 7),
    )
    kept, _ = recs.upsert(proposal)
    fresh, _ = recs.upsert(proposal.model_copy(update={"key": "other", "title": "Not kept"}))
    assert kept.id is not None and fresh.id is not None
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("GITHUB_API_URL", fake.base_url)
    runner = CliRunner()

    missing = runner.invoke(app, ["prevention", "issue", str(kept.id), "--repo", REPO])
    assert missing.exit_code == 2 and "GITHUB_WRITE_TOKEN" in missing.output
    monkeypatch.setenv("GITHUB_WRITE_TOKEN", "ghp-sandbox")
    refused = runner.invoke(app, ["prevention", "issue", str(kept.id), "--repo", REPO])
    assert refused.exit_code == 2 and "only a kept one becomes an issue" in refused.output
    bad = runner.invoke(app, ["prevention", "issue", str(kept.id), "--repo", "not a repo"])
    assert bad.exit_code == 2 and "is not owner/name" in bad.output

    decide(store, kept.id, "keep", "U1")
    opened = runner.invoke(app, ["prevention", "issue", str(kept.id), "--repo", REPO, "--user", "U1"])
    assert opened.exit_code == 0, opened.output
    assert opened.output.strip() == f"opened: https://github.com/{REPO}/issues/1"
    (issue,) = writes.issues[REPO]
    assert issue.title == "Prevention: Deploys of pricing reach all of production unguarded"
    assert "## Goal" in issue.body and "from incidents 3, 7" in issue.body and "canary" in issue.body
    again = runner.invoke(app, ["prevention", "issue", str(kept.id), "--repo", REPO])
    assert again.output.strip() == f"already opened: https://github.com/{REPO}/issues/1"
    assert len(writes.issues[REPO]) == 1
    assert [e.verb for e in store.audit_log(f"recommendation:{kept.id}")].count("recommendation:issue") == 1
    store.engine.dispose()

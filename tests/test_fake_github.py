"""The fake GitHub REST API, driven only through PyGithub."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from github import Auth, Github, GithubException, UnknownObjectException

from bot.sandbox.fake_github import FakeGitHub, GhFile, expand_sha

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
PATCH = "@@ -1,3 +1,3 @@\n-POOL_SIZE = 50\n+POOL_SIZE = 5\n"


def _seed(fake: FakeGitHub) -> None:
    fake.add_repo("acme/checkout")
    for i in range(5):
        fake.add_commit(
            "acme/checkout", f"a{i}b{i}c{i}0", f"commit {i}", T0 + timedelta(minutes=i), author_login="dev"
        )
    fake.add_commit(
        "acme/checkout",
        "9f2c1e0",
        "Shrink the DB pool\n\nLess memory.",
        T0 + timedelta(minutes=10),
        author_name="Pat Doe",
        author_login="pat",
        files=[
            GhFile("app/db.py", additions=1, deletions=1, patch=PATCH),
            {
                "filename": "README.md",
                "status": "modified",
                "additions": 2,
                "deletions": 0,
                "patch": "+x\n+y",
            },
        ],
    )


def test_expand_sha_keeps_prefix_and_is_deterministic() -> None:
    full = expand_sha("9f2c1e0")
    assert len(full) == 40 and full.startswith("9f2c1e0")
    assert expand_sha("9f2c1e0") == full
    assert expand_sha(full) == full


def test_repo_and_commits_across_pages(fake_github: FakeGitHub, github_client: Github) -> None:
    _seed(fake_github)
    gh = Github(
        base_url=fake_github.base_url, auth=Auth.Token("ghp_x"), per_page=2, seconds_between_requests=0
    )
    repo = gh.get_repo("acme/checkout")
    assert repo.default_branch == "main"
    assert repo.full_name == "acme/checkout"
    commits = list(repo.get_commits(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=10)))
    assert [c.commit.message.splitlines()[0] for c in commits] == [
        "Shrink the DB pool",
        "commit 4",
        "commit 3",
        "commit 2",
        "commit 1",
    ]
    assert commits[0].sha == expand_sha("9f2c1e0")
    assert commits[0].commit.author.date == T0 + timedelta(minutes=10)
    assert commits[0].author.login == "pat"
    pages = fake_github.requests_to(r"/commits$")
    assert [r.query.get("page", "1") for r in pages] == ["1", "2", "3"]
    assert all(r.headers["authorization"] == "token ghp_x" for r in pages)
    gh.close()


def test_commit_files_patch_and_stats(fake_github: FakeGitHub, github_client: Github) -> None:
    _seed(fake_github)
    repo = github_client.get_repo("acme/checkout")
    c = repo.get_commit("9f2c1e0")
    assert c.sha == expand_sha("9f2c1e0")
    assert c.stats.additions == 3 and c.stats.deletions == 1
    files = {f.filename: f for f in c.files}
    assert files["app/db.py"].patch == PATCH
    assert files["app/db.py"].changes == 2
    assert [p.sha for p in c.parents] == [expand_sha("a4b4c40")]
    assert [x.sha for x in repo.get_commits(path="app")] == [c.sha]


def test_compare(fake_github: FakeGitHub, github_client: Github) -> None:
    _seed(fake_github)
    repo = github_client.get_repo("acme/checkout")
    cmp = repo.compare("a3b3c30", "9f2c1e0")
    assert cmp.status == "ahead"
    assert cmp.ahead_by == 2
    assert [c.commit.message.splitlines()[0] for c in cmp.commits] == ["commit 4", "Shrink the DB pool"]
    assert sorted(f.filename for f in cmp.files) == ["README.md", "app/db.py"]


def test_workflow_runs_and_filters(fake_github: FakeGitHub, github_client: Github) -> None:
    _seed(fake_github)
    bad = expand_sha("9f2c1e0")
    fake_github.add_run("acme/checkout", "a4b4c40", T0 + timedelta(minutes=5))
    run = fake_github.add_run("acme/checkout", "9f2c1e0", T0 + timedelta(minutes=11), conclusion="failure")
    fake_github.add_run("acme/checkout", "9f2c1e0", T0 + timedelta(minutes=12), event="workflow_dispatch")
    repo = github_client.get_repo("acme/checkout")
    assert [w.path for w in repo.get_workflows()] == [".github/workflows/deploy.yml"]
    runs = list(repo.get_workflow_runs(event="push", head_sha=bad))
    assert [r.id for r in runs] == [run.id]
    assert runs[0].conclusion == "failure"
    assert runs[0].created_at == T0 + timedelta(minutes=11)
    assert runs[0].head_commit.message.startswith("Shrink")
    assert repo.get_workflow_runs(status="failure").totalCount == 1
    window = repo.get_workflow_runs(created=f"{(T0 + timedelta(minutes=10)):%Y-%m-%dT%H:%M:%SZ}..*")
    assert window.totalCount == 2
    one = repo.get_workflow_run(run.id)
    assert one.html_url == f"https://github.com/acme/checkout/actions/runs/{run.id}"
    assert one.run_started_at == T0 + timedelta(minutes=11, seconds=5)
    assert repo.get_workflow("deploy.yml").get_runs().totalCount == 3


def test_deployments_and_statuses(fake_github: FakeGitHub, github_client: Github) -> None:
    _seed(fake_github)
    fake_github.add_deployment(
        "acme/checkout",
        "a4b4c40",
        T0 + timedelta(minutes=6),
        statuses=[("success", T0 + timedelta(minutes=8))],
    )
    dep = fake_github.add_deployment(
        "acme/checkout",
        "9f2c1e0",
        T0 + timedelta(minutes=12),
        statuses=[("in_progress", T0 + timedelta(minutes=12)), ("success", T0 + timedelta(minutes=15))],
    )
    fake_github.add_deployment("acme/checkout", "9f2c1e0", T0 + timedelta(minutes=13), environment="staging")
    repo = github_client.get_repo("acme/checkout")
    deps = list(repo.get_deployments(environment="production"))
    assert [d.id for d in deps] == [dep.id, deps[1].id]
    assert deps[0].sha == expand_sha("9f2c1e0")
    assert deps[0].creator.login == "deploy-bot"
    statuses = list(deps[0].get_statuses())
    assert [s.state for s in statuses] == ["success", "in_progress"]
    assert statuses[0].created_at == T0 + timedelta(minutes=15)
    assert [d.id for d in repo.get_deployments(sha=expand_sha("9f2c1e0"), environment="production")] == [
        dep.id
    ]


def test_org_and_user_repo_listings(fake_github: FakeGitHub, github_client: Github) -> None:
    for name in ("acme/checkout", "acme/payments", "acme/web"):
        fake_github.add_repo(name)
    fake_github.add_repo("pat/dotfiles")
    assert [r.name for r in github_client.get_organization("acme").get_repos()] == [
        "checkout",
        "payments",
        "web",
    ]
    assert [r.full_name for r in github_client.get_user("pat").get_repos()] == ["pat/dotfiles"]


def test_missing_things_are_404(fake_github: FakeGitHub, github_client: Github) -> None:
    with pytest.raises(UnknownObjectException):
        github_client.get_repo("acme/nope")


def test_scripted_500_and_rate_limit_are_retried(fake_github: FakeGitHub, github_client: Github) -> None:
    fake_github.add_repo("acme/checkout")
    fake_github.rate_limit_next(r"/repos/acme/checkout$", retry_after=0)
    assert github_client.get_repo("acme/checkout").name == "checkout"
    assert [r.status for r in fake_github.requests_to(r"/repos/acme/checkout$")] == [403, 200]

    fake_github.reset()
    fake_github.add_repo("acme/checkout")
    fake_github.fail_next(r"/repos/acme/checkout$", status=500)
    assert github_client.get_repo("acme/checkout").name == "checkout"
    assert [r.status for r in fake_github.requests_to(r"/repos/acme/checkout$")] == [500, 200]


def test_scripted_404(fake_github: FakeGitHub, github_client: Github) -> None:
    fake_github.add_repo("acme/checkout")
    fake_github.fail_next("/commits", status=404)
    repo = github_client.get_repo("acme/checkout")
    with pytest.raises(UnknownObjectException):
        list(repo.get_commits())


def test_rate_limit_body_and_headers_without_retry(fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme/checkout")
    fake_github.rate_limit_next(retry_after=30)
    gh = Github(base_url=fake_github.base_url, auth=Auth.Token("t"), retry=None)
    with pytest.raises(GithubException) as err:
        gh.get_repo("acme/checkout")
    assert err.value.status == 403
    assert err.value.headers is not None
    assert err.value.headers["x-ratelimit-remaining"] == "0"
    assert err.value.headers["retry-after"] == "30"
    gh.close()


def test_auth_is_required(fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme/checkout")
    gh = Github(base_url=fake_github.base_url)
    with pytest.raises(GithubException) as err:
        gh.get_repo("acme/checkout")
    assert err.value.status == 401
    gh.close()


def test_a_deploy_carries_the_lines_its_commit_added(fake_github: FakeGitHub) -> None:
    from bot.sources.github import GithubSource
    from tests.fixtures_fakes import GITHUB_TOKEN

    _seed(fake_github)
    fake_github.add_run("acme/checkout", "9f2c1e0", T0 + timedelta(minutes=11))
    source = GithubSource(GITHUB_TOKEN, base_url=fake_github.base_url)
    got = source.deploys("acme/checkout", T0, T0 + timedelta(hours=1))
    assert got.ok and got.data is not None, got
    (deploy,) = got.data
    assert deploy.added_lines == ("POOL_SIZE = 5", "x", "y")
    assert deploy.files == ("app/db.py", "README.md")

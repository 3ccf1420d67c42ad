"""Fixtures: the loopback stand-ins for Slack and GitHub, and the SNS signer.

Each server starts once per session and is reset before every test that uses it, so tests see empty state
and an empty record of calls. Clients are configured only through their own base-URL settings.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from github import Auth, Github, GithubRetry
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.sandbox.fake_anthropic import FakeAnthropic
from bot.sandbox.fake_github import FakeGitHub
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.signing import SnsSigner

SLACK_BOT_TOKEN = "xoxb-sandbox-token"
GITHUB_TOKEN = "ghp_sandboxtoken"


@pytest.fixture(scope="session")
def _fake_anthropic_server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def fake_anthropic(_fake_anthropic_server: FakeAnthropic) -> Iterator[FakeAnthropic]:
    """The scripted Messages API, with an empty script; the test fails if a scripted check failed."""
    _fake_anthropic_server.script()
    yield _fake_anthropic_server
    assert _fake_anthropic_server.problems == []


@pytest.fixture(scope="session")
def _fake_slack_server() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake_slack(_fake_slack_server: FakeSlack) -> FakeSlack:
    """The fake Slack Web API, emptied for this test."""
    _fake_slack_server.reset()
    _fake_slack_server.latency = 0.0
    return _fake_slack_server


@pytest.fixture
def slack_client(fake_slack: FakeSlack) -> WebClient:
    """A real ``WebClient`` on the fake, retrying 429s as the bot's client does."""
    return WebClient(
        token=SLACK_BOT_TOKEN,
        base_url=fake_slack.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )


@pytest.fixture(scope="session")
def _fake_github_server() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture
def fake_github(_fake_github_server: FakeGitHub) -> FakeGitHub:
    """The fake GitHub REST API, emptied for this test."""
    _fake_github_server.reset()
    _fake_github_server.latency = 0.0
    return _fake_github_server


@pytest.fixture
def github_client(fake_github: FakeGitHub) -> Iterator[Github]:
    """A real PyGithub client on the fake (retrying rate limits by ``Retry-After``)."""
    gh = Github(
        base_url=fake_github.base_url,
        auth=Auth.Token(GITHUB_TOKEN),
        retry=GithubRetry(total=3, backoff_factor=0),
        seconds_between_requests=0,  # PyGithub throttles to one request per 0.25 s by default
    )
    yield gh
    gh.close()


@pytest.fixture(scope="session")
def sns_signer() -> Iterator[SnsSigner]:
    """A started SNS signing identity whose cert is served on loopback."""
    with SnsSigner() as signer:
        yield signer

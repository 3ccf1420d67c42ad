"""Settings: the only module that reads the environment.

Every setting has a default that works offline (SQLite, the simulated estate, no keys). Production
commands call :func:`Settings.require` with the names they need, which fails with one message naming
every missing variable and what it is for.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository's own folders, the defaults of SKILLS_DIR and STEERING_DIR.
REPO_ROOT = Path(__file__).resolve().parent.parent

#: What each credential is for, used in the error a production command gives when one is missing.
PURPOSE: dict[str, str] = {
    "slack_bot_token": "SLACK_BOT_TOKEN (xoxb-...): the bot's Web API token, to read pages and post in threads",
    "slack_signing_secret": "SLACK_SIGNING_SECRET: verifies that HTTP requests really come from Slack",
    "slack_app_token": "SLACK_APP_TOKEN (xapp-...): Socket Mode connection (optional instead of HTTP mode)",
    "github_token": "GITHUB_TOKEN: reads deploy runs, commits and diffs of the services' repositories",
    "pagerduty_webhook_secret": "PAGERDUTY_WEBHOOK_SECRET: verifies X-PagerDuty-Signature on webhook deliveries",
    "eventbridge_secret": "EVENTBRIDGE_SECRET: the API key (or user:password) the EventBridge connection sends",
    "aws_region": "AWS_REGION: the region whose CloudWatch, ECS, CloudTrail ... the bot reads",
}


class McpServer(BaseModel):
    """An MCP server whose tools the model may use: a stdio `command` (with `args`, `env`) or a streamable
    HTTP `url` (with `headers`). Only tools the server annotates `readOnlyHint: true` are offered, and those
    named in `allow_write` (the server's own tool names)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,24}$", description="the prefix of its tools' names")
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    allow_write: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_transport(self) -> McpServer:
        if (self.command is None) == (self.url is None):
            raise ValueError(f"MCP server {self.name!r}: give either `command` (stdio) or `url` (HTTP)")
        return self


class MissingSettings(Exception):
    """Raised when a command needs settings that are not set; the message names each one."""


class Settings(BaseSettings):
    """Configuration read from the environment (and an optional `.env` file)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Storage and durable execution.
    database_url: str = Field(
        default="sqlite:///var/sre-bot.sqlite", description="SQLAlchemy URL of our database"
    )
    dbos_system_database_url: str | None = Field(
        default=None,
        description="DBOS system database; defaults to a SQLite file beside ours, or DATABASE_URL",
    )
    executor_id: str = Field(default="local", description="stable id of this process for DBOS recovery")
    dyno: str | None = Field(default=None, description="the platform's process name (Heroku's DYNO), if any")
    app_version: str = Field(default="0.1.0", description="DBOS application_version")
    run_investigations: bool = Field(
        default=True,
        description="whether this process also runs queued investigations (false: `serve` only enqueues "
        "and `sre-bot worker` processes run them, which keeps Slack's acks fast)",
    )

    # Slack.
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = Field(default="https://slack.com/api/", description="Slack Web API base URL")
    incident_channel_patterns: list[str] = Field(default_factory=lambda: ["inc-*", "incident-*"])
    page_channel: str = Field(default="#incidents", description="where webhook-delivered pages are posted")
    host: str = Field(
        default="0.0.0.0",
        description="the address `serve` binds its HTTP server to (0.0.0.0: every interface; 127.0.0.1: this "
        "machine only, e.g. behind a local proxy)",
    )
    port: int = Field(
        default=3000, description="the port of that HTTP server (Slack events, webhooks, health)"
    )

    # PagerDuty and SNS intake.
    pagerduty_webhook_secret: str | None = None
    pagerduty_api_token: str | None = Field(
        default=None,
        description="a read-only REST API key: reads an incident's first alert when its title is not enough",
    )
    pagerduty_api_url: str = Field(
        default="https://api.pagerduty.com", description="PagerDuty REST API base URL"
    )
    sns_topic_allowlist: list[str] = Field(default_factory=list)
    sns_cert_host_pattern: str = Field(default=r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
    # EventBridge API destinations: the connection's API-key header (or Basic authorisation) and its secret.
    eventbridge_auth_header: str = Field(
        default="X-Api-Key", description="the header the EventBridge connection's API key is sent in"
    )
    eventbridge_secret: str | None = Field(
        default=None, description="the connection's API key value, or `user:password` for Basic authorisation"
    )
    # INSUFFICIENT_DATA after OK: metrics whose silence means trouble (regular expressions on the metric name).
    silence_means_trouble: list[str] = Field(
        default_factory=lambda: [
            r"(?i)request|invocation|heartbeat|healthy|health|status.?check|published|received|sent|throughput"
        ],
        description="metrics whose going silent after OK is investigated, not only announced",
    )

    # AWS: boto3 reads AWS_ENDPOINT_URL / credentials itself; we only keep the region.
    aws_region: str = "us-east-1"

    # GitHub.
    github_token: str | None = None
    github_api_url: str = "https://api.github.com"
    github_org: str | None = None

    # Third parties: external service name -> its Statuspage v2 summary URL.
    status_pages: dict[str, str] = Field(default_factory=dict)

    # Investigation tuning.
    #: How far back changes are read: a setting or a cap can sit for days (a weekend) before it bites.
    change_lookback_minutes: int = Field(default=72 * 60, ge=60)
    gather_concurrency: int = 8
    page_concurrency: int = Field(
        default=8, description="page workflows (announcing pages in their threads) one process runs at once"
    )
    investigation_concurrency: int = Field(
        default=4, description="investigations (and as many steering follow-ups) one process runs at once"
    )
    work_pool_size: int = 16

    # Mitigation: who may approve which actions, and for how long a request waits (see bot.mitigation.policy).
    approvers: list[str] = Field(
        default_factory=list, description="Slack user ids who may approve actions (none: nobody may)"
    )
    approver_groups: list[str] = Field(
        default_factory=list, description="Slack user group ids whose members may approve actions"
    )
    approval_risk_levels: list[str] = Field(
        default_factory=lambda: ["low", "medium", "high"],
        description="risk levels that need an approver (others run on any person's click)",
    )
    approval_self_high_risk: bool = Field(
        default=False, description="whether the person who requested a high-risk action may approve it too"
    )
    approval_ttl_minutes: float = Field(default=30.0, gt=0, description="how long an action request lives")
    mitigation_recovery_minutes: float = Field(
        default=10.0, gt=0, description="how long post-validation waits for the alarm to return to OK"
    )
    mitigation_poll_seconds: float = Field(default=15.0, gt=0, description="how often post-validation looks")
    github_write_token: str | None = Field(
        default=None,
        description="GitHub token allowed to open issues and pull requests (the fix buttons); unset: they say so",
    )
    aws_write_profile: str | None = Field(
        default=None,
        description="AWS profile of the bot's write role, used only for approved actions (unset: the default "
        "credentials, which then need the write policy too)",
    )
    aws_write_role_arn: str | None = Field(
        default=None,
        description="ARN of the bot's write role, assumed through STS AssumeRole for approved actions only "
        "(the reads keep the read-only credentials); takes precedence over AWS_WRITE_PROFILE",
    )

    # Prevention: the nightly mining and the weekly digest (DBOS schedules, UTC).
    digest_channel: str | None = Field(
        default=None, description="where the weekly digest is posted (unset: not posted)"
    )
    digest_day: str = Field(default="mon", description="the digest's day of the week (mon..sun)")
    digest_hour: int = Field(default=9, ge=0, le=23, description="the digest's hour, UTC")
    nightly_hour: int = Field(default=3, ge=0, le=23, description="the nightly prevention job's hour, UTC")

    # Skills and steering files (Markdown with front matter), read on demand.
    skills_dir: Path = Field(default=REPO_ROOT / "skills", description="folder of skills/<name>/SKILL.md")
    steering_dir: Path = Field(default=REPO_ROOT / "steering", description="folder of steering *.md files")

    # The model pass (only with ANTHROPIC_API_KEY; without one the deterministic report stands alone).
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = Field(default=None, description="Messages API base URL (a stand-in)")
    llm_fast_model: str = Field(default="claude-haiku-4-5", description="triage, summaries, steering")
    llm_strong_model: str = Field(default="claude-sonnet-4-6", description="the investigation pass")
    llm_max_steps: int = Field(
        default=8, description="model turns per investigation (tools gone on the last)"
    )
    llm_max_tokens: int = Field(default=4096, description="output tokens per model turn")
    llm_tool_result_chars: int = Field(default=12_000, description="largest tool result handed to the model")
    llm_investigation_tokens: int = Field(
        default=400_000, description="input+output tokens per investigation"
    )
    llm_investigation_usd: float = Field(default=2.0, description="cost cap per investigation (USD)")
    llm_daily_usd: float = Field(default=50.0, description="cost cap per day across investigations (USD)")
    llm_timeout_s: float = Field(default=60.0, description="seconds per Messages API call")
    mcp_servers: list[McpServer] = Field(
        default_factory=list,
        description='MCP servers whose tools join the model\'s (JSON: [{"name": "docs", "command": "uvx", '
        '"args": ["my-mcp"]}, {"name": "wiki", "url": "https://.../mcp", "allow_write": ["tool"]}])',
    )
    mcp_timeout_s: float = Field(
        default=20.0, gt=0, description="seconds to connect to an MCP server or call"
    )

    def require(self, *names: str) -> None:
        """Raise :class:`MissingSettings` naming every unset setting among `names` and its purpose."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            lines = "\n".join(f"  - {PURPOSE.get(n, n.upper())}" for n in missing)
            raise MissingSettings(f"missing configuration:\n{lines}")

    def for_role(self, role: str) -> Settings:
        """These settings for a `serve` or `worker` process: unless EXECUTOR_ID is set, the executor id is the
        platform's process name (`worker.2`) or else the role, so a web and a worker process never both
        recover the same workflows."""
        if "executor_id" in self.model_fields_set:
            return self
        return self.model_copy(update={"executor_id": self.dyno or role})

    def sqlite_path(self) -> Path | None:
        """The SQLite file behind `database_url`, if it is a SQLite URL with a file."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and self.database_url != prefix + ":memory:":
            return Path(self.database_url[len(prefix) :])
        return None


def load_settings() -> Settings:
    """Read settings from the environment."""
    return Settings()

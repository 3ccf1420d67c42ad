"""Settings: the only module that reads the environment.

Every setting has a default that works offline (SQLite, the simulated estate, no keys). Production
commands call :func:`Settings.require` with the names they need, which fails with one message naming
every missing variable and what it is for.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: What each credential is for, used in the error a production command gives when one is missing.
PURPOSE: dict[str, str] = {
    "slack_bot_token": "SLACK_BOT_TOKEN (xoxb-...): the bot's Web API token, to read pages and post in threads",
    "slack_signing_secret": "SLACK_SIGNING_SECRET: verifies that HTTP requests really come from Slack",
    "slack_app_token": "SLACK_APP_TOKEN (xapp-...): Socket Mode connection (optional instead of HTTP mode)",
    "github_token": "GITHUB_TOKEN: reads deploy runs, commits and diffs of the services' repositories",
    "pagerduty_webhook_secret": "PAGERDUTY_WEBHOOK_SECRET: verifies X-PagerDuty-Signature on webhook deliveries",
    "aws_region": "AWS_REGION: the region whose CloudWatch, ECS, CloudTrail ... the bot reads",
}


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
    sns_topic_allowlist: list[str] = Field(default_factory=list)
    sns_cert_host_pattern: str = Field(default=r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")

    # AWS: boto3 reads AWS_ENDPOINT_URL / credentials itself; we only keep the region.
    aws_region: str = "us-east-1"

    # GitHub.
    github_token: str | None = None
    github_api_url: str = "https://api.github.com"
    github_org: str | None = None

    # Third parties: external service name -> its Statuspage v2 summary URL.
    status_pages: dict[str, str] = Field(default_factory=dict)

    # Investigation tuning.
    lookback_minutes: int = 26 * 60
    gather_concurrency: int = 8
    investigation_concurrency: int = Field(
        default=4, description="investigations (and as many steering follow-ups) one process runs at once"
    )
    work_pool_size: int = 16

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

"""Settings: offline defaults, and a clear error naming what is missing."""

from __future__ import annotations

import pytest

from bot.config import MissingSettings, Settings


def test_defaults_work_offline() -> None:
    s = Settings(_env_file=None)
    assert s.database_url.startswith("sqlite:///")
    assert s.sqlite_path() is not None
    assert s.incident_channel_patterns == ["inc-*", "incident-*"]


def test_require_names_each_missing_setting_and_its_purpose() -> None:
    s = Settings(_env_file=None, slack_bot_token=None, slack_signing_secret=None, github_token="x")
    with pytest.raises(MissingSettings) as err:
        s.require("slack_bot_token", "slack_signing_secret", "github_token")
    msg = str(err.value)
    assert "SLACK_BOT_TOKEN" in msg and "SLACK_SIGNING_SECRET" in msg
    assert "GITHUB_TOKEN" not in msg

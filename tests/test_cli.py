"""The command line: help a newcomer understands, and clear errors for user mistakes (no stack traces)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()


def test_help_lists_every_command() -> None:
    out = runner.invoke(app, ["--help"])
    assert out.exit_code == 0
    for command in ("demo", "investigate", "eval", "bench", "migrate", "serve", "worker"):
        assert command in out.output


@pytest.mark.parametrize(
    ("command", "missing"), [("serve", "SLACK_SIGNING_SECRET"), ("worker", "SLACK_BOT_TOKEN")]
)
def test_production_commands_name_the_missing_credentials(
    command: str, missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    out = runner.invoke(app, [command])
    assert out.exit_code == 2
    assert missing in out.output and "Traceback" not in out.output


def test_an_unknown_scenario_and_a_missing_bench_folder_are_one_line_errors(tmp_path: object) -> None:
    out = runner.invoke(app, ["investigate", "--scenario", "no-such-scenario"])
    assert out.exit_code == 2 and "no-such-scenario" in out.output and "flagship-cache-deploy" in out.output
    out = runner.invoke(app, ["bench", f"{tmp_path}/nothing-here"])
    assert out.exit_code == 2 and "Traceback" not in out.output


def test_migrate_creates_the_schema(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/bot.sqlite")
    out = runner.invoke(app, ["migrate"])
    assert out.exit_code == 0 and "up to date" in out.output

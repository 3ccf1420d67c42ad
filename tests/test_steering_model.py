"""Steering the parser does not understand, read by the fast model (scripted stand-in) into checked steering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.investigation.steering import parse_steering
from bot.investigation.steering_model import interpret
from bot.llm.runtime import model_runtime
from bot.sandbox.fake_anthropic import FakeAnthropic, Turn, fail, tool_use

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SERVICES = ["checkout", "forge", "ledger-db"]
TEXT = "honestly the ledger thing smells to me, widen to three quarters of an hour"


def _runtime(fake: FakeAnthropic) -> Any:
    return model_runtime(
        Settings(
            anthropic_api_key="sk-test", anthropic_base_url=fake.base_url, llm_fast_model="claude-haiku-4-5"
        )
    )


def test_the_fast_model_reads_what_the_parser_cannot_and_its_answer_is_checked(
    fake_anthropic: FakeAnthropic,
) -> None:
    assert not parse_steering(TEXT, SERVICES, NOW).understood

    def forced(body: dict[str, Any]) -> None:
        assert body["model"] == "claude-haiku-4-5"
        assert body["tool_choice"] == {"type": "tool", "name": "record_steering"}
        assert "ledger-db" in body["system"][0]["text"]

    answer = {
        "focus": ["ledger-db", "payments-api"],  # payments-api is not in the estate: left out
        "ignore": [],
        "since_minutes": 45,
        "cleared_commits": ["b7d41e9", "rm -rf /"],  # not a commit: left out
        "hint": "marta's push is known good",
    }
    fake_anthropic.script(Turn([tool_use("record_steering", answer, "t1")], "tool_use", check=forced))
    got = interpret(_runtime(fake_anthropic), TEXT, SERVICES, NOW)
    assert got is not None and got.directive.understood
    assert got.directive.focus == ("ledger-db",) and got.directive.cleared_commits == ("b7d41e9",)
    assert got.directive.since == NOW - timedelta(minutes=45)
    assert got.hint == "marta's push is known good"
    assert "Focusing on ledger-db." in got.directive.describe()


def test_nothing_checkable_is_not_understood_and_an_api_failure_is_none(
    fake_anthropic: FakeAnthropic,
) -> None:
    fake_anthropic.script(
        Turn([tool_use("record_steering", {"focus": ["nope"], "hint": "?"}, "t1")], "tool_use")
    )
    got = interpret(_runtime(fake_anthropic), "meh", SERVICES, NOW)
    assert got is not None and not got.directive.understood
    fake_anthropic.script(*[fail(529, "overloaded_error")] * 3)
    assert interpret(_runtime(fake_anthropic), "meh", SERVICES, NOW) is None

"""The steering parser (no LLM), `apply` and the thread reply `describe_change`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain import Category, Hypothesis, Report
from bot.investigation.steering import Directive, Steering, apply, describe_change, parse_steering

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
SERVICES = ["forge", "bot", "bot-config", "gateway", "payments"]


def _at(h: int, m: int = 0, day: int = 22) -> datetime:
    return datetime(2026, 11, day, h, m, tzinfo=UTC)


# text -> (focus, ignore, since, clear_blamed, cleared_commits, changes_before)
TABLE: list[
    tuple[str, tuple[str, ...], tuple[str, ...], datetime | None, bool, tuple[str, ...], datetime | None]
] = [
    ("focus on forge", ("forge",), (), None, False, (), None),
    ("look at payments", ("payments",), (), None, False, (), None),
    ("Can you look into Payments?", ("payments",), (), None, False, (), None),
    ("check gateway", ("gateway",), (), None, False, (), None),
    ("ignore forge, it's fine", (), ("forge",), None, False, (), None),
    ("forge is fine", (), ("forge",), None, False, (), None),
    ("forge is healthy", (), ("forge",), None, False, (), None),
    ("bot is a red herring", (), ("bot",), None, False, (), None),
    ("not gateway", (), ("gateway",), None, False, (), None),
    ("don't look at gateway", (), ("gateway",), None, False, (), None),
    ("skip bot-config", (), ("bot-config",), None, False, (), None),
    ("ignore bot-config and focus on bot", ("bot",), ("bot-config",), None, False, (), None),
    ("forge is fine, look at payments", ("payments",), ("forge",), None, False, (), None),
    ("only the last 30 minutes", (), (), _at(14, 30), False, (), None),
    ("last 2h", (), (), _at(13), False, (), None),
    ("just the past hour please", (), (), _at(14), False, (), None),
    ("last 90 min", (), (), _at(13, 30), False, (), None),
    ("since 14:05", (), (), _at(14, 5), False, (), None),
    ("since 2:05pm", (), (), _at(14, 5), False, (), None),
    ("since 2pm", (), (), _at(14), False, (), None),
    ("since 16:00", (), (), _at(16, day=21), False, (), None),  # later than now: yesterday's
    ("that deploy is fine", (), (), None, True, (), None),
    ("it's not the deploy", (), (), None, True, (), None),
    ("the deploy of abc1234 is fine", (), (), None, False, ("abc1234",), None),
    ("ignore changes before 14:00", (), (), None, False, (), _at(14)),
    ("ignore forge and only the last 30 minutes", (), ("forge",), _at(14, 30), False, (), None),
]


@pytest.mark.parametrize(("text", "focus", "ignore", "since", "blamed", "commits", "before"), TABLE)
def test_parse_understands_common_phrasings(
    text: str,
    focus: tuple[str, ...],
    ignore: tuple[str, ...],
    since: datetime | None,
    blamed: bool,
    commits: tuple[str, ...],
    before: datetime | None,
) -> None:
    d = parse_steering(text, SERVICES, NOW)
    assert d.understood
    assert (d.focus, d.ignore, d.since, d.clear_blamed, d.cleared_commits, d.changes_before) == (
        focus,
        ignore,
        since,
        blamed,
        commits,
        before,
    )
    assert d.text == text


@pytest.mark.parametrize(
    "text", ["what's the weather like", "thanks!", "is anyone on this?", "", "looking good so far"]
)
def test_unknown_text_is_not_understood_but_acknowledged(text: str) -> None:
    d = parse_steering(text, SERVICES, NOW)
    assert not d.understood
    assert d.describe() == "Noted — I'll keep it in mind; I understood nothing to change."
    after = apply(Steering(), d)
    assert after.notes == [text]  # recorded, never dropped


def test_service_names_match_whole_names_only() -> None:
    d = parse_steering("ignore bot-config", SERVICES, NOW)
    assert d.ignore == ("bot-config",)
    assert parse_steering("ignore robots", SERVICES, NOW).understood is False


def test_apply_returns_a_new_steering() -> None:
    before = Steering(focus={"forge"})
    d = parse_steering("forge is fine; look at payments; last 30 minutes", SERVICES, NOW)
    after = apply(before, d)
    assert before.focus == {"forge"} and not before.ignored
    assert after.focus == {"payments"} and after.ignored == {"forge"} and after.since == _at(14, 30)
    cleared = apply(after, parse_steering("that deploy is fine", SERVICES, NOW), blamed_change="run-1")
    assert cleared.cleared_changes == {"run-1"}
    named = apply(after, parse_steering("the deploy of 9f2c1e0 is fine", SERVICES, NOW))
    assert named.cleared_changes == {"9f2c1e0"}
    window = apply(after, parse_steering("ignore changes before 14:00", SERVICES, NOW))
    assert window.changes_since == _at(14)


def _report(service: str | None, category: Category, confidence: float) -> Report:
    h = Hypothesis(service=service, category=category, confidence=confidence, summary="s")
    return Report(page_title="p", impact="i", root_cause=h, hypotheses=(h,))


def test_describe_change_names_the_new_and_old_root_cause() -> None:
    before = _report("forge", Category.BAD_DEPLOYMENT, 0.92)
    after = _report("bot-config", Category.PERMISSION_CHANGE, 0.81)
    d = parse_steering("ignore forge, it's fine", SERVICES, NOW)
    assert (
        describe_change(before, after, d)
        == "Ignoring forge. Root cause now: bot-config (permission-change, 81%) — was forge."
    )
    same = describe_change(before, _report("forge", Category.BAD_DEPLOYMENT, 0.7))
    assert same == "Root cause unchanged: forge (bad-deployment, 70%) (confidence was 92%)."


def test_directive_json_round_trips_through_storage_shape() -> None:
    d = parse_steering("ignore forge since 14:05", SERVICES, NOW)
    assert d.to_json()["ignore"] == ["forge"]
    assert d.to_json()["since"] == "2026-11-22T14:05:00+00:00"
    assert Directive(text="x", understood=False).to_json()["focus"] == []


@pytest.mark.parametrize(
    "text", ["forge is fine; look at payments; last 30 minutes", "ignore changes before 14:00", "hello there"]
)
def test_a_directive_survives_its_json(text: str) -> None:
    d = parse_steering(text, SERVICES, NOW)
    assert Directive.from_json(text, d.to_json() if d.understood else None) == d

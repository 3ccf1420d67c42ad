"""The learning loop in Slack, through the real Bolt app and the fake Slack Web API: the resolve-time question
whose answer becomes the confirmed cause; the digest's Keep / Discard (with a reason, in a modal) /
Implemented buttons; App Home's open recommendations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain import InvestigationStatus, Page, PageSource
from bot.domain.prevention import Priority, Proposal, RecommendationKind, RecommendationStatus
from bot.prevention.digest import weekly_digest
from bot.sandbox.fake_slack import FakeSlack, wait_for
from bot.slack.prevention_actions import digest_poster
from bot.storage.memory import memories
from bot.storage.recommendations import Recommendations
from bot.storage.tables import Verdict
from tests.test_slack_app import Stack, all_investigations, inject_page, now_ts, stack


@pytest.fixture
def s(fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with stack(fake_slack, tmp_path) as running:
        yield running


def _buttons(messages: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (m, el)
        for m in messages
        for b in m.get("blocks") or []
        if b.get("type") == "actions"
        for el in b.get("elements", [])
    ]


def _click(s: Stack, message: dict[str, Any], el: dict[str, Any], thread_ts: str | None = None) -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ONCALL1", "username": "oncall"},
        "api_app_id": "A0SREBOT",
        "team": {"id": "T0SANDBOX"},
        "channel": {"id": s.channel},
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": s.channel},
        "message": {**message, "thread_ts": thread_ts} if thread_ts else message,
        "trigger_id": "1.2.trigger",
        "actions": [{"action_id": el["action_id"], "block_id": "b", "type": "button", "value": el["value"]}],
    }
    assert s.sender.interaction(payload).status == 200


def _submit(s: Stack, view: dict[str, Any], block: str, action: str, value: str, user: str) -> None:
    """Submit a modal the bot opened, with one input filled in."""
    submission = {
        "type": "view_submission",
        "user": {"id": user},
        "team": {"id": "T0SANDBOX"},
        "api_app_id": "A0SREBOT",
        "view": {**view, "id": "V1", "state": {"values": {block: {action: {"value": value}}}}},
    }
    assert s.sender.interaction(submission).status == 200


def _proposal(key: str, title: str) -> Proposal:
    return Proposal(
        key=key,
        kind=RecommendationKind.OBSERVABILITY,
        priority=Priority.MEDIUM,
        title=title,
        change="Add an alarm",
        where="CloudWatch",
        spec="## Goal\nAn alarm",
        incident_ids=(1, 2),
    )


def test_resolve_asks_once_and_the_answer_is_the_confirmed_cause(s: Stack) -> None:
    ts, _ = inject_page(s)
    assert wait_for(lambda: s.investigations.find_by_thread(s.channel, ts) is not None, 5.0)
    ref = s.investigations.find_by_thread(s.channel, ts)
    assert ref is not None
    page = Page(source=PageSource.MANUAL, title="checkout errors", fired_at=s.store.clock())
    for _ in range(2):  # a resolve step that ran twice asks once
        s.surface.notifier.status(ref, InvestigationStatus.RESOLVED, page, "checkout (bad-deployment, 91%)")

    def asked() -> list[dict[str, Any]]:
        return [m for m in s.fake.replies(s.channel, ts) if "Was the root cause right?" in m.get("text", "")]

    assert len(asked()) == 1
    (message, yes), (_, no) = _buttons(asked())
    assert (yes["action_id"], no["action_id"]) == ("feedback_up", "feedback_down")
    _click(s, message, no, ts)
    assert wait_for(lambda: len(s.fake.calls_to("views.open")) == 1, 3.0)
    view = s.fake.calls_to("views.open")[0].params["view"]
    _submit(s, view, "actual_cause", "actual_cause_input", "the payment pool size", "U0ONCALL1")
    inv_id = all_investigations(s)[0].id
    assert inv_id is not None
    assert wait_for(lambda: len(s.store.feedback_for(inv_id)) == 1, 3.0)
    assert s.store.feedback_for(inv_id)[0].verdict == Verdict.DOWN.value
    remembered = [m for m in memories(s.store) if m.investigation_id == inv_id]
    assert remembered[0].confirmed is False and remembered[0].confirmed_cause == "the payment pool size"


def test_digest_buttons_keep_discard_with_a_reason_and_implemented(s: Stack) -> None:
    recs = Recommendations(s.store)
    for n in range(3):
        recs.upsert(_proposal(f"k{n}", f"Recommendation {n}"))
    post = digest_poster(s.surface.client, s.channel)
    digest = weekly_digest(s.store)
    ts = post(digest)
    posted = s.fake.message(s.channel, ts)
    assert posted is not None and len(posted["blocks"]) <= 50
    # the step posting it is retried after a crash: the week's digest is found, not posted twice
    assert post(digest) == ts and len(s.fake.calls_to("chat.postMessage")) == 1
    clicks = {(json.loads(el["value"])["rec"], el["action_id"]): (m, el) for m, el in _buttons([posted])}
    ids = sorted({rec for rec, _ in clicks})
    assert len(clicks) == 9 and len(ids) == 3

    _click(s, *clicks[(ids[0], "rec_keep")])
    _click(s, *clicks[(ids[1], "rec_implemented")])
    _click(s, *clicks[(ids[2], "rec_discard")])
    assert wait_for(lambda: len(s.fake.calls_to("views.open")) == 1, 3.0)
    view = s.fake.calls_to("views.open")[0].params["view"]
    assert view["callback_id"] == "rec_discard_modal" and view["private_metadata"] == str(ids[2])
    _submit(s, view, "discard_reason", "discard_reason_input", "covered by the SLO alarms", "U0LEAD")

    def status(rec_id: int) -> str | None:
        row = recs.get(rec_id)
        return row.status if row else None

    assert wait_for(lambda: status(ids[2]) == RecommendationStatus.DISCARDED, 3.0)
    assert wait_for(lambda: status(ids[0]) == RecommendationStatus.KEPT, 3.0)
    assert wait_for(lambda: status(ids[1]) == RecommendationStatus.IMPLEMENTED, 3.0)
    discarded = recs.get(ids[2])
    assert discarded is not None and (discarded.reason, discarded.decided_by) == (
        "covered by the SLO alarms",
        "U0LEAD",
    )
    assert wait_for(lambda: len(s.fake.ephemerals) == 2, 3.0)

    ev = {
        "type": "app_home_opened",
        "user": "U0ONCALL1",
        "channel": "D0HOME",
        "tab": "home",
        "event_ts": now_ts(),
    }
    assert s.sender.event(ev).status == 200
    assert wait_for(lambda: len(s.fake.calls_to("views.publish")) == 1, 3.0)
    home = json.dumps(s.fake.home_views["U0ONCALL1"])
    assert "Open recommendations (1)" in home and "Recommendation 0" in home and "rec_discard" in home
    assert "Recommendation 1" not in home and "Recommendation 2" not in home

"""The Slack surface under test: the real Bolt app over HTTP on loopback, against the fake Slack Web API.

`stack()` wires the surface exactly as `sre-bot serve` does (store, client with 429 retries, notifier, Bolt
app, webhook intake) and serves it with our threaded WSGI server; requests are signed by `SlackEventSender`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.domain import (
    Action,
    Category,
    Change,
    ChangeSource,
    ChangeVia,
    ChartSeries,
    Evidence,
    EvidenceKind,
    Hypothesis,
    Mitigation,
    Page,
    Phase,
    Plan,
    PlanStep,
    Report,
    TimelineEntry,
)
from bot.investigation.engine import Deps
from bot.investigation.ports import Accepted, Delivery, InvestigationRef, Investigations, OpenInvestigation
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.signing import SlackEventSender
from bot.slack.app import make_client
from bot.slack.blocks import encode_value
from bot.slack.server import HttpServer, SlackSurface, build_surface, wsgi_app
from bot.slack.server import _service as real_service
from bot.slack.verify import SnsVerifier
from bot.sources.aws.clients import AwsClients
from bot.storage.db import make_engine, migrate
from bot.storage.store import Store

SIGNING_SECRET = "test-signing-secret"
PD_SECRET = "pd-webhook-secret"
TOPIC = "arn:aws:sns:us-east-1:123456789012:cloudwatch-alarms"


def report(page: Page, version: int = 1, note: str = "") -> Report:
    """A small report with one executable step (so it carries Approve / Reject buttons)."""
    rc = Hypothesis(
        service="checkout",
        category=Category.BAD_DEPLOYMENT,
        confidence=0.8,
        summary="deploy abc1234 of checkout broke the cache client" + note,
        change_id="deploy:acme/checkout:abc1234",
    )
    plan = Plan(
        mitigation=Mitigation.ROLLBACK,
        summary="Roll checkout back to the previous task definition.",
        steps=(
            PlanStep(phase=Phase.PREPARE, description="Tell the channel."),
            PlanStep(
                phase=Phase.APPLY,
                description="Roll back checkout.",
                action=Action.ECS_UPDATE_SERVICE,
                params={"service": "checkout"},
                mutating=True,
            ),
        ),
    )
    return Report(
        page_title=page.title,
        impact="checkout errors",
        root_cause=rc,
        hypotheses=(rc,),
        plan=plan,
        version=version,
    )


EVIDENCE = [
    Evidence(
        kind=EvidenceKind.METRIC, service="checkout", summary="checkout error_rate 0.002 → 0.41 since 10:02"
    ),
    Evidence(kind=EvidenceKind.CHANGE, service="checkout", summary="deploy of abc1234 at 10:00"),
    Evidence(
        kind=EvidenceKind.LOG,
        service="checkout",
        summary="@channel <http://evil.example|click> AKIAABCDEFGHIJKLMNOP timeout talking to cache",
    ),
]


class Recording:
    """The real `InvestigationService`, with the calls the surface made to it recorded for assertions
    (`opened`: the pages it took, a re-delivery of one it had taken left out)."""

    def __init__(self, service: Investigations) -> None:
        self.service = service
        self.runtime = getattr(service, "runtime", None)
        self.opened: list[Page] = []
        self.steered: list[tuple[InvestigationRef, str, str]] = []
        self.lookups: list[tuple[str, str]] = []

    def accept(self, page: Page, delivery: Delivery, *, reopened: bool = False) -> Accepted:
        accepted = self.service.accept(page, delivery, reopened=reopened)
        if not accepted.duplicate:
            self.opened.append(page)
        return accepted

    def open(self, page: Page) -> InvestigationRef:
        self.opened.append(page)
        return self.service.open(page)

    def find_by_thread(self, channel: str, thread_ts: str) -> InvestigationRef | None:
        self.lookups.append((channel, thread_ts))
        return self.service.find_by_thread(channel, thread_ts)

    def steer(self, ref: InvestigationRef, user: str, text: str, *, delivery: Delivery | None = None) -> None:
        self.steered.append((ref, user, text))
        self.service.steer(ref, user, text, delivery=delivery)

    def open_investigations(self) -> list[OpenInvestigation]:
        return self.service.open_investigations()


@dataclass
class Stack:
    """A running Slack surface and its handles."""

    fake: FakeSlack
    surface: SlackSurface
    server: HttpServer
    sender: SlackEventSender
    channel: str

    @property
    def store(self) -> Store:
        return self.surface.store

    @property
    def investigations(self) -> Recording:
        inv = self.surface.investigations
        assert isinstance(inv, Recording)
        return inv

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        import httpx

        r = httpx.post(self.server.url + path, content=body, headers=headers, timeout=10)
        return r.status_code, r.text


def settings_for(fake: FakeSlack, db: Path) -> Settings:
    """Settings for a test or the demo: the fake Slack, a SQLite file, test secrets, our SNS topic."""
    return Settings(
        database_url=f"sqlite:///{db}",
        slack_bot_token="xoxb-sandbox-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake.api_url,
        page_channel="#incidents",
        pagerduty_webhook_secret=PD_SECRET,
        sns_topic_allowlist=[TOPIC],
        work_pool_size=16,
    )


@contextmanager
def stack(
    fake: FakeSlack,
    tmp: Path,
    *,
    sns: SnsVerifier | None = None,
    flush_interval: float = 0.3,
    deps: Deps | None = None,
) -> Iterator[Stack]:
    """The Slack surface on loopback, with an incident channel the bot is in."""
    settings = settings_for(fake, tmp / "bot.sqlite")
    migrate(settings.database_url)
    store = Store(make_engine(settings.database_url))
    channel = fake.add_channel("inc-checkout")
    fake.add_channel("incidents")
    fake.add_user("oncall", id="U0ONCALL1")
    deps = deps or Deps(aws=AwsClients("us-east-1", max_attempts=1, endpoint_url="http://127.0.0.1:9"))
    extra: dict[str, Any] = {
        "investigations": lambda st, store, notifier, d: Recording(real_service(st, store, notifier, d))
    }
    surface = build_surface(
        settings,
        client=make_client(settings),
        deps=deps,
        store=store,
        **extra,
        sns_verifier=sns,
        subscribe_allowed=lambda url: url.startswith("http://127.0.0.1:"),
        flush_interval=flush_interval,
    )
    server = HttpServer(wsgi_app(surface.app, surface.intake)).start()
    sender = SlackEventSender(server.url + "/slack/events", SIGNING_SECRET, bot_user_id=fake.bot_user_id)
    try:
        yield Stack(fake, surface, server, sender, channel)
    finally:
        sender.close()
        server.stop()
        surface.settle()
        surface.close()


def all_investigations(s: Stack) -> list[Investigation]:
    """Every investigation the stack's store holds, running or finished, oldest first."""
    incidents = sorted(s.store.recent_incidents(1000), key=lambda i: i.id or 0)
    return [inv for inc in incidents for inv in s.store.investigations_of(inc.id or 0)]


def now_ts(offset: float = 0.0) -> str:
    """A Slack ts for now (plus `offset` seconds)."""
    return f"{(datetime.now(UTC) + timedelta(seconds=offset)).timestamp():.6f}"


# -- tests -------------------------------------------------------------------------------------------------------

import pytest  # noqa: E402

from bot.domain import PageSource  # noqa: E402
from bot.sandbox.fake_slack import wait_for  # noqa: E402
from bot.sandbox.pages import AlarmNotice, PdIncident, chatbot_alarm_message, pagerduty_app_message  # noqa: E402
from bot.storage.tables import Investigation, Verdict  # noqa: E402

T_PAGE = datetime.now(UTC).replace(microsecond=0)
NOTICE = AlarmNotice(
    alarm_name="checkout-5xx-high",
    metric_name="HTTPCode_Target_5XX_Count",
    namespace="AWS/ApplicationELB",
    state_change_time=T_PAGE,
    dimensions=(("LoadBalancer", "app/checkout/abc"),),
    threshold=10,
    value=42,
)
INCIDENT = PdIncident(
    number=4242, title="checkout: error rate above 5%", service_name="checkout", created_at=T_PAGE
)


def page_event(kind: str, channel: str, ts: str) -> dict[str, object]:
    """A page as Slack delivers it: `chatbot-modern`, `chatbot-classic`, `pagerduty-modern`, `pagerduty-classic`."""
    source, shape = kind.split("-")
    if source == "chatbot":
        return chatbot_alarm_message(NOTICE, channel, ts, shape=shape)  # type: ignore[arg-type]
    return pagerduty_app_message(INCIDENT, channel, ts, shape=shape)  # type: ignore[arg-type]


def inject_page(s: Stack, kind: str = "chatbot-modern", **opts: object) -> tuple[str, dict[str, object]]:
    """Put a page into the channel (as the other app would) and deliver its signed event; returns its ts."""
    event = page_event(kind, s.channel, now_ts())
    ts = s.fake.add_message(s.channel, event)
    d = s.sender.event(event, **opts)  # type: ignore[arg-type]
    assert d.status == 200, d.body
    return ts, event


@pytest.fixture
def s(fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")  # no credential lookups beyond loopback
    with stack(fake_slack, tmp_path) as running:
        yield running


@pytest.mark.parametrize(
    "kind", ["chatbot-modern", "chatbot-classic", "pagerduty-modern", "pagerduty-classic"]
)
def test_a_page_opens_an_investigation_in_its_thread(s: Stack, kind: str) -> None:
    ts, _ = inject_page(s, kind)
    assert wait_for(lambda: len(s.fake.replies(s.channel, ts)) >= 1, 15.0), "no reply"
    page = s.investigations.opened[0]
    assert (page.channel, page.message_ts) == (s.channel, ts)
    assert page.source.value == ("cloudwatch" if kind.startswith("chatbot") else "pagerduty")
    first = s.fake.replies(s.channel, ts)[0]
    assert first["text"].startswith(":mag: On it: looking at")
    # the report lands in the thread after the findings, which are grouped and all posted
    assert wait_for(lambda: any("Report:" in m["text"] for m in s.fake.replies(s.channel, ts)), 10.0)
    texts = [m["text"] for m in s.fake.replies(s.channel, ts)]
    findings_at = next(i for i, t in enumerate(texts) if "new finding" in t)
    report_at = next(i for i, t in enumerate(texts) if t.startswith("Report:"))
    assert findings_at < report_at
    batches = [int(t.split(" ", 1)[0]) for t in texts if " new finding" in t]
    inv_id = all_investigations(s)[0].id
    assert inv_id is not None
    stored = s.store.findings(inv_id)
    assert sum(batches) == len(stored) and len(batches) < len(stored), "findings are grouped, none lost"
    assert all(f.posted_ts for f in stored)


def test_status_message_is_posted_once_and_edited_in_place(s: Stack) -> None:
    inject_page(s)
    assert wait_for(lambda: len(s.fake.calls_to("chat.postMessage")) >= 2, 5.0)
    top = [c for c in s.fake.calls_to("chat.postMessage") if not c.params.get("thread_ts")]
    assert len(top) == 1 and ":mag: *Investigating*" in top[0].params["text"]
    assert wait_for(
        lambda: any("Investigating" not in c.params["text"] for c in s.fake.calls_to("chat.update")), 10.0
    )
    update = s.fake.calls_to("chat.update")[-1]
    assert update.params["ts"] == top[0].response["ts"]
    assert len([c for c in s.fake.calls_to("chat.postMessage") if not c.params.get("thread_ts")]) == 1
    incident = s.store.recent_incidents(1)[0]
    assert incident.status_message_ts == top[0].response["ts"]


def manual_ref(s: Stack, workflow_id: str) -> tuple[InvestigationRef, str]:
    """An investigation row with a thread of its own, to drive the notifier directly."""
    ts = s.fake.add_message(s.channel, {"user": "U0ONCALL1", "text": "page"})
    page = Page(
        source=PageSource.MANUAL, title=workflow_id, fired_at=T_PAGE, channel=s.channel, message_ts=ts
    )
    incident, _ = s.store.open_incident(page)
    assert incident.id is not None
    inv = s.store.start_investigation(incident.id, workflow_id)
    assert inv.id is not None
    return InvestigationRef(inv.id, incident.id, workflow_id, s.channel, ts), ts


def tell_findings(s: Stack, ref: InvestigationRef, evidence: list[Evidence]) -> None:
    for ev in evidence:
        row = s.store.add_finding(
            ref.investigation_id, kind=ev.kind.value, service=ev.service, summary=ev.summary
        )
        assert row.id is not None
        s.surface.notifier.finding(ref, row.id, ev)


def test_findings_are_escaped_and_redacted(s: Stack) -> None:
    ref, _ts = manual_ref(s, "wf-escape")
    tell_findings(s, ref, EVIDENCE)
    assert wait_for(lambda: s.store.unposted_findings(ref.investigation_id) == [], 5.0)
    wire = json.dumps([c.params for c in s.fake.calls_to("chat.postMessage")])
    assert "timeout talking to cache" in wire
    assert "AKIAABCDEFGHIJKLMNOP" not in wire and "[redacted]" in wire
    assert "<http://evil.example|click>" not in wire and "@channel" not in wire.replace("@\\u200dchannel", "")
    assert "<!channel>" not in wire


def test_own_messages_are_ignored(s: Stack) -> None:
    event = page_event("chatbot-modern", s.channel, now_ts())
    event.update({"bot_id": s.fake.bot_id, "user": s.fake.bot_user_id, "app_id": s.fake.app_id})
    assert s.sender.event(event).status == 200
    time.sleep(0.5)
    assert s.investigations.opened == []


def test_retries_and_duplicate_event_ids_open_one_investigation(s: Stack) -> None:
    event = page_event("pagerduty-modern", s.channel, now_ts())
    s.fake.add_message(s.channel, event)
    for retry in (None, 1, 2):
        assert s.sender.event(event, event_id="Ev0SAME", retry_num=retry).status == 200
    assert s.sender.event(event, event_id="Ev0SAME").status == 200
    assert wait_for(lambda: len(s.investigations.opened) >= 1, 3.0)
    time.sleep(0.5)
    assert len(s.investigations.opened) == 1
    # the same page under another event id joins the same incident
    assert s.sender.event(event, event_id="Ev0OTHER").status == 200
    assert wait_for(lambda: len(s.investigations.opened) == 2, 3.0)
    assert len(s.store.recent_incidents()) == 1
    assert len(all_investigations(s)) == 1


@pytest.mark.parametrize("forgery", [{"wrong_secret": True}, {"stale_seconds": 600}])
def test_forged_or_stale_requests_are_refused(s: Stack, forgery: dict[str, object]) -> None:
    event = page_event("chatbot-modern", s.channel, now_ts())
    s.fake.add_message(s.channel, event)
    assert s.sender.event(event, **forgery).status == 401  # type: ignore[arg-type]
    assert s.sender.command("/sre", "investigate checkout", **forgery).status == 401  # type: ignore[arg-type]
    time.sleep(0.5)
    assert s.investigations.opened == []
    assert s.fake.calls_to("chat.postMessage") == []


def test_url_verification(s: Stack) -> None:
    d = s.sender.url_verification("abc123")
    assert d.status == 200 and d.json()["challenge"] == "abc123"


def test_a_reply_in_the_thread_steers_the_investigation(s: Stack) -> None:
    ts, _ = inject_page(s)
    assert wait_for(lambda: "Report v1" in json.dumps(s.fake.replies(s.channel, ts)), 10.0)
    reply = {
        "type": "message",
        "channel": s.channel,
        "user": "U0ONCALL1",
        "text": "only look at the last 30 minutes",
        "ts": now_ts(1),
        "thread_ts": ts,
        "event_ts": now_ts(1),
        "channel_type": "channel",
    }
    s.fake.add_message(s.channel, reply)
    assert s.sender.event(reply).status == 200
    assert wait_for(lambda: len(s.investigations.steered) == 1, 3.0)
    ref, user, text = s.investigations.steered[0]
    assert (ref.channel, ref.thread_ts, user, text) == (
        s.channel,
        ts,
        "U0ONCALL1",
        "only look at the last 30 minutes",
    )
    # the workflow records it, says how the plan changed and re-issues the report as version 2
    assert wait_for(lambda: len(s.store.steering_messages(ref.investigation_id)) == 1, 10.0)
    assert wait_for(lambda: "Report v2" in json.dumps(s.fake.replies(s.channel, ts)), 10.0)


def test_a_reply_in_another_thread_is_not_steering(s: Stack) -> None:
    root = s.fake.add_message(s.channel, {"user": "U0ONCALL1", "text": "lunch?"})
    reply = {
        "type": "message",
        "channel": s.channel,
        "user": "U0ONCALL1",
        "text": "yes",
        "ts": now_ts(1),
        "thread_ts": root,
    }
    assert s.sender.event(reply).status == 200
    time.sleep(0.4)
    assert s.investigations.steered == []


def mention(s: Stack, text: str, thread_ts: str | None = None) -> str:
    ts = now_ts(2)
    event = {
        "type": "app_mention",
        "channel": s.channel,
        "user": "U0ONCALL1",
        "text": f"<@{s.fake.bot_user_id}> {text}",
        "ts": ts,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    s.fake.add_message(s.channel, event)
    assert s.sender.event(event).status == 200
    return ts


def test_questions_it_cannot_answer_say_so(s: Stack) -> None:
    ts = mention(s, "what is the meaning of life?")
    assert wait_for(lambda: len(s.fake.replies(s.channel, ts)) == 1, 10.0)
    text = s.fake.replies(s.channel, ts)[0]["text"]
    assert "can't answer that yet" in text and "what changed for" in text


def test_open_investigations_question(s: Stack) -> None:
    inject_page(s)
    assert wait_for(lambda: len(all_investigations(s)) == 1, 3.0)
    ts = mention(s, "open investigations?")
    assert wait_for(lambda: len(s.fake.replies(s.channel, ts)) == 1, 5.0)
    text = s.fake.replies(s.channel, ts)[0]["text"]
    assert "1 open investigation" in text and "checkout-5xx-high" in text


def test_investigate_by_mention_starts_one_in_that_thread(s: Stack) -> None:
    ts = mention(s, "investigate checkout")
    assert wait_for(lambda: len(s.investigations.opened) == 1, 10.0)
    page = s.investigations.opened[0]
    assert page.source.value == "manual" and page.service_hint == "checkout"
    assert (page.channel, page.message_ts) == (s.channel, ts)
    assert wait_for(lambda: s.store.audit_log("manual:checkout"), 3.0)


def test_slash_command_help_and_status_and_investigate(s: Stack) -> None:
    hook = s.fake.base_url + "/webhook/cmd1"
    d = s.sender.command("/sre", "help", channel_id=s.channel, response_url=hook)
    assert d.status == 200 and "/sre investigate" in d.body and d.elapsed < 3.0
    d = s.sender.command("/sre", "status", channel_id=s.channel, response_url=hook)
    assert d.status == 200 and d.elapsed < 3.0
    assert wait_for(lambda: len(s.fake.webhooks.get("cmd1", [])) == 1, 3.0)
    assert "No open investigations" in s.fake.webhooks["cmd1"][0]["text"]
    d = s.sender.command("/sre", "investigate checkout-5xx-high", channel_id=s.channel, response_url=hook)
    assert d.status == 200 and d.elapsed < 3.0
    assert wait_for(lambda: len(s.investigations.opened) == 1, 10.0)
    page = s.investigations.opened[0]
    top = s.fake.message(s.channel, page.message_ts or "")
    assert top is not None and "Investigating" in top["text"] and "<@U0ONCALL1>" in top["text"]
    assert wait_for(lambda: len(s.fake.webhooks.get("cmd1", [])) == 2, 3.0)


def _report_buttons(s: Stack, ts: str) -> dict[str, dict[str, object]]:
    assert wait_for(lambda: "Report v1" in json.dumps(s.fake.replies(s.channel, ts)), 10.0)
    ref = s.investigations.find_by_thread(s.channel, ts)
    assert ref is not None
    page = Page(source=PageSource.MANUAL, title="checkout errors", fired_at=T_PAGE)
    s.surface.notifier.report(ref, report(page, version=9))  # a report whose plan has an executable step
    assert wait_for(lambda: any(m["text"].startswith("Report:") for m in s.fake.replies(s.channel, ts)), 5.0)
    out: dict[str, dict[str, object]] = {}
    for m in s.fake.replies(s.channel, ts):
        for b in m.get("blocks") or []:
            for el in b.get("elements", []) if b.get("type") == "actions" else []:
                out[el["action_id"]] = {"message": m, "value": el["value"]}
    return out


def _click(s: Stack, action_id: str, found: dict[str, object], ts: str) -> None:
    message = found["message"]
    assert isinstance(message, dict)
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ONCALL1", "username": "oncall"},
        "api_app_id": "A0SREBOT",
        "team": {"id": "T0SANDBOX"},
        "channel": {"id": s.channel},
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": s.channel},
        "message": {**message, "thread_ts": ts},
        "trigger_id": "1.2.trigger",
        "response_url": s.fake.base_url + "/webhook/act",
        "actions": [{"action_id": action_id, "block_id": "b", "type": "button", "value": found["value"]}],
    }
    d = s.sender.interaction(payload)
    assert d.status == 200 and d.elapsed < 3.0


def test_feedback_buttons_and_modal(s: Stack) -> None:
    ts, _ = inject_page(s)
    buttons = _report_buttons(s, ts)
    inv_id = all_investigations(s)[0].id
    assert inv_id is not None
    _click(s, "feedback_up", buttons["feedback_up"], ts)
    assert wait_for(lambda: len(s.store.feedback_for(inv_id)) == 1, 3.0)
    assert s.store.feedback_for(inv_id)[0].verdict == Verdict.UP.value
    assert wait_for(lambda: len(s.fake.ephemerals) == 1, 3.0)
    _click(s, "feedback_down", buttons["feedback_down"], ts)
    assert wait_for(lambda: len(s.fake.calls_to("views.open")) == 1, 3.0)
    view = s.fake.calls_to("views.open")[0].params["view"]
    assert view["callback_id"] == "feedback_modal" and view["private_metadata"] == str(inv_id)
    submission = {
        "type": "view_submission",
        "user": {"id": "U0ONCALL1"},
        "team": {"id": "T0SANDBOX"},
        "api_app_id": "A0SREBOT",
        "view": {
            **view,
            "id": "V1",
            "state": {
                "values": {
                    "actual_cause": {
                        "actual_cause_input": {"type": "plain_text_input", "value": "the pool size"}
                    }
                }
            },
        },
    }
    d = s.sender.interaction(submission)
    assert d.status == 200
    assert wait_for(lambda: len(s.store.feedback_for(inv_id)) == 2, 3.0)
    down = s.store.feedback_for(inv_id)[1]
    assert (down.verdict, down.note) == (Verdict.DOWN.value, "the pool size")

    # the audit entry is written just after the feedback row: wait for it rather than race it
    def verbs() -> list[str]:
        return [a.verb for a in s.store.audit_log(f"investigation:{inv_id}")]

    assert wait_for(lambda: len(verbs()) == 2, 3.0), verbs()
    assert verbs() == ["feedback:up", "feedback:down"]


def test_a_step_the_plan_does_not_fully_name_is_refused_with_its_manual_steps(s: Stack) -> None:
    """The stored plan's step lacks the cluster and task definition: nothing runs, the thread gets the manual
    steps, and each click is audited (test_mitigation_slack runs the steps that can run)."""
    ts, _ = inject_page(s)
    buttons = _report_buttons(s, ts)
    inv_id = all_investigations(s)[0].id
    assert inv_id is not None
    page = Page(source=PageSource.MANUAL, title="checkout errors", fired_at=T_PAGE)
    s.store.save_report(
        inv_id, 9, report(page, version=9).model_dump(mode="json")
    )  # the plan that was posted
    _click(s, "plan_approve", buttons["plan_approve"], ts)
    assert wait_for(
        lambda: any("I will not run this" in m["text"] for m in s.fake.replies(s.channel, ts)), 5.0
    )
    text = next(m["text"] for m in s.fake.replies(s.channel, ts) if "I will not run this" in m["text"])
    assert "cluster, task_definition" in text and "Roll back checkout." in text
    assert s.store.actions(inv_id) == []
    _click(s, "plan_reject", buttons["plan_reject"], ts)

    def verbs() -> list[str]:
        return [a.verb for a in s.store.audit_log() if a.subject.startswith(f"investigation:{inv_id}:step")]

    assert wait_for(lambda: len(verbs()) == 2, 5.0)
    assert verbs() == ["refuse-outside-catalogue", "refuse-outside-catalogue"]


def test_joins_new_incident_channels_only(s: Stack) -> None:
    inc = s.fake.add_channel("inc-db-down", bot_is_member=False)
    other = s.fake.add_channel("random-chat", bot_is_member=False)
    for cid, name in ((inc, "inc-db-down"), (other, "random-chat")):
        ev = {
            "type": "channel_created",
            "channel": {"id": cid, "name": name, "created": 1, "creator": "U0ONCALL1"},
            "event_ts": now_ts(),
        }
        assert s.sender.event(ev).status == 200
    assert wait_for(lambda: len(s.fake.calls_to("conversations.join")) == 1, 3.0)
    time.sleep(0.3)
    assert [c.params["channel"] for c in s.fake.calls_to("conversations.join")] == [inc]
    invited = {
        "type": "member_joined_channel",
        "user": s.fake.bot_user_id,
        "channel": other,
        "event_ts": now_ts(),
    }
    assert s.sender.event(invited).status == 200


def test_app_home_lists_open_investigations(s: Stack) -> None:
    inject_page(s)
    assert wait_for(lambda: len(all_investigations(s)) == 1, 3.0)
    ev = {
        "type": "app_home_opened",
        "user": "U0ONCALL1",
        "channel": "D0HOME",
        "tab": "home",
        "event_ts": now_ts(),
    }
    assert s.sender.event(ev).status == 200
    assert wait_for(lambda: len(s.fake.calls_to("views.publish")) == 1, 3.0)
    view = s.fake.home_views["U0ONCALL1"]
    wire = json.dumps(view)
    assert "Open investigations (1)" in wire and "checkout-5xx-high" in wire


def test_a_rate_limited_finding_is_posted_later(s: Stack) -> None:
    ref, ts = manual_ref(s, "wf-429")
    row = s.store.add_finding(ref.investigation_id, kind="log", service="checkout", summary="pool exhausted")
    assert row.id is not None
    # the client's own try and its two retries are all refused: that flush fails and the finding stays queued
    s.fake.fail_next("chat.postMessage", status=429, retry_after=0, times=3)
    s.surface.notifier.finding(ref, row.id, EVIDENCE[0])
    assert wait_for(lambda: s.store.unposted_findings(ref.investigation_id) == [], 10.0)
    calls = s.fake.calls_to("chat.postMessage")
    assert [c.status for c in calls] == [429, 429, 429, 200]
    assert s.store.findings(ref.investigation_id)[0].posted_ts == calls[-1].response["ts"]
    assert len(s.fake.replies(s.channel, ts)) == 1


def test_findings_left_unposted_in_the_store_are_posted_too(s: Stack) -> None:
    ref, ts = manual_ref(s, "wf-restart")
    older = s.store.add_finding(
        ref.investigation_id, kind="metric", service="checkout", summary="stored before a restart"
    )
    newer = s.store.add_finding(
        ref.investigation_id, kind="log", service="checkout", summary="pool exhausted"
    )
    assert older.id is not None and newer.id is not None
    s.surface.notifier.finding(ref, newer.id, EVIDENCE[0])
    assert wait_for(lambda: s.store.unposted_findings(ref.investigation_id) == [], 5.0)
    assert "2 new findings" in s.fake.replies(s.channel, ts)[0]["text"]


def test_the_chart_is_drawn_from_the_report_with_its_guilty_change(s: Stack) -> None:
    ref, ts = manual_ref(s, "wf-chart")
    change = Change(
        id="deploy:acme/checkout:abc1234",
        at=T_PAGE - timedelta(minutes=6),
        via=ChangeVia.GITHUB_ACTIONS,
        summary="deploy abc1234 of checkout",
        source=ChangeSource.GITHUB,
        repo="acme/checkout",
        commit="abc1234",
    )
    points = tuple((T_PAGE - timedelta(minutes=60 - i), 40.0 if i > 55 else 1.0) for i in range(60))
    chart = ChartSeries(title="checkout-5xx-high", points=points, threshold=10.0, onset=T_PAGE)
    timeline = (
        TimelineEntry(at=change.at, text="deploy abc1234 of checkout", change_id=change.id),
        TimelineEntry(at=T_PAGE, text="checkout 5xx above 10"),
    )
    page = Page(source=PageSource.MANUAL, title="checkout errors", fired_at=T_PAGE)
    with_chart = report(page).model_copy(
        update={"chart": chart, "guilty_change": change, "timeline": timeline}
    )
    s.surface.notifier.report(ref, with_chart)
    # drawn from the report alone: the AWS endpoint of this stack answers nothing, and the chart still comes
    assert wait_for(lambda: bool(s.fake.calls_to("files.completeUploadExternal")), 10.0)
    upload = s.fake.calls_to("files.completeUploadExternal")[0].params
    assert upload["thread_ts"] == ts and "threshold dotted" in upload["initial_comment"]
    wire = json.dumps([m.get("blocks") for m in s.fake.replies(s.channel, ts)])
    assert "Change: <https://github.com/acme/checkout/commit/abc1234|deploy abc1234 of checkout>" in wire
    assert "` :warning: deploy abc1234 of checkout" in wire  # the guilty change's timeline line is marked
    assert "` :warning: checkout 5xx" not in wire


def _error_id_logged(caplog: pytest.LogCaptureFixture, text: str) -> str:
    """The error id a reply quotes, checked against the log line that carries it."""
    m = re.search(r"\(error ([0-9a-f]{8})\)", text)
    assert m, text
    assert any(m.group(1) in r.getMessage() and r.exc_info for r in caplog.records), "no log line has the id"
    return m.group(1)


def test_a_failed_answer_tells_the_thread_its_error_id(s: Stack, caplog: pytest.LogCaptureFixture) -> None:
    s.fake.fail_next("chat.postMessage", error="internal_error")
    with caplog.at_level(logging.ERROR, logger="bot.slack"):
        ts = mention(s, "open investigations?")
        assert wait_for(lambda: len(s.fake.replies(s.channel, ts)) == 1, 5.0)
    text = s.fake.replies(s.channel, ts)[0]["text"]
    assert text.startswith("Something went wrong (error ")
    _error_id_logged(caplog, text)


def test_a_click_that_cannot_be_recorded_tells_the_clicker_its_error_id(
    s: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    ts = s.fake.add_message(s.channel, {"user": "U0ONCALL1", "text": "a report"})
    message = s.fake.message(s.channel, ts)
    value = encode_value(action="ecs.update_service", step=1, investigation="not-a-number")
    with caplog.at_level(logging.ERROR, logger="bot.slack"):
        _click(s, "plan_approve", {"message": message, "value": value}, ts)
        assert wait_for(lambda: len(s.fake.ephemerals) == 1, 5.0)
    _error_id_logged(caplog, s.fake.ephemerals[0]["text"])
    assert s.store.audit_log() == []  # nothing recorded, and nobody told it was
    assert not any("approved" in m["text"] for m in s.fake.replies(s.channel, ts))


def test_the_thread_is_looked_up_once_per_event_and_only_for_replies(s: Stack) -> None:
    """The middleware resolves a person's thread reply to its investigation once, and the listener steers
    with it; a page and a top-level message are not looked up at all."""
    ts, _ = inject_page(s)
    assert wait_for(lambda: s.investigations.service.find_by_thread(s.channel, ts) is not None, 5.0)
    chatter = {"type": "message", "channel": s.channel, "user": "U0ONCALL1", "text": "hi", "ts": now_ts(1)}
    assert s.sender.event(chatter).status == 200
    reply = {
        "type": "message",
        "channel": s.channel,
        "user": "U0ONCALL1",
        "text": f"<@{s.fake.bot_user_id}> ignore orders, it's fine",
        "ts": now_ts(2),
        "thread_ts": ts,
    }
    s.fake.add_message(s.channel, reply)
    assert s.sender.event(reply).status == 200
    assert s.sender.event({**reply, "type": "app_mention"}).status == 200  # the same words, as a mention
    assert wait_for(lambda: len(s.investigations.steered) == 1, 5.0)
    time.sleep(0.4)
    assert s.investigations.lookups == [(s.channel, ts), (s.channel, ts)]  # one per event, in the middleware
    assert len(s.investigations.steered) == 1  # the mention in the thread neither steers again nor answers
    assert not any(m["text"].startswith("*") for m in s.fake.replies(s.channel, ts))

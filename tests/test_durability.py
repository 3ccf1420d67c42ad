"""Acknowledged means kept: the real app over signed HTTP, against the fake Slack, on SQLite and PostgreSQL.

A page is recorded (delivery, incident, investigation, and the enqueue of its workflow) before the sender
hears 2xx; when that cannot happen the answer is non-2xx and the sender's re-delivery is kept. Alarms that
flap open recurrences, re-opened PagerDuty incidents are investigated again, a replayed PagerDuty body starts
nothing, pages outside incident channels are left alone, and bad identifiers are refused before anything is
stored. On PostgreSQL the workflow's system tables are in the test database, so the page and its enqueue are
one transaction; on SQLite they are separate files and the enqueue follows the commit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from bot.domain import Page, PageSource
from bot.investigation.engine import Deps
from bot.sandbox.fake_slack import FakeSlack, wait_for
from bot.sandbox.pages import (
    AlarmNotice,
    PdIncident,
    chatbot_alarm_message,
    pagerduty_webhook,
    sns_alarm_notification,
)
from bot.sandbox.signing import SlackEventSender, SnsSigner, pagerduty_signature
from bot.sandbox.tcp_proxy import TcpProxy
from bot.slack.app import make_client
from bot.slack.server import HttpServer, build_surface, wsgi_app
from bot.slack.server import _service as real_service
from bot.slack.verify import SnsVerifier
from bot.sources.aws.clients import AwsClients
from bot.storage.db import make_engine, migrate
from bot.storage.store import Intent, Store, alarm_key
from bot.storage.tables import InboundDelivery, Incident, Investigation
from tests.fixtures_db import _connect
from tests.test_slack_app import PD_SECRET, SIGNING_SECRET, TOPIC, Recording, Stack, settings_for


@pytest.fixture
def durable_url(db_url: str) -> str:
    """An empty database; on PostgreSQL DBOS's schema is dropped too (its system tables live beside ours)."""
    if make_url(db_url).get_backend_name() == "postgresql":
        with _connect(db_url) as conn:
            conn.execute("DROP SCHEMA IF EXISTS dbos CASCADE")
    return db_url


@contextmanager
def durable_stack(
    fake: FakeSlack, tmp: Path, db_url: str, *, app_db_url: str | None = None, sns: SnsVerifier | None = None
) -> Iterator[Stack]:
    """The Slack surface on loopback as `sre-bot serve` wires it, on `db_url` (the app may reach it through
    `app_db_url`, a proxy), with an incident channel, the page channel and #random."""
    url = app_db_url or db_url
    settings = settings_for(fake, tmp / "bot.sqlite").model_copy(update={"database_url": url})
    migrate(url)
    store = Store(make_engine(url))
    channel = fake.add_channel("inc-checkout")
    fake.add_channel("incidents")
    fake.add_channel("random")
    fake.add_user("oncall", id="U0ONCALL1")
    deps = Deps(aws=AwsClients("us-east-1", max_attempts=1, endpoint_url="http://127.0.0.1:9"))
    surface = build_surface(
        settings,
        client=make_client(settings),
        deps=deps,
        store=store,
        investigations=lambda st, store, notifier, d: Recording(real_service(st, store, notifier, d)),
        sns_verifier=sns,
        subscribe_allowed=lambda u: u.startswith("http://127.0.0.1:"),
        flush_interval=0.3,
    )
    server = HttpServer(wsgi_app(surface.app, surface.intake)).start()
    sender = SlackEventSender(server.url + "/slack/events", SIGNING_SECRET, bot_user_id=fake.bot_user_id)
    try:
        yield Stack(fake, surface, server, sender, channel)
    finally:
        sender.close()
        server.stop()
        surface.settle(30)
        surface.close()
        store.engine.dispose()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")  # no credential lookups beyond loopback


def now_ts(offset: float = 0.0) -> str:
    return f"{(datetime.now(UTC) + timedelta(seconds=offset)).timestamp():.6f}"


def notice(alarm: str, state: str = "ALARM") -> AlarmNotice:
    return AlarmNotice(
        alarm_name=alarm,
        metric_name="HTTPCode_Target_5XX_Count",
        namespace="AWS/ApplicationELB",
        state_change_time=datetime.now(UTC),
        new_state=state,
        old_state="OK" if state == "ALARM" else "ALARM",
        threshold=10,
        value=42,
    )


def post_alarm(s: Stack, alarm: str, state: str = "ALARM", *, channel: str | None = None, **opts: Any) -> str:
    """AWS Chatbot posts `alarm` in `state` into the channel; its event is delivered; returns the message ts."""
    event = chatbot_alarm_message(notice(alarm, state), channel or s.channel, now_ts())
    ts = s.fake.add_message(channel or s.channel, event)
    d = s.sender.event(event, **opts)
    assert d.status == 200, d.body
    return ts


def rows(s: Stack, model: type[Any]) -> list[Any]:
    with Session(s.store.engine) as session:
        return list(session.exec(select(model).order_by(model.id)).all())


def started_in(s: Stack, channel: str, ts: str) -> list[str]:
    """The "On it" replies in a thread."""
    return [m["text"] for m in s.fake.replies(channel, ts) if m["text"].startswith(":mag: On it")]


# -- store before acknowledging ----------------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_database_down_answers_non_2xx_and_the_redelivery_is_kept(
    fake_slack: FakeSlack, tmp_path: Path, durable_url: str, aws_env: None
) -> None:
    url = make_url(durable_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        with durable_stack(fake_slack, tmp_path, durable_url, app_db_url=through) as s:
            before = post_alarm(s, "checkout-5xx-high")
            event = chatbot_alarm_message(notice("orders-5xx-high"), s.channel, now_ts(1))
            during = s.fake.add_message(s.channel, event)
            body, headers = pagerduty_webhook(
                PdIncident(number=9, title="db: gone", service_name="db", created_at=datetime.now(UTC)),
                PD_SECRET,
            )
            proxy.cut()
            started = time.monotonic()
            d = s.sender.event(event, event_id="EvDURINGOUTAGE")
            assert d.status >= 500, d.body  # not acknowledged: Slack delivers it again
            assert s.post("/webhooks/pagerduty", body, headers)[0] == 503
            # A hang guard, not a speed target (the refusal's speed is measured by scripts/chaos.py).
            assert time.monotonic() - started < 15.0, "a refusal must come, not hang"
            proxy.restore()
            assert s.sender.event(event, event_id="EvDURINGOUTAGE", retry_num=1).status == 200
            assert s.post("/webhooks/pagerduty", body, headers)[0] == 202
            # The page acknowledged before the outage may have had its first steps cut by it: it is kept and
            # started once the database is back, on the workflow's own retries (the waits are hang guards).
            assert wait_for(lambda: bool(started_in(s, s.channel, during)), 60.0)
            assert wait_for(lambda: bool(started_in(s, s.channel, before)), 60.0)
            s.surface.settle(60)
            names = sorted(i.page.get("alarm_name") or i.title for i in rows(s, Incident))
            assert names == ["checkout-5xx-high", "db: gone", "orders-5xx-high"]
            assert len(rows(s, Investigation)) == 3
            assert all(inv.status == "done" for inv in rows(s, Investigation))


def test_a_crash_between_recording_and_enqueue_is_finished_at_start(
    fake_slack: FakeSlack, tmp_path: Path, durable_url: str, aws_env: None
) -> None:
    # What a process killed after its commit and before its enqueue leaves (separate system database), and
    # what crashes before 0004 left: an incident with no investigation at all.
    migrate(durable_url)
    store = Store(make_engine(durable_url))
    channel = fake_slack.add_channel("inc-checkout")
    event = chatbot_alarm_message(notice("checkout-5xx-high"), channel, now_ts())
    ts = fake_slack.add_message(channel, event)
    half = Page(
        source=PageSource.CLOUDWATCH,
        title="ALARM: checkout-5xx-high",
        alarm_name="checkout-5xx-high",
        state="ALARM",
        fired_at=datetime.now(UTC),
        channel=channel,
        message_ts=ts,
    )
    taken = store.take_page(half, Intent.FIRE, "slack", "EvCRASHED")
    assert taken.investigation is not None and taken.investigation.status == "running"
    orphan_ts = fake_slack.add_message(channel, chatbot_alarm_message(notice("orders-5xx-high"), channel))
    orphan, _ = store.open_incident(
        half.model_copy(
            update={
                "alarm_name": "orders-5xx-high",
                "title": "ALARM: orders-5xx-high",
                "message_ts": orphan_ts,
            }
        )
    )
    store.engine.dispose()
    with durable_stack(fake_slack, tmp_path, durable_url) as s:
        # the process starts, finds both, and finishes them: each thread hears, each is investigated
        assert wait_for(
            lambda: bool(started_in(s, channel, ts)) and bool(started_in(s, channel, orphan_ts)), 10
        )
        s.surface.settle(60)
        assert [inv.status for inv in rows(s, Investigation)] == ["done", "done"]
        # Slack re-delivers the event whose answer was lost: nothing new
        d = s.sender.event(event, event_id="EvCRASHED", retry_num=1)
        assert d.status == 200
        time.sleep(0.5)
        assert len(rows(s, Incident)) == 2 and len(rows(s, Investigation)) == 2
        assert len(started_in(s, channel, ts)) == 1
        assert orphan.id in {inv.incident_id for inv in rows(s, Investigation)}


# -- incidents that match how alarms behave ------------------------------------------------------------------------


def test_an_alarm_that_fires_again_after_ok_is_a_recurrence(
    fake_slack: FakeSlack, tmp_path: Path, durable_url: str, aws_env: None
) -> None:
    with durable_stack(fake_slack, tmp_path, durable_url) as s:
        first = post_alarm(s, "checkout-5xx-high")
        repeat = post_alarm(s, "checkout-5xx-high")  # still firing: joins
        post_alarm(s, "checkout-5xx-high", "OK")
        second = post_alarm(s, "checkout-5xx-high")  # the same hour, after OK: a new investigation
        assert wait_for(lambda: bool(started_in(s, s.channel, second)), 10.0)
        s.surface.settle(60)
        incidents = rows(s, Incident)
        assert len(incidents) == 2
        assert incidents[0].status == "resolved" and incidents[1].status == "open"
        assert incidents[1].recurrence_of == incidents[0].id
        assert incidents[0].alarm_key == incidents[1].alarm_key
        invs = rows(s, Investigation)
        assert [inv.incident_id for inv in invs] == [incidents[0].id, incidents[1].id]
        assert all(inv.status == "done" for inv in invs)
        assert len(started_in(s, s.channel, first)) == 1 and started_in(s, s.channel, repeat) == []
        assert "fired again after its earlier incident was resolved" in started_in(s, s.channel, second)[0]


@pytest.fixture
def sns_verifier(sns_signer: SnsSigner) -> SnsVerifier:
    return SnsVerifier(lambda url: url.startswith(sns_signer.server.base_url), topic_allowlist=[TOPIC])


def test_a_reopened_pagerduty_incident_is_investigated_again(
    fake_slack: FakeSlack, tmp_path: Path, durable_url: str, aws_env: None
) -> None:
    incident = PdIncident(
        number=77, title="orders: p99 latency high", service_name="orders", created_at=datetime.now(UTC)
    )
    with durable_stack(fake_slack, tmp_path, durable_url) as s:
        sent: dict[str, tuple[bytes, dict[str, str]]] = {}
        for n, kind in enumerate(("triggered", "resolved", "reopened")):
            sent[kind] = pagerduty_webhook(
                incident, PD_SECRET, f"incident.{kind}", occurred_at=datetime.now(UTC) + timedelta(seconds=n)
            )
            status, answer = s.post("/webhooks/pagerduty", *sent[kind])
            assert status == 202 and json.loads(answer)["status"] == "accepted", answer
            if kind == "triggered":
                assert wait_for(lambda: len(rows(s, Investigation)) == 1, 5.0)
                s.surface.settle(60)
        s.surface.settle(60)
        [row] = rows(s, Incident)
        assert row.status == "open"
        invs = rows(s, Investigation)
        assert len(invs) == 2 and invs[1].workflow_id == invs[0].workflow_id + "-2"
        assert all(inv.status == "done" for inv in invs)
        posted = [m for m in s.fake.messages("incidents") if m["text"].startswith(":rotating_light:")]
        assert len(posted) == 1 and row.thread_ts == posted[0]["ts"]  # one page, one thread
        on_it = started_in(s, "incidents", posted[0]["ts"])
        assert len(on_it) == 2 and "re-opened" in on_it[1]
        reports = [m for m in s.fake.replies("incidents", posted[0]["ts"]) if m["text"].startswith("Report")]
        assert len(reports) == 2


def test_a_replayed_pagerduty_body_starts_nothing(
    fake_slack: FakeSlack, tmp_path: Path, durable_url: str, aws_env: None
) -> None:
    incident = PdIncident(number=5, title="api: errors", service_name="api", created_at=datetime.now(UTC))
    with durable_stack(fake_slack, tmp_path, durable_url) as s:
        body, headers = pagerduty_webhook(incident, PD_SECRET)
        assert s.post("/webhooks/pagerduty", body, headers)[0] == 202
        resolved = pagerduty_webhook(incident, PD_SECRET, "incident.resolved", occurred_at=datetime.now(UTC))
        assert s.post("/webhooks/pagerduty", *resolved)[0] == 202
        s.surface.settle(60)
        # the captured trigger, replayed with a new X-Webhook-Id (a header the signature does not cover)
        status, answer = s.post("/webhooks/pagerduty", body, {**headers, "X-Webhook-Id": "replayed-0001"})
        assert status == 202 and json.loads(answer)["status"] == "duplicate"
        # a trigger re-signed under a new event id for the resolved incident is stale: nothing either
        forged = json.loads(body)
        forged["event"]["id"] = "01FRESHEVENTID"
        raw = json.dumps(forged).encode()
        signed = {**headers, "X-PagerDuty-Signature": pagerduty_signature(PD_SECRET, raw)}
        status, answer = s.post("/webhooks/pagerduty", raw, signed)
        assert status == 202 and json.loads(answer)["outcome"] == "ignored"
        time.sleep(0.5)
        s.surface.settle(30)
        assert len(rows(s, Incident)) == 1 and len(rows(s, Investigation)) == 1
        assert rows(s, Incident)[0].status == "resolved"
        posted = [m for m in s.fake.messages("incidents") if m["text"].startswith(":rotating_light:")]
        assert len(posted) == 1


# -- only incident channels ---------------------------------------------------------------------------------------


def test_pages_outside_incident_channels_are_left_alone_unless_asked(
    fake_slack: FakeSlack, tmp_path: Path, durable_url: str, aws_env: None
) -> None:
    with durable_stack(fake_slack, tmp_path, durable_url) as s:
        random = s.fake.channel_id("random")
        ts = post_alarm(s, "checkout-5xx-high", channel=random)
        time.sleep(1.0)
        assert rows(s, Incident) == [] and s.fake.replies(random, ts) == []
        assert s.fake.calls_to("chat.postMessage") == []
        # a mention there gets one line on how to use the bot
        mention = {
            "type": "app_mention",
            "channel": random,
            "user": "U0ONCALL1",
            "text": f"<@{s.fake.bot_user_id}> what changed for checkout?",
            "ts": now_ts(1),
        }
        s.fake.add_message(random, mention)
        assert s.sender.event(mention).status == 200
        assert wait_for(lambda: len(s.fake.replies(random, mention["ts"])) == 1, 5.0)
        line = s.fake.replies(random, mention["ts"])[0]["text"]
        assert line.startswith("I investigate pages in incident channels") and "\n" not in line
        # someone asks in the page's thread: now it is investigated
        ask = {**mention, "text": f"<@{s.fake.bot_user_id}> investigate", "ts": now_ts(2), "thread_ts": ts}
        s.fake.add_message(random, ask)
        assert s.sender.event(ask).status == 200
        assert wait_for(lambda: bool(started_in(s, random, ts)), 10.0)
        s.surface.settle(60)
        [incident] = rows(s, Incident)
        assert (incident.channel, incident.thread_ts) == (random, ts)


# -- bad input is refused, never half-stored ------------------------------------------------------------------------


def test_bad_identifiers_are_refused_and_nothing_is_half_stored(
    fake_slack: FakeSlack, tmp_path: Path, durable_url: str, aws_env: None, sns_signer: SnsSigner
) -> None:
    verifier = SnsVerifier(lambda url: url.startswith(sns_signer.server.base_url), topic_allowlist=[TOPIC])
    with durable_stack(fake_slack, tmp_path, durable_url, sns=verifier) as s:
        event = chatbot_alarm_message(notice("checkout-5xx-high"), s.channel, now_ts())
        s.fake.add_message(s.channel, event)
        for bad, why in (("Ev" + "X" * 200, "longer than 128"), ("Ev\x00NUL", "control characters")):
            d = s.sender.event(event, event_id=bad)
            assert d.status == 400 and "event_id" in d.body and why in d.body, d.body
        pd = PdIncident(number=1, title="x", service_name="x", created_at=datetime.now(UTC))
        body, headers = pagerduty_webhook(pd, PD_SECRET)
        status, answer = s.post("/webhooks/pagerduty", body, {**headers, "X-Webhook-Id": "w" * 300})
        assert status == 400 and "X-Webhook-Id is longer than 128" in answer
        nul = json.loads(body)
        nul["event"]["id"] = "evt\x00nul"
        raw = json.dumps(nul).encode()
        status, answer = s.post(
            "/webhooks/pagerduty",
            raw,
            {**headers, "X-PagerDuty-Signature": pagerduty_signature(PD_SECRET, raw)},
        )
        assert status == 400 and "event.id contains control characters" in answer
        sns_body, sns_headers = sns_alarm_notification(
            notice("orders-5xx-high"), TOPIC, sns_signer, timestamp=datetime.now(UTC)
        )
        message = json.loads(sns_body)
        message["MessageId"] = "m" * 200
        signed = sns_signer.sign_message(message)
        sns_headers = {
            k: (signed["MessageId"] if k.lower() == "x-amz-sns-message-id" else v)
            for k, v in sns_headers.items()
        }
        status, answer = s.post("/webhooks/sns", json.dumps(signed).encode(), sns_headers)
        assert status == 400 and "MessageId is longer than 128" in answer
        time.sleep(0.5)
        assert rows(s, Incident) == [] and rows(s, InboundDelivery) == []
        # a NUL in a page's text is no reason to lose it: stored without it
        titled = chatbot_alarm_message(notice("pay\x00ments-5xx"), s.channel, now_ts(1))
        ts = s.fake.add_message(s.channel, titled)
        assert s.sender.event(titled).status == 200
        [incident] = rows(s, Incident)
        assert "\x00" not in incident.title and "payments-5xx" in incident.title
        assert incident.alarm_key == alarm_key(Page.model_validate(incident.page))
        assert wait_for(lambda: bool(started_in(s, s.channel, ts)), 10.0)
        s.surface.settle(60)


def test_a_slack_page_and_its_redeliveries_make_one_incident(
    fake_slack: FakeSlack, tmp_path: Path, durable_url: str, aws_env: None
) -> None:
    with durable_stack(fake_slack, tmp_path, durable_url) as s:
        event = chatbot_alarm_message(notice("checkout-5xx-high"), s.channel, now_ts())
        ts = s.fake.add_message(s.channel, event)
        for retry in (None, 1, 2):
            assert s.sender.event(event, event_id="EvONCE", retry_num=retry).status == 200
        assert s.sender.event(event, event_id="EvTWICE").status == 200  # the same page, another event id
        with Session(s.store.engine) as session:
            outcomes = session.exec(sa.select(InboundDelivery.delivery_id, InboundDelivery.outcome)).all()
        assert sorted(outcomes) == [("EvONCE", "new"), ("EvTWICE", "joined")]
        assert wait_for(lambda: bool(started_in(s, s.channel, ts)), 10.0)
        s.surface.settle(60)
        assert len(rows(s, Incident)) == 1 and len(rows(s, Investigation)) == 1
        assert len(started_in(s, s.channel, ts)) == 1


def test_deliveries_of_one_page_racing_make_one_incident(store: Store) -> None:
    """Slack delivering a page twice at once (two subscriptions, two event ids): one incident, one investigation."""
    import threading

    page = Page(
        source=PageSource.CLOUDWATCH,
        title="ALARM: checkout-5xx-high",
        alarm_name="checkout-5xx-high",
        state="ALARM",
        fired_at=datetime.now(UTC),
    )
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def deliver(i: int) -> None:
        barrier.wait()
        outcomes.append(store.take_page(page, Intent.FIRE, "slack", f"EvRACE{i}").outcome.value)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["joined"] * 7 + ["new"]
    [incident] = store.recent_incidents()
    assert incident.id is not None and len(store.investigations_of(incident.id)) == 1


def test_edits_of_a_page_count_only_when_they_change_its_state(
    fake_slack: FakeSlack, tmp_path: Path, durable_url: str, aws_env: None
) -> None:
    from bot.sandbox.pages import pagerduty_app_message

    with durable_stack(fake_slack, tmp_path, durable_url) as s:
        alarm = chatbot_alarm_message(notice("checkout-5xx-high"), s.channel, now_ts())
        ts = s.fake.add_message(s.channel, alarm)
        assert s.sender.event(alarm).status == 200
        post_alarm(s, "checkout-5xx-high", "OK")
        # Slack edits the page when replies come (hidden): after the resolve, that is no recurrence
        edit = {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": s.channel,
            "message": {k: v for k, v in alarm.items() if k != "channel"},
            "previous_message": {k: v for k, v in alarm.items() if k != "channel"},
            "ts": now_ts(1),
            "event_ts": now_ts(1),
        }
        assert s.sender.event(edit).status == 200
        assert [i.status for i in rows(s, Incident)] == ["resolved"]
        # PagerDuty's app edits its post as the incident moves on: resolved resolves it
        pd = PdIncident(
            number=12, title="orders: errors", service_name="orders", created_at=datetime.now(UTC)
        )
        triggered = pagerduty_app_message(pd, s.channel, now_ts(2))
        pd_ts = s.fake.add_message(s.channel, triggered)
        assert s.sender.event(triggered).status == 200
        resolved = pagerduty_app_message(
            PdIncident(
                number=12,
                title="orders: errors",
                service_name="orders",
                created_at=pd.created_at,
                status="resolved",
            ),
            s.channel,
            pd_ts,
        )
        changed = {
            "type": "message",
            "subtype": "message_changed",
            "channel": s.channel,
            "message": {k: v for k, v in resolved.items() if k != "channel"},
            "previous_message": {k: v for k, v in triggered.items() if k != "channel"},
            "ts": now_ts(3),
            "event_ts": now_ts(3),
        }
        assert s.sender.event(changed).status == 200
        assert [i.status for i in rows(s, Incident)] == ["resolved", "resolved"]
        assert len(rows(s, Investigation)) == 2
        assert len(started_in(s, s.channel, ts)) <= 1

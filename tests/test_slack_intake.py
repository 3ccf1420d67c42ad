"""Webhook intake over HTTP: PagerDuty Webhooks v3 and SNS notifications, signed as their senders sign them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.sandbox.fake_slack import FakeSlack, wait_for
from bot.sandbox.httpserver import LoopbackServer, Request, Response
from bot.sandbox.pages import (
    AlarmNotice,
    PdIncident,
    pagerduty_webhook,
    sns_alarm_notification,
    sns_subscription_confirmation,
)
from bot.sandbox.signing import SnsSigner
from bot.slack.verify import SnsVerifier
from tests.test_slack_app import PD_SECRET, TOPIC, Stack, stack

NOW = datetime.now(UTC).replace(microsecond=0)
INCIDENT = PdIncident(number=77, title="orders: p99 latency high", service_name="orders", created_at=NOW)
NOTICE = AlarmNotice(
    alarm_name="orders-p99-high",
    metric_name="TargetResponseTime",
    namespace="AWS/ApplicationELB",
    state_change_time=NOW,
    threshold=1.0,
    value=4.2,
)


@pytest.fixture
def s(
    fake_slack: FakeSlack, tmp_path: Path, sns_signer: SnsSigner, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    loopback = SnsVerifier(lambda url: url.startswith(sns_signer.server.base_url), topic_allowlist=[TOPIC])
    with stack(fake_slack, tmp_path, sns=loopback) as running:
        yield running


def pages_posted(s: Stack) -> list[dict[str, object]]:
    """The pages announced in the page channel (the status lines posted there too are left out)."""
    return [m for m in s.fake.messages("incidents") if str(m.get("text", "")).startswith(":rotating_light:")]


def test_signed_pagerduty_webhook_posts_the_page_and_opens_one_investigation(s: Stack) -> None:
    body, headers = pagerduty_webhook(INCIDENT, PD_SECRET)
    status, answer = s.post("/webhooks/pagerduty", body, headers)
    assert status == 202 and json.loads(answer)["status"] == "accepted"
    # recorded before the answer: the page is posted into the page channel afterwards, by its workflow
    assert len(s.investigations.opened) == 1 and len(s.store.recent_incidents()) == 1
    page = s.investigations.opened[0]
    assert page.incident_number == "77" and page.channel is None
    assert wait_for(lambda: len(pages_posted(s)) == 1, 3.0)
    posted = pages_posted(s)
    assert "[#77] orders: p99 latency high" in str(posted[0]["text"])
    # the investigation's thread is under the posted page
    assert wait_for(lambda: len(s.fake.replies("incidents", str(posted[0]["ts"]))) >= 1, 3.0)
    incident = s.store.recent_incidents()[0]
    assert (incident.channel, incident.thread_ts) == (s.fake.channel_id("incidents"), posted[0]["ts"])
    # PagerDuty's retry (same X-Webhook-Id) is acknowledged and dropped
    status, answer = s.post("/webhooks/pagerduty", body, headers)
    assert status == 202 and json.loads(answer)["status"] == "duplicate"
    assert len(s.investigations.opened) == 1 and len(pages_posted(s)) == 1


def test_forged_pagerduty_webhook_is_refused(s: Stack) -> None:
    body, headers = pagerduty_webhook(INCIDENT, "not-our-secret")
    status, _ = s.post("/webhooks/pagerduty", body, headers)
    assert status == 401
    unsigned = {k: v for k, v in headers.items() if k != "X-PagerDuty-Signature"}
    assert s.post("/webhooks/pagerduty", body, unsigned)[0] == 401
    assert s.investigations.opened == [] and pages_posted(s) == []


def test_signed_sns_alarm_posts_the_page_and_dedupes_on_message_id(s: Stack, sns_signer: SnsSigner) -> None:
    body, headers = sns_alarm_notification(NOTICE, TOPIC, sns_signer, timestamp=datetime.now(UTC))
    status, answer = s.post("/webhooks/sns", body, headers)
    assert status == 200 and json.loads(answer)["status"] == "accepted"
    assert len(s.investigations.opened) == 1
    page = s.investigations.opened[0]
    assert page.alarm_name == "orders-p99-high" and page.state == "ALARM"
    status, answer = s.post("/webhooks/sns", body, headers)
    assert status == 200 and json.loads(answer)["status"] == "duplicate"
    assert wait_for(lambda: len(pages_posted(s)) == 1, 3.0)
    time.sleep(0.3)
    assert len(s.investigations.opened) == 1 and len(pages_posted(s)) == 1


def test_sns_from_another_topic_or_tampered_is_refused(s: Stack, sns_signer: SnsSigner) -> None:
    other = "arn:aws:sns:us-east-1:123456789012:someone-else"
    body, headers = sns_alarm_notification(NOTICE, other, sns_signer, timestamp=datetime.now(UTC))
    assert s.post("/webhooks/sns", body, headers)[0] == 401
    body, headers = sns_alarm_notification(NOTICE, TOPIC, sns_signer, timestamp=datetime.now(UTC))
    tampered = json.loads(body)
    tampered["Subject"] = 'ALARM: "something-else" in US East (N. Virginia)'
    assert s.post("/webhooks/sns", json.dumps(tampered).encode(), headers)[0] == 401
    assert s.investigations.opened == [] and pages_posted(s) == []


def test_sns_subscription_is_confirmed(s: Stack, sns_signer: SnsSigner) -> None:
    confirmed: list[str] = []

    def confirm(req: Request) -> Response:
        confirmed.append(req.query.get("Token", ""))
        return Response.text("<ConfirmSubscriptionResponse/>")

    with LoopbackServer() as aws:
        aws.add_route("GET", "/confirm", confirm)
        url = f"{aws.base_url}/confirm?Action=ConfirmSubscription&Token=tok123"
        body, headers = sns_subscription_confirmation(
            TOPIC, sns_signer, timestamp=datetime.now(UTC), token="tok123", subscribe_url=url
        )
        status, answer = s.post("/webhooks/sns", body, headers)
        assert status == 200 and json.loads(answer)["status"] == "confirming"
        assert wait_for(lambda: confirmed == ["tok123"], 3.0)


def test_health_and_unknown_paths(s: Stack) -> None:
    import httpx

    assert httpx.get(s.server.url + "/healthz").json() == {"ok": True}
    assert httpx.post(s.server.url + "/nope").status_code == 404

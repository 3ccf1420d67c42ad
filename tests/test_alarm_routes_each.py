"""Every route a page can take starts exactly one investigation, over HTTP with the sender's signature or credential,
delivered twice as senders do (a retry is recognised, not investigated again).

The payloads are written from the senders' documentation, not from what our parsers read:
- PagerDuty Webhooks v3: the ``incident`` event of PagerDuty's webhook overview (developer-docs
  ``docs/webhooks/01-Overview.md``; tests/fixtures/slack/pagerduty_webhook_v3_priority_updated.json is that
  example verbatim), as ``incident.triggered`` with our own ids and times;
- SNS: the HTTP(S) notification envelope (SNS developer guide, "Parsing message formats") around the CloudWatch
  alarm message (CloudWatch user guide, alarm notifications: ``AlarmName``, ``NewStateValue``, ``Trigger``);
- EventBridge, direct and inside SNS, and the alarm's Lambda action: tests/alarm_payloads.py, written from the
  CloudWatch user guide's "Alarm events and EventBridge" and "Invoke a Lambda function from an alarm";
- the Slack posts of the PagerDuty app and AWS Chatbot: tests/fixtures/slack (best guesses; no public captures).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.fake_slack import FakeSlack, wait_for
from bot.sandbox.pages import eventbridge_delivery, sns_notification
from bot.sandbox.signing import SnsSigner, pagerduty_signature
from bot.slack.verify import SnsVerifier
from tests import alarm_payloads as docs
from tests.test_slack_app import PD_SECRET, TOPIC, Stack, all_investigations, now_ts, stack

#: The connection's credential: sent as an API key, or as Basic authorisation (user:password).
KEY = "sre-bot:routes-each-eventbridge-key"
FIXTURES = Path(__file__).parent / "fixtures" / "slack"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def s(
    fake_slack: FakeSlack, tmp_path: Path, sns_signer: SnsSigner, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("EVENTBRIDGE_SECRET", KEY)
    loopback = SnsVerifier(lambda url: url.startswith(sns_signer.server.base_url), topic_allowlist=[TOPIC])
    with stack(fake_slack, tmp_path, sns=loopback) as running:
        yield running


def _classic_alarm() -> dict[str, Any]:
    """A CloudWatch alarm's SNS message, field by field as the CloudWatch user guide lists them."""
    return {
        "AlarmName": "orders-api-5xx",
        "AlarmDescription": "5xx from the orders API target group",
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2026-02-01T09:00:00.000+0000",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [57.0 (04/03/26 10:00:00)] was "
        "greater than the threshold (10.0) (minimum 1 datapoint for OK -> ALARM transition).",
        "StateChangeTime": NOW.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "Region": "US East (N. Virginia)",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-api-5xx",
        "OldStateValue": "OK",
        "OKActions": [],
        "AlarmActions": [TOPIC],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "HTTPCode_Target_5XX_Count",
            "Namespace": "AWS/ApplicationELB",
            "StatisticType": "Statistic",
            "Statistic": "SUM",
            "Unit": None,
            "Dimensions": [
                {"value": "app/orders/50dc6c495c0c9188", "name": "LoadBalancer"},
                {"value": "targetgroup/orders-api/943f017f100becff", "name": "TargetGroup"},
            ],
            "Period": 60,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 10.0,
            "TreatMissingData": "notBreaching",
            "EvaluateLowSampleCountPercentile": "",
        },
    }


def _pagerduty(s: Stack) -> tuple[str, bytes, dict[str, str]]:
    raw = json.loads((FIXTURES / "pagerduty_webhook_v3_priority_updated.json").read_text())
    event = raw["event"]
    event.update(
        id=str(uuid.uuid4()),
        event_type="incident.triggered",
        occurred_at=NOW.isoformat().replace("+00:00", "Z"),
    )
    event["data"].update(
        id="Q0ROUTES01",
        number=9001,
        title="Orders API returning 5xx",
        created_at=NOW.isoformat().replace("+00:00", "Z"),
        html_url="https://acme.pagerduty.com/incidents/Q0ROUTES01",
    )
    body = json.dumps(raw).encode()
    headers = {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": pagerduty_signature(PD_SECRET, body),
    }
    return "/webhooks/pagerduty", body, headers


def _sns(signer: SnsSigner) -> Callable[[Stack], tuple[str, bytes, dict[str, str]]]:
    def build(s: Stack) -> tuple[str, bytes, dict[str, str]]:
        subject = 'ALARM: "orders-api-5xx" in US East (N. Virginia)'
        body, headers = sns_notification(_classic_alarm(), TOPIC, signer, subject=subject, timestamp=NOW)
        return "/webhooks/sns", body, headers

    return build


def _eventbridge_in_sns(signer: SnsSigner) -> Callable[[Stack], tuple[str, bytes, dict[str, str]]]:
    def build(s: Stack) -> tuple[str, bytes, dict[str, str]]:
        body, headers = sns_notification(docs.metric_math(), TOPIC, signer, timestamp=NOW)
        return "/webhooks/sns", body, headers

    return build


def _eventbridge(
    event: dict[str, Any], basic: bool = False
) -> Callable[[Stack], tuple[str, bytes, dict[str, str]]]:
    def build(s: Stack) -> tuple[str, bytes, dict[str, str]]:
        body, headers = eventbridge_delivery(event, KEY, basic=basic)
        return "/webhooks/eventbridge", body, headers

    return build


WEBHOOK_ROUTES = ["pagerduty-v3", "sns", "eventbridge", "eventbridge-in-sns", "alarm-lambda-action"]


@pytest.mark.parametrize("route", WEBHOOK_ROUTES)
def test_a_webhook_page_starts_exactly_one_investigation(s: Stack, sns_signer: SnsSigner, route: str) -> None:
    build = {
        "pagerduty-v3": _pagerduty,
        "sns": _sns(sns_signer),
        "eventbridge": _eventbridge(docs.single_metric()),
        "eventbridge-in-sns": _eventbridge_in_sns(sns_signer),
        "alarm-lambda-action": _eventbridge(docs.lambda_action_metric(), basic=True),
    }[route]
    path, body, headers = build(s)
    first = s.post(path, body, headers)
    again = s.post(path, body, headers)  # the sender's retry
    assert first[0] in (200, 202) and json.loads(first[1])["status"] == "accepted", first
    assert again[0] == first[0] and json.loads(again[1])["status"] == "duplicate", again
    assert len(s.investigations.opened) == 1 and len(all_investigations(s)) == 1
    page = s.investigations.opened[0]
    assert page.state == "ALARM" and (page.alarm_name or page.incident_number)
    forged = dict(headers)
    for name, wrong in (
        ("X-PagerDuty-Signature", "v1=" + "0" * 64),
        ("X-Api-Key", "wrong"),
        ("Authorization", "Basic c3JlLWJvdDp3cm9uZw=="),
    ):
        if name in forged:
            forged[name] = wrong
    if route in ("sns", "eventbridge-in-sns"):
        tampered = json.loads(body)
        tampered["Message"] = tampered["Message"].replace("ALARM", "OK")
        body = json.dumps(tampered).encode()
    assert s.post(path, body, forged)[0] == 401  # unsigned or tampered: refused, nothing more opened
    assert len(all_investigations(s)) == 1


def _slack_post(name: str, channel: str) -> dict[str, Any]:
    event = json.loads((FIXTURES / name).read_text())
    event = event.get("event", event)
    ts = now_ts()
    event.update(channel=channel, ts=ts, event_ts=ts)
    event.pop("thread_ts", None)
    return dict(event)


@pytest.mark.parametrize("name", ["pagerduty_app_triggered_modern.json", "chatbot_alarm_modern.json"])
def test_a_page_posted_in_slack_starts_exactly_one_investigation(s: Stack, name: str) -> None:
    event = _slack_post(name, s.channel)
    ts = s.fake.add_message(s.channel, event)
    assert s.sender.event(event).status == 200
    assert s.sender.event(event, retry_num=1, retry_reason="http_timeout").status == 200
    forged = s.sender.event(dict(event, ts=now_ts(1)), wrong_secret=True)
    assert forged.status == 401
    assert len(s.investigations.opened) == 1 and len(all_investigations(s)) == 1
    page = s.investigations.opened[0]
    assert (page.channel, page.message_ts) == (s.channel, ts)
    assert wait_for(lambda: len(s.fake.replies(s.channel, ts)) >= 1, 15.0)


def _warnings(s: Stack) -> list[str]:
    return [
        str(m["text"]) for m in s.fake.messages("incidents") if str(m.get("text", "")).startswith(":warning:")
    ]


@pytest.mark.parametrize("route", ["sns", "eventbridge"])
def test_an_alarm_whose_state_cannot_be_read_is_posted_as_unreadable(
    s: Stack, sns_signer: SnsSigner, route: str
) -> None:
    if route == "sns":
        alarm = {k: v for k, v in _classic_alarm().items() if k != "NewStateValue"}
        body, headers = sns_notification(alarm, TOPIC, sns_signer, timestamp=NOW)
        path = "/webhooks/sns"
    else:
        event = docs.single_metric()
        event["detail"]["state"]["value"] = "PENDING"
        body, headers = eventbridge_delivery(event, KEY)
        path = "/webhooks/eventbridge"
    status, answer = s.post(path, body, headers)
    assert status in (200, 202) and json.loads(answer) == {"status": "unreadable", "posted": True}
    assert wait_for(lambda: len(_warnings(s)) == 1, 10.0)
    assert "Unreadable alarm notification" in _warnings(s)[0] and s.investigations.opened == []
    counts = s.surface.intake.refusals.snapshot()
    assert counts == {
        f"{path.rsplit('/', 1)[-1]} unreadable: the alarm's state is missing or not one CloudWatch has": 1
    }

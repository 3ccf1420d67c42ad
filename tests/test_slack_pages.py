"""Pages other apps post in Slack, over signed Slack events: a PagerDuty app post whose title is cut is completed from
the incident's first alert (the REST stand-in), an INSUFFICIENT_DATA post from AWS Chatbot goes through the silence
rules, and a post that claims to be a page but names nothing is answered as an unreadable notification.

The posts are written by hand in the shapes the two apps use (their content is not documented; see
tests/fixtures/slack/SOURCES.md): a classic ``bot_message`` with attachments for Chatbot, a modern ``bot_profile``
post with blocks for PagerDuty."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.fake_pagerduty import FakePagerDuty
from bot.sandbox.fake_slack import FakeSlack, wait_for
from tests.test_slack_app import Stack, all_investigations, now_ts, stack

TOKEN = "pd-readonly-slack+9f"
ACCOUNT = "123456789012"


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    with FakePagerDuty(TOKEN) as server:
        yield server


@pytest.fixture
def s(
    fake_slack: FakeSlack, tmp_path: Path, pd: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", TOKEN)
    monkeypatch.setenv("PAGERDUTY_API_URL", pd.base_url)
    with stack(fake_slack, tmp_path) as running:
        yield running


def _post(s: Stack, event: dict[str, Any]) -> str:
    """Put another app's post into the incident channel and deliver its signed event; its ts."""
    ts = s.fake.add_message(s.channel, event)
    delivered = s.sender.event(event)
    assert delivered.status == 200, delivered.body
    return ts


def _chatbot(channel: str, ts: str, title: str, text: str, fields: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0AWSCHAT1",
        "username": "AWS Chatbot",
        "text": "",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "channel_type": "channel",
        "attachments": [
            {
                "color": "#879596",
                "title": title,
                "text": text,
                "fields": [{"title": t, "value": v, "short": True} for t, v in fields],
                "footer": "AWS Chatbot",
            }
        ],
    }


def _silent(channel: str, ts: str, metric: str, treated: str) -> dict[str, Any]:
    name = f"web-{metric.lower()}"
    link = f"https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/{name}"
    return _chatbot(
        channel,
        ts,
        f'INSUFFICIENT_DATA: "{name}" in EU (Ireland)',
        f"<{link}|View in the console>\nThreshold Crossed: no datapoints were received for 2 periods and 2 missing "
        f"datapoints were treated as [{treated}].",
        [
            ("Metric", f"AWS/ApplicationELB {metric} (LoadBalancer=app/web/50dc6c495c0c9188)"),
            ("Previous state", "OK"),
            ("Account", ACCOUNT),
        ],
    )


def _replies(s: Stack, ts: str, start: str) -> list[str]:
    return [
        str(m.get("text", ""))
        for m in s.fake.replies(s.channel, ts)
        if str(m.get("text", "")).startswith(start)
    ]


def test_a_pagerduty_post_with_a_cut_title_is_completed_from_the_first_alert(
    s: Stack, pd: FakePagerDuty
) -> None:
    # The alert body PagerDuty's CloudWatch integration keeps: the SNS alarm message (CloudWatch user guide,
    # "Amazon SNS notification" of an alarm), as the REST API's alert.body.details.
    alarm = {
        "AlarmName": "checkout-queue-age-very-long-name",
        "AlarmDescription": None,
        "AWSAccountId": ACCOUNT,
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 1 datapoint [1840.0 (04/03/26 10:00:00)] was greater than the "
        "threshold (600.0).",
        "StateChangeTime": "2026-03-04T10:01:00.000+0000",
        "Region": "EU (Ireland)",
        "AlarmArn": f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:checkout-queue-age-very-long-name",
        "OldStateValue": "OK",
        "Trigger": {
            "MetricName": "ApproximateAgeOfOldestMessage",
            "Namespace": "AWS/SQS",
            "StatisticType": "Statistic",
            "Statistic": "MAXIMUM",
            "Unit": None,
            "Dimensions": [{"value": "checkout-jobs", "name": "QueueName"}],
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 600.0,
            "TreatMissingData": "missing",
        },
    }
    pd.add_alert("Q1CUTTITLE", {"type": "alert_body", "contexts": [], "details": alarm})
    ts = now_ts()
    url = "https://acme.pagerduty.com/incidents/Q1CUTTITLE"
    event = {
        "type": "message",
        "user": "U0PDAPP01",
        "bot_id": "B0PAGERDTY",
        "app_id": "A0PAGERDTY",
        "bot_profile": {"id": "B0PAGERDTY", "name": "PagerDuty", "app_id": "A0PAGERDTY"},
        "text": 'Triggered: [#812] ALARM: "checkout-queue-age-very-lo...',
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f'*<{url}|[#812] ALARM: "checkout-queue-age-very-lo...>*'},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Status:*\nTriggered"},
                    {"type": "mrkdwn", "text": "*Urgency:*\nHigh"},
                    {"type": "mrkdwn", "text": "*Service:*\nshop"},
                ],
            },
        ],
        "ts": ts,
        "channel": s.channel,
        "event_ts": ts,
        "channel_type": "channel",
    }
    _post(s, event)
    assert len(s.investigations.opened) == 1
    page = s.investigations.opened[0]
    assert (page.alarm_name, page.region, page.namespace, page.metric) == (
        "checkout-queue-age-very-long-name",
        "eu-west-1",
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
    )
    assert page.dimensions == {"QueueName": "checkout-jobs"} and page.incident_number == "812"
    asked = [r for r in pd.requests if r.path.endswith("/alerts")]
    assert len(asked) == 1 and asked[0].header("authorization") == f"Token token={TOKEN}"


def test_a_silent_metric_that_is_not_trouble_is_told_in_the_thread(s: Stack) -> None:
    ts = _post(s, _silent(s.channel, now_ts(), "TargetResponseTime", "NotBreaching"))
    assert wait_for(lambda: len(_replies(s, ts, ":grey_question:")) == 1, 10.0)
    assert "web-targetresponsetime" in _replies(s, ts, ":grey_question:")[0]
    assert s.investigations.opened == [] and all_investigations(s) == []


@pytest.mark.parametrize(
    ("metric", "treated"), [("RequestCount", "NotBreaching"), ("TargetResponseTime", "Breaching")]
)
def test_a_silence_that_is_trouble_is_investigated_once(s: Stack, metric: str, treated: str) -> None:
    event = _silent(s.channel, now_ts(), metric, treated)
    _post(s, event)
    s.sender.event(event, retry_num=1)  # Slack's retry of the same event
    assert len(s.investigations.opened) == 1
    page = s.investigations.opened[0]
    assert page.state == "ALARM" and page.title.endswith("(no data)")
    assert page.reason and page.reason.startswith("INSUFFICIENT_DATA after OK")
    assert len(all_investigations(s)) == 1


def test_a_post_that_claims_an_alarm_but_names_none_is_answered_as_unreadable(
    s: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.slack.refusals")
    event = _chatbot(
        s.channel,
        now_ts(),
        "CloudWatch Alarm",
        "An alarm changed state. Open the console for details.",
        [("Account", ACCOUNT)],
    )
    ts = _post(s, event)
    assert wait_for(lambda: len(_replies(s, ts, ":warning:")) == 1, 10.0)
    said = _replies(s, ts, ":warning:")[0]
    assert "Unreadable alarm notification" in said and "An alarm changed state" in said
    assert s.investigations.opened == []
    logged = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert logged == [
        "slack delivery unreadable: a page posted in Slack names no alarm or incident "
        "[1 refused or unreadable so far]"
    ]
    s.sender.event(event, retry_num=1)  # Slack's retry: neither counted nor answered again
    chatter = _chatbot(s.channel, now_ts(1), "Deployment finished", "CodeDeploy: web deployed.", [])
    other = _post(s, chatter)
    assert _replies(s, other, ":warning:") == [] and len(_replies(s, ts, ":warning:")) == 1
    assert len([r for r in caplog.records if "unreadable" in r.getMessage()]) == 1


def test_console_links_fields_in_any_order_and_from_to_text_are_read() -> None:
    from bot.slack.parsers import read_page_message

    at = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    link = (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#alarm:alarmFilter=ANY;name=orders%20db%20connections"
    )
    event = _chatbot(
        "C0INC",
        "1772618400.000100",
        "Alarm changed",
        f"State changed from *OK* to *INSUFFICIENT_DATA*. <{link}|Open>",
        [("Account", ACCOUNT), ("Metric", "AWS/RDS DatabaseConnections (DBInstanceIdentifier=orders-db)")],
    )
    parsed = read_page_message(event, at)
    assert parsed is not None
    page = parsed.page
    assert (page.alarm_name, page.state, page.previous_state, page.region) == (
        "orders db connections",
        "INSUFFICIENT_DATA",
        "OK",
        "eu-west-1",
    )
    assert page.dimensions == {"DBInstanceIdentifier": "orders-db"} and page.account == ACCOUNT
    v2 = _chatbot(
        "C0INC",
        "1772618400.000200",
        "Alarm",
        "<https://console.aws.amazon.com/cloudwatch/home#alarmsV2:alarm/web-5xx?|details>",
        [("Account", ACCOUNT), ("State", "ALARM")],  # the state after the account this time
    )
    parsed = read_page_message(v2, at)
    assert parsed is not None and (parsed.page.alarm_name, parsed.page.state) == ("web-5xx", "ALARM")
    assert json.loads(json.dumps(parsed.facts))["account"] == ACCOUNT


def test_a_forged_or_stale_slack_delivery_is_counted_with_its_reason(s: Stack) -> None:
    event = _chatbot(s.channel, now_ts(), "CloudWatch Alarm | web-5xx | eu-west-1", "", [("State", "ALARM")])
    assert s.sender.event(event, wrong_secret=True).status == 401
    assert s.sender.event(event, stale_seconds=3600).status in (400, 401)
    counts = s.surface.intake.refusals.snapshot()
    assert counts.get("slack 401: invalid signature") == 1 and sum(counts.values()) == 2, counts
    assert s.investigations.opened == []


def test_an_unquoted_cloudwatch_title_names_the_alarm() -> None:
    from bot.slack.parsers import read_page_message

    event = _chatbot(
        "C0INC",
        "1772618400.000300",
        ":rotating_light: ALARM: web-5xx in EU (Ireland)",
        "Threshold Crossed: 1 out of the last 1 datapoints [57.0] was greater than the threshold (10.0).",
        [("Metric", "AWS/ApplicationELB HTTPCode_Target_5XX_Count (LoadBalancer=app/web/50dc6c495c0c9188)")],
    )
    parsed = read_page_message(event, datetime(2026, 3, 4, 10, 0, tzinfo=UTC))
    assert parsed is not None
    page = parsed.page
    assert (page.alarm_name, page.region, page.state, page.metric) == (
        "web-5xx",
        "eu-west-1",
        "ALARM",
        "HTTPCode_Target_5XX_Count",
    )
    assert page.reason and page.reason.startswith("Threshold Crossed")

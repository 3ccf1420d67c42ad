"""Pages are recognised in every shape they reach us, and no input makes a parser raise.

Fixtures under tests/fixtures/slack/ (sources in SOURCES.md): real envelopes and documented payloads where
they exist, best guesses where PagerDuty and AWS do not publish what they post.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import Page, PageSource
from bot.slack.parsers import (
    iter_texts,
    parse_page_message,
    parse_pagerduty_webhook,
    parse_sns_alarm,
    read_page_message,
    read_pagerduty_webhook,
    read_sns_alarm,
)

FIXTURES = Path(__file__).parent / "fixtures" / "slack"
RECEIVED = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
OUR_BOT = "B0OURBOT01"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def slack(name: str) -> Page | None:
    data = load(name)
    return parse_page_message(data.get("event", data), RECEIVED, own_bot_ids={OUR_BOT})


# -- Slack posts -------------------------------------------------------------------------------------------------


def test_chatbot_alarm_modern_shape() -> None:
    page = slack("chatbot_alarm_modern.json")
    assert page is not None
    assert page.source is PageSource.CLOUDWATCH
    assert page.alarm_name == "checkout-api-5xx-high"
    assert page.state == "ALARM"
    assert page.region == "us-east-1"
    assert page.namespace == "AWS/ApplicationELB"
    assert page.metric == "HTTPCode_Target_5XX_Count"
    assert page.dimensions["TargetGroup"] == "targetgroup/checkout-api/73e2d6bc24d8a067"
    assert page.service_hint == "checkout-api"
    assert page.channel == "C0INCIDENT" and page.message_ts == "1772460135.000200"
    assert page.fired_at == datetime(2026, 3, 2, 14, 2, 11, tzinfo=UTC)  # the attachment's alarm time
    assert any("#alarmsV2:alarm/checkout-api-5xx-high" in link for link in page.links)


def test_chatbot_alarm_facts_page_cannot_hold() -> None:
    data = load("chatbot_alarm_modern.json")
    parsed = read_page_message(data, RECEIVED)
    assert parsed is not None
    assert parsed.facts["account"] == "123456789012"
    assert parsed.facts["state_reason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints")


def test_chatbot_ok_is_parsed_with_state_ok() -> None:
    page = slack("chatbot_alarm_ok.json")
    assert page is not None and page.state == "OK"
    assert page.alarm_name == "checkout-api-5xx-high"


def test_chatbot_alarm_classic_shape() -> None:
    page = slack("chatbot_alarm_classic.json")
    assert page is not None
    assert page.source is PageSource.CLOUDWATCH
    assert page.alarm_name == "orders-db-cpu-high"
    assert page.state == "ALARM"
    assert page.region == "eu-west-1"
    assert (page.namespace, page.metric) == ("AWS/RDS", "CPUUtilization")
    assert page.dimensions == {"DBInstanceIdentifier": "orders-db-primary"}
    assert page.service_hint == "orders-db-primary"
    parsed = read_page_message(load("chatbot_alarm_classic.json"), RECEIVED)
    assert parsed is not None and parsed.facts["account"] == "210987654321"
    assert parsed.facts["alarm_arn"].endswith(":alarm:orders-db-cpu-high")


def test_chatbot_alarm_in_blocks() -> None:
    page = slack("chatbot_alarm_blocks.json")
    assert page is not None
    assert page.alarm_name == "payments-lambda-errors (prod)"
    assert page.state == "ALARM"
    assert page.region == "ap-southeast-2"
    assert (page.namespace, page.metric) == ("AWS/Lambda", "Errors")
    assert page.service_hint == "payments-capture"
    assert page.severity == "SEV2"
    assert len(page.links) == 2


def test_pagerduty_app_modern_shape() -> None:
    page = slack("pagerduty_app_triggered_modern.json")
    assert page is not None
    assert page.source is PageSource.PAGERDUTY
    assert page.incident_number == "1234"
    assert page.incident_id == "Q1CHK5XX"
    assert page.title == 'ALARM: "checkout-api-5xx-high" in US East (N. Virginia)'
    assert page.alarm_name == "checkout-api-5xx-high"  # a CloudWatch-integrated incident names its alarm
    assert page.region == "us-east-1"
    assert page.service_hint == "checkout-api"
    assert page.state == "ALARM"
    assert page.severity == "high"
    assert page.links[0] == "https://acme.pagerduty.com/incidents/Q1CHK5XX"


def test_pagerduty_app_classic_shape() -> None:
    page = slack("pagerduty_app_classic.json")
    assert page is not None
    assert page.source is PageSource.PAGERDUTY
    assert (page.incident_number, page.incident_id) == ("4321", "P7DISKF")
    assert page.title == "Disk almost full on search-indexer"
    assert page.service_hint == "search-indexer"
    assert page.severity == "P3"
    assert page.state == "ALARM"


def test_pagerduty_resolved_and_acknowledged() -> None:
    resolved = slack("pagerduty_app_resolved.json")
    assert resolved is not None and resolved.state == "OK"
    acked = slack("pagerduty_app_acknowledged_rich_text.json")
    assert acked is not None
    assert acked.state == "ACKNOWLEDGED"
    assert (acked.incident_number, acked.incident_id, acked.service_hint) == ("987", "P9CARTL", "cart")


def test_message_changed_edit_is_read_from_the_inner_message() -> None:
    page = slack("pagerduty_app_message_changed.json")
    assert page is not None
    assert page.state == "OK" and page.channel == "C0INCIDENT"
    assert page.message_ts == "1772462500.000600"  # the original message, whose thread we post in


def test_same_incident_same_fingerprint_across_routes() -> None:
    slack_page = slack("pagerduty_app_triggered_modern.json")
    webhook_page = parse_pagerduty_webhook(load("pagerduty_webhook_v3_triggered.json"))
    assert slack_page is not None and webhook_page is not None
    assert slack_page.incident_id == webhook_page.incident_id


@pytest.mark.parametrize(
    "name",
    [
        "bolt_bot_message_modern.json",
        "bolt_bot_message_classic.json",
        "bolt_user_message.json",
        "java_sdk_message_bot_payload_abridged.json",
        "own_bot_reply.json",
    ],
)
def test_not_pages(name: str) -> None:
    assert slack(name) is None


def test_own_bot_is_ignored_but_others_are_not() -> None:
    data = load("chatbot_alarm_modern.json")
    assert parse_page_message(data, RECEIVED, own_bot_ids={"B0AMAZONQ1"}) is None
    assert parse_page_message(data, RECEIVED, own_bot_ids={OUR_BOT}) is not None


def test_a_person_pasting_an_alarm_is_not_a_page() -> None:
    data = load("chatbot_alarm_modern.json")
    for key in ("bot_id", "app_id", "bot_profile"):
        data.pop(key)
    data["user"] = "U0PERSON"
    assert parse_page_message(data, RECEIVED) is None


def test_pagerduty_bot_without_an_incident_is_not_a_page() -> None:
    data = load("pagerduty_app_classic.json")
    data["attachments"] = [{"text": "You are on call from 09:00 to 17:00 today."}]
    assert parse_page_message(data, RECEIVED) is None


def test_other_subtypes_are_not_pages() -> None:
    data = load("chatbot_alarm_classic.json")
    data["subtype"] = "channel_join"
    assert parse_page_message(data, RECEIVED) is None


def test_iter_texts_reads_every_place() -> None:
    texts = list(iter_texts(load("pagerduty_app_triggered_modern.json")))
    assert any("[#1234]" in t for t in texts)
    assert "*Service:*\ncheckout-api" in texts
    assert all("<http" not in t for t in texts)


# -- SNS ---------------------------------------------------------------------------------------------------------


def test_sns_lambda_fixture_single_metric() -> None:
    parsed = read_sns_alarm(load("sns_lambda_alarm_single_metric.json"), RECEIVED)
    page = parsed.page
    assert page.source is PageSource.CLOUDWATCH
    assert page.alarm_name == "EXAMPLE" and page.state == "ALARM"
    assert (page.namespace, page.metric) == ("AWS/EC2", "NetworkOut")
    assert page.dimensions == {"InstanceId": "TestInstance"}
    assert page.fired_at == datetime(2015, 6, 3, 17, 43, 27, 123000, tzinfo=UTC)
    assert page.region is None  # "EXAMPLE" and "REGION" are placeholders, not regions
    assert parsed.facts["account"] == "123456789012"
    assert parsed.facts["old_state"] == "INSUFFICIENT_DATA"


def test_sns_metric_math_alarm() -> None:
    page = parse_sns_alarm(load("sns_lambda_alarm_multiple_metrics.json"), RECEIVED)
    assert (page.namespace, page.metric) == ("AWS/EC2", "NetworkOut")
    assert page.dimensions == {"InstanceId": "TestInstance"}


def _alarm(**overrides: Any) -> dict[str, Any]:
    alarm: dict[str, Any] = {
        "AlarmName": "checkout-api-5xx-high",
        "AlarmDescription": "5xx from checkout",
        "AWSAccountId": "123456789012",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [57.0 (02/03/26 14:01:00)] was greater than the threshold (10.0).",
        "StateChangeTime": "2026-03-02T14:02:11.482+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-api-5xx-high",
        "OldStateValue": "OK",
        "Trigger": {
            "MetricName": "HTTPCode_Target_5XX_Count",
            "Namespace": "AWS/ApplicationELB",
            "Statistic": "SUM",
            "Dimensions": [
                {"value": "app/shop-alb/50dc6c495c0c9188", "name": "LoadBalancer"},
                {"value": "targetgroup/checkout-api/73e2d6bc24d8a067", "name": "TargetGroup"},
            ],
            "Period": 60,
        },
    }
    alarm.update(overrides)
    return alarm


def test_sns_alarm_json_string() -> None:
    page = parse_sns_alarm(json.dumps(_alarm()))
    assert page.alarm_name == "checkout-api-5xx-high"
    assert page.region == "us-east-1"
    assert page.service_hint == "checkout-api"
    assert page.fired_at == datetime(2026, 3, 2, 14, 2, 11, 482000, tzinfo=UTC)
    assert page.links == [
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/checkout-api-5xx-high"
    ]


def test_sns_envelope_and_long_region_names() -> None:
    envelope = {
        "Type": "Notification",
        "Subject": 'OK: "orders-db-cpu-high" in EU (Ireland)',
        "Message": json.dumps(
            _alarm(AlarmName="orders-db-cpu-high", NewStateValue="OK", AlarmArn=None, Region="EU (Ireland)")
        ),
    }
    page = parse_sns_alarm(envelope)
    assert page.state == "OK" and page.region == "eu-west-1"
    assert parse_sns_alarm(json.dumps(_alarm(AlarmArn="", Region="EU - Ireland"))).region == "eu-west-1"


def test_sns_unreadable_message_falls_back_to_subject() -> None:
    page = parse_sns_alarm(
        {"Type": "Notification", "Subject": 'ALARM: "x-high" in US West (Oregon)', "Message": "not json"},
        RECEIVED,
    )
    assert (page.alarm_name, page.state, page.region) == ("x-high", "ALARM", "us-west-2")


def test_sns_garbage_gives_a_placeholder_page() -> None:
    page = parse_sns_alarm("]]not json", RECEIVED)
    assert page.title == "Unreadable CloudWatch alarm notification"
    assert page.state is None and page.fired_at == RECEIVED


# -- PagerDuty webhooks ------------------------------------------------------------------------------------------


def test_pagerduty_webhook_documented_example() -> None:
    parsed = read_pagerduty_webhook(load("pagerduty_webhook_v3_priority_updated.json"))
    assert parsed is not None
    page = parsed.page
    assert page.source is PageSource.PAGERDUTY
    assert (page.incident_id, page.incident_number, page.title) == (
        "PGR0VU2",
        "2",
        "A little bump in the road",
    )
    assert page.service_hint == "API Service"
    assert page.severity == "P1"
    assert page.state == "ALARM"
    assert page.fired_at == datetime(2020, 4, 9, 15, 16, 27, tzinfo=UTC)
    assert page.links == ["https://acme.pagerduty.com/incidents/PGR0VU2"]
    assert parsed.facts["event_type"] == "incident.priority_updated"
    assert parsed.facts["urgency"] == "high"


def test_pagerduty_webhook_triggered_and_resolved() -> None:
    triggered = parse_pagerduty_webhook(load("pagerduty_webhook_v3_triggered.json"))
    assert triggered is not None
    assert triggered.state == "ALARM" and triggered.severity == "high"  # no priority: urgency instead
    assert triggered.alarm_name == "checkout-api-5xx-high"
    resolved = parse_pagerduty_webhook(json.dumps(load("pagerduty_webhook_v3_resolved.json")).encode())
    assert resolved is not None and resolved.state == "OK"


@pytest.mark.parametrize(
    "name", ["pagerduty_webhook_v3_service_updated.json", "pagerduty_webhook_v3_annotated.json"]
)
def test_pagerduty_webhook_non_incident_events(name: str) -> None:
    assert parse_pagerduty_webhook(load(name)) is None


# -- Never raise -------------------------------------------------------------------------------------------------

_SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
_KEYS = st.sampled_from(
    ["type", "subtype", "bot_id", "app_id", "bot_profile", "username", "text", "attachments", "blocks", "fields",
     "title", "value", "fallback", "pretext", "elements", "url", "ts", "name", "message", "channel", "event",
     "event_type", "data", "service", "summary", "number", "id", "status", "priority", "created_at", "Records",
     "Sns", "Message", "Subject", "AlarmName", "Trigger", "Dimensions", "Metrics", "MetricStat", "Metric",
     "StateChangeTime", "NewStateValue", "Region", "AlarmArn", "color", "title_link", "accessory"]
) | st.text(max_size=8)  # fmt: skip
_TEXTY = st.sampled_from(
    ["message", "bot_message", "message_changed", "PagerDuty", "aws", "[#12] x", "CloudWatch Alarm | a | us-east-1",
     'ALARM: "a" in EU (Ireland)', "https://x.pagerduty.com/incidents/P1", "incident.triggered", "incident",
     "<https://console.aws.amazon.com/cloudwatch/home#alarmsV2:alarm/a|a>", "*Status:*\nResolved", "1772460135.1",
     "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a", "2026-03-02T14:02:11.482+0000", "section", "rich_text"]
)  # fmt: skip
_JSON = st.recursive(
    _SCALAR | _TEXTY,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_KEYS, children, max_size=6),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_JSON)
def test_slack_parser_never_raises(event: Any) -> None:
    result = parse_page_message(event, RECEIVED)
    assert result is None or isinstance(result, Page)
    if isinstance(event, dict):
        for bot in (
            {"bot_id": "B1", "username": "PagerDuty"},
            {"bot_id": "B2", "bot_profile": {"name": "aws"}},
        ):
            result = parse_page_message({**event, **bot}, RECEIVED)
            assert result is None or isinstance(result, Page)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_JSON)
def test_sns_parser_never_raises(message: Any) -> None:
    assert isinstance(parse_sns_alarm(message, RECEIVED), Page)
    assert isinstance(parse_sns_alarm(json.dumps(message, default=str), RECEIVED), Page)
    if isinstance(message, dict):
        assert isinstance(parse_sns_alarm({"AlarmName": "a", **message}, RECEIVED), Page)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_JSON)
def test_pagerduty_parser_never_raises(body: Any) -> None:
    result = parse_pagerduty_webhook(body)
    assert result is None or isinstance(result, Page)
    wrapped = parse_pagerduty_webhook({"event": {"event_type": "incident.triggered", "data": body}})
    assert wrapped is None or isinstance(wrapped, Page)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_parsers_never_raise_on_text(text: str) -> None:
    for result in (
        parse_page_message({"bot_id": "B1", "username": "aws", "text": text}, RECEIVED),
        parse_page_message({"bot_id": "B1", "username": "PagerDuty", "text": text}, RECEIVED),
        parse_pagerduty_webhook(text),
    ):
        assert result is None or isinstance(result, Page)
    assert isinstance(parse_sns_alarm(text), Page)


def test_every_fixture_survives_every_parser() -> None:
    for path in FIXTURES.glob("*.json"):
        data = json.loads(path.read_text())
        parse_page_message(data.get("event", data) if isinstance(data, dict) else data, RECEIVED)
        assert isinstance(parse_sns_alarm(data, RECEIVED), Page)
        parse_pagerduty_webhook(data)

"""CloudWatch alarm events in every documented shape: read by the parser, and delivered over HTTP to
``/webhooks/eventbridge`` (API-key and Basic authorisation) and inside signed SNS notifications."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from bot.sandbox.fake_slack import wait_for
from bot.sandbox.pages import eventbridge_delivery, sns_notification
from bot.sandbox.signing import SnsSigner
from bot.slack.alarm_events import read_alarm_event, read_alarm_notification
from bot.slack.verify import verify_api_destination
from tests import alarm_payloads as docs
from tests import test_slack_intake
from tests.test_slack_app import TOPIC, Stack

KEY = "eb-connection-key-5f2c"
PATH = "/webhooks/eventbridge"


# -- the parser, on every documented shape -----------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(docs.EVENTS))
def test_every_documented_shape_names_the_alarm_its_states_region_and_account(shape: str) -> None:
    event = docs.EVENTS[shape]()
    parsed = read_alarm_event(event)
    assert parsed is not None
    page = parsed.page
    data = event.get("detail") or event["alarmData"]
    assert page.alarm_name == data["alarmName"] and page.title == data["alarmName"]
    assert page.state == data["state"]["value"] and page.previous_state == data["previousState"]["value"]
    assert page.reason == data["state"]["reason"]
    assert (page.region, page.account) == (docs.REGION, docs.ACCOUNT)
    assert page.fired_at.year == 2026 and page.parts, "what the alarm is made of is listed"


def test_single_metric_and_anomaly_alarms_give_their_metric_and_dimensions() -> None:
    page = read_alarm_event(docs.single_metric())
    assert page is not None
    assert (page.page.namespace, page.page.metric) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert page.page.dimensions == {"QueueName": "checkout-jobs"}
    band = read_alarm_event(docs.anomaly_detection())
    assert band is not None and band.page.dimensions == {"TopicName": "order-events"}
    assert any("ANOMALY_DETECTION_BAND(m1, 2)" in p for p in band.page.parts)


def test_metric_math_lists_the_expression_and_each_metric() -> None:
    parsed = read_alarm_event(docs.metric_math())
    assert parsed is not None
    page = parsed.page
    assert page.parts[0] == "e1: 100 * errors / requests"
    assert any("AWS/S3 5xxErrors (BucketName=acme-media, FilterId=all)" in p for p in page.parts)
    assert any("AllRequests" in p for p in page.parts)
    assert page.dimensions["BucketName"] == "acme-media" and page.namespace == "AWS/S3"


def test_composite_names_its_children_and_which_triggered_it() -> None:
    for build, trigger, other in (
        (docs.composite, "checkout-queue-age", "checkout-5xx"),
        (docs.lambda_action_composite, "web-fleet-status-check", "web-maintenance"),
    ):
        parsed = read_alarm_event(build())
        assert parsed is not None
        assert parsed.page.parts[0] == f"child alarm {trigger} (ALARM, triggered this)"
        assert f"child alarm {other}" in parsed.page.parts
        assert parsed.page.metric is None and parsed.page.dimensions == {}
        assert "alarm_rule" in parsed.facts


def test_metrics_insights_query_gives_namespace_metric_and_filter() -> None:
    parsed = read_alarm_event(docs.metrics_insights())
    assert parsed is not None
    page = parsed.page
    assert (page.namespace, page.metric) == ("AWS/Lambda", "Errors")
    assert page.dimensions == {"FunctionName": "payments-capture"}


def test_the_lambda_action_shape_is_read_like_the_event() -> None:
    parsed = read_alarm_event(docs.lambda_action_metric())
    assert parsed is not None and parsed.facts["shape"] == "alarm-action"
    assert parsed.page.dimensions == {"InstanceId": "i-0abc1234def567890"}


def test_an_event_inside_an_sns_message_is_read_and_an_empty_one_is_unreadable() -> None:
    envelope = {"Type": "Notification", "Message": json.dumps(docs.metric_math())}
    assert read_alarm_notification(envelope).page.alarm_name == "media-bucket-error-rate"
    bad = read_alarm_notification({"Type": "Notification", "Message": json.dumps({"hello": "alarm"})})
    assert "error" in bad.facts and bad.page.alarm_name is None


def test_api_destination_credential_checks() -> None:
    assert verify_api_destination({"x-api-key": KEY}, "X-Api-Key", KEY)
    assert not verify_api_destination({"x-api-key": KEY + "x"}, "X-Api-Key", KEY)
    assert not verify_api_destination({"x-api-key": KEY}, "X-Api-Key", None)
    _, basic = eventbridge_delivery({}, "bot:pa55", basic=True)
    assert verify_api_destination(basic, "X-Api-Key", "bot:pa55")
    assert not verify_api_destination(basic, "X-Api-Key", "bot:other")
    assert not verify_api_destination({"Authorization": "Basic !!notbase64"}, "X-Api-Key", "bot:pa55")


# -- over HTTP -----------------------------------------------------------------------------------------------------


#: The Slack surface on loopback with SNS certificates served there (EVENTBRIDGE_SECRET set first, below).
s = test_slack_intake.s


@pytest.fixture(autouse=True)
def _eventbridge_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTBRIDGE_SECRET", KEY)


def _posted(s: Stack, start: str) -> list[dict[str, object]]:
    return [m for m in s.fake.messages("incidents") if str(m.get("text", "")).startswith(start)]


def test_eventbridge_api_destination_opens_one_investigation_per_event(s: Stack) -> None:
    body, headers = eventbridge_delivery(docs.single_metric(), KEY)
    status, answer = s.post(PATH, body, headers)
    assert status == 202 and json.loads(answer)["status"] == "accepted"
    assert s.post(PATH, body, headers)[1].count("duplicate") == 1  # EventBridge's retry of the same event id
    page = s.investigations.opened[0]
    assert page.alarm_name == "checkout-queue-age" and page.previous_state == "OK"
    assert page.account == docs.ACCOUNT and page.dimensions == {"QueueName": "checkout-jobs"}
    body, headers = eventbridge_delivery(docs.composite(), "user:" + KEY, basic=False, header="X-Other")
    assert s.post(PATH, body, headers)[0] == 401, "the key in another header than the configured one"
    body, headers = eventbridge_delivery(docs.lambda_action_metric(), KEY)
    assert s.post(PATH, body, headers)[0] == 202
    assert [p.alarm_name for p in s.investigations.opened] == ["checkout-queue-age", "web-fleet-status-check"]
    assert wait_for(lambda: len(_posted(s, ":rotating_light:")) == 2, 5.0)


def test_eventbridge_basic_authorisation_and_refusals_are_counted(s: Stack) -> None:
    s.surface.intake.settings.eventbridge_secret = "bot:" + KEY  # type: ignore[union-attr]
    body, headers = eventbridge_delivery(docs.metrics_insights(), "bot:" + KEY, basic=True)
    assert s.post(PATH, body, headers)[0] == 202
    assert s.investigations.opened[0].metric == "Errors"
    forged, bad_headers = eventbridge_delivery(docs.metrics_insights(), "bot:guess", basic=True)
    assert s.post(PATH, forged, bad_headers)[0] == 401
    assert s.post(PATH, b"[1, 2]", headers)[0] == 400
    counts = s.surface.intake.refusals.snapshot()  # type: ignore[union-attr]
    assert sum(n for k, n in counts.items() if k.startswith("eventbridge 401")) == 1
    assert sum(n for k, n in counts.items() if k.startswith("eventbridge 400")) == 1
    assert len(s.investigations.opened) == 1


def test_an_unreadable_alarm_is_posted_with_its_raw_content_escaped(s: Stack) -> None:
    weird = {
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "detail": {"x": "<!channel> `boom`"},
    }
    body, headers = eventbridge_delivery(weird, KEY)
    status, answer = s.post(PATH, body, headers)
    assert status == 202 and json.loads(answer) == {"status": "unreadable", "posted": True}
    assert wait_for(lambda: len(_posted(s, ":warning:")) == 1, 5.0)
    text = str(_posted(s, ":warning:")[0]["text"])
    assert "Unreadable alarm notification" in text and "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert s.investigations.opened == []
    # an event of another kind (a configuration change) is acknowledged and left alone, not posted
    other = {**weird, "detail-type": "CloudWatch Alarm Configuration Change"}
    body, headers = eventbridge_delivery(other, KEY)
    assert json.loads(s.post(PATH, body, headers)[1])["status"] == "ignored"


def test_eventbridge_event_inside_sns_opens_an_investigation(s: Stack, sns_signer: SnsSigner) -> None:
    now = datetime.now(UTC)
    body, headers = sns_notification(docs.anomaly_detection(), TOPIC, sns_signer, timestamp=now)
    status, answer = s.post("/webhooks/sns", body, headers)
    assert status == 200 and json.loads(answer)["status"] == "accepted"
    page = s.investigations.opened[0]
    assert page.alarm_name == "Orders topic publish anomaly" and page.metric == "NumberOfMessagesPublished"
    body, headers = sns_notification({"AlarmDescription": "no name"}, TOPIC, sns_signer, timestamp=now)
    status, answer = s.post("/webhooks/sns", body, headers)
    assert status == 200 and json.loads(answer)["status"] == "unreadable"
    assert wait_for(lambda: len(_posted(s, ":warning:")) == 1, 5.0)
    time.sleep(0.2)
    assert len(s.investigations.opened) == 1


def test_without_a_configured_secret_the_endpoint_says_so(s: Stack) -> None:
    s.surface.intake.settings.eventbridge_secret = None  # type: ignore[union-attr]
    body, headers = eventbridge_delivery(docs.single_metric(), KEY)
    status, answer = s.post(PATH, body, headers)
    assert status == 401 and "EVENTBRIDGE_SECRET is not set" in json.loads(answer)["error"]
    assert s.investigations.opened == []

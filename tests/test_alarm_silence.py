"""INSUFFICIENT_DATA after OK over HTTP: told in the page channel, and investigated when the metric's silence is the
trouble (a heartbeat-like metric, or an alarm that treats missing data as breaching)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.sandbox.fake_slack import wait_for
from bot.sandbox.pages import AlarmNotice, eventbridge_delivery, sns_alarm_notification
from bot.sandbox.signing import SnsSigner
from tests import alarm_payloads as docs
from tests import test_slack_intake
from tests.test_slack_app import TOPIC, Stack

KEY = "eb-silence-key"
PATH = "/webhooks/eventbridge"

#: The Slack surface on loopback (EVENTBRIDGE_SECRET set first, below).
s = test_slack_intake.s


@pytest.fixture(autouse=True)
def _eventbridge_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTBRIDGE_SECRET", KEY)


def _notices(s: Stack) -> list[str]:
    return [
        str(m["text"])
        for m in s.fake.messages("incidents")
        if str(m.get("text", "")).startswith(":grey_question:")
    ]


def test_a_queue_age_going_silent_is_told_not_investigated(s: Stack) -> None:
    body, headers = eventbridge_delivery(docs.single_metric(state="INSUFFICIENT_DATA", previous="OK"), KEY)
    status, answer = s.post(PATH, body, headers)
    assert status == 202 and json.loads(answer)["status"] == "noticed"
    assert wait_for(lambda: len(_notices(s)) == 1, 5.0)
    assert (
        "*checkout-queue-age* has no data" in _notices(s)[0]
        and "AWS/SQS ApproximateAgeOfOldestMessage" in _notices(s)[0]
    )
    assert s.investigations.opened == []
    after_alarm = docs.single_metric(state="INSUFFICIENT_DATA", previous="ALARM")
    after_alarm["id"] = "another-event-id"
    body, headers = eventbridge_delivery(after_alarm, KEY)
    assert json.loads(s.post(PATH, body, headers)[1])["status"] == "ignored"


def test_published_messages_going_silent_is_investigated(s: Stack) -> None:
    event = docs.anomaly_detection()  # NumberOfMessagesPublished: silence means nothing is published
    event["detail"]["state"]["value"] = "INSUFFICIENT_DATA"
    body, headers = eventbridge_delivery(event, KEY)
    status, answer = s.post(PATH, body, headers)
    assert status == 202 and json.loads(answer)["status"] == "accepted"
    page = s.investigations.opened[0]
    assert page.state == "ALARM" and page.title == "Orders topic publish anomaly (no data)"
    assert page.reason is not None and page.reason.startswith(
        "INSUFFICIENT_DATA after OK: NumberOfMessagesPublished"
    )


def test_an_alarm_treating_missing_data_as_breaching_is_investigated(s: Stack, sns_signer: SnsSigner) -> None:
    notice = AlarmNotice(
        alarm_name="disk-used-reports-db",
        metric_name="disk_used_percent",
        namespace="CWAgent",
        state_change_time=datetime.now(UTC),
        treat_missing_data="breaching",
        new_state="INSUFFICIENT_DATA",
        old_state="OK",
        new_state_reason="Insufficient Data: 3 datapoints were unknown.",
    )
    body, headers = sns_alarm_notification(notice, TOPIC, sns_signer, timestamp=datetime.now(UTC))
    status, answer = s.post("/webhooks/sns", body, headers)
    assert status == 200 and json.loads(answer)["status"] == "accepted"
    page = s.investigations.opened[0]
    assert page.alarm_name == "disk-used-reports-db" and page.state == "ALARM"
    assert page.reason is not None and "treats missing data as breaching" in page.reason

"""How pages reach us: SNS notifications (verifiable with the cert fetched over loopback), PagerDuty webhooks
(signature recomputable), and the Slack posts of AWS Chatbot / Amazon Q and the PagerDuty app."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import httpx
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from slack_sdk import WebClient

from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.httpserver import LoopbackServer, Request, Response
from bot.sandbox.pages import (
    AlarmNotice,
    PdIncident,
    chatbot_alarm_message,
    pagerduty_app_message,
    pagerduty_webhook,
    sns_alarm_notification,
    sns_subscription_confirmation,
)
from bot.sandbox.signing import SnsSigner, deliver

T = datetime(2024, 5, 1, 10, 6, 0, 123000, tzinfo=UTC)
TOPIC = "arn:aws:sns:us-east-1:123456789012:oncall-alarms"
NOTICE = AlarmNotice(
    alarm_name="checkout-5xx-high",
    description="Checkout ALB 5xx above 5%",
    metric_name="HTTPCode_Target_5XX_Count",
    namespace="AWS/ApplicationELB",
    dimensions=[("LoadBalancer", "app/checkout/abc123"), ("TargetGroup", "targetgroup/checkout/def456")],
    statistic="Sum",
    threshold=50,
    period=60,
    evaluation_periods=2,
    value=412,
    state_change_time=T,
)
INCIDENT = PdIncident(number=1234, title="checkout 5xx above 5%", service_name="checkout", created_at=T)


def _verify_sns(doc: dict[str, object]) -> None:
    """Verify as AWS documents it, written independently of the signer: fetch the cert, rebuild the string."""
    keys = (
        ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        if doc["Type"] == "Notification"
        else ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    )
    canonical = "".join(f"{k}\n{doc[k]}\n" for k in keys if k in doc).encode()
    pem = httpx.get(str(doc["SigningCertURL"])).raise_for_status().content
    key = x509.load_pem_x509_certificate(pem).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    algo = hashes.SHA1() if doc["SignatureVersion"] == "1" else hashes.SHA256()
    key.verify(base64.b64decode(str(doc["Signature"])), canonical, padding.PKCS1v15(), algo)


@pytest.mark.parametrize("version", ["1", "2"])
def test_sns_alarm_notification_verifies_with_fetched_cert(sns_signer: SnsSigner, version: str) -> None:
    body, headers = sns_alarm_notification(NOTICE, TOPIC, sns_signer, signature_version=version)  # type: ignore[arg-type]
    doc = json.loads(body)
    assert doc["Type"] == "Notification"
    assert doc["SignatureVersion"] == version
    assert doc["Subject"] == 'ALARM: "checkout-5xx-high" in US East (N. Virginia)'
    assert doc["SigningCertURL"].startswith("http://127.0.0.1:")
    assert doc["UnsubscribeURL"].startswith("https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe")
    _verify_sns(doc)
    assert headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-message-id"] == doc["MessageId"]
    assert headers["x-amz-sns-topic-arn"] == TOPIC


def test_sns_signature_covers_subject(sns_signer: SnsSigner) -> None:
    body, _ = sns_alarm_notification(NOTICE, TOPIC, sns_signer)
    doc = json.loads(body)
    doc["Subject"] = 'ALARM: "something-else" in US East (N. Virginia)'
    with pytest.raises(InvalidSignature):
        _verify_sns(doc)


def test_alarm_message_shape() -> None:
    msg = NOTICE.message()
    assert msg["AlarmName"] == "checkout-5xx-high"
    assert msg["AWSAccountId"] == "123456789012"
    assert msg["NewStateValue"] == "ALARM"
    assert msg["OldStateValue"] == "OK"
    assert msg["Region"] == "US East (N. Virginia)"
    assert msg["StateChangeTime"] == "2024-05-01T10:06:00.123+0000"
    assert msg["AlarmArn"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-5xx-high"
    assert msg["NewStateReason"].startswith(
        "Threshold Crossed: 2 out of the last 2 datapoints [412.0 (01/05/24 10:05:00)]"
    )
    trigger = msg["Trigger"]
    assert trigger["Statistic"] == "SUM"
    assert trigger["StatisticType"] == "Statistic"
    assert trigger["Dimensions"] == [
        {"value": "app/checkout/abc123", "name": "LoadBalancer"},
        {"value": "targetgroup/checkout/def456", "name": "TargetGroup"},
    ]
    assert trigger["Threshold"] == 50.0
    assert trigger["ComparisonOperator"] == "GreaterThanThreshold"


def test_sns_builders_are_deterministic(sns_signer: SnsSigner) -> None:
    assert sns_alarm_notification(NOTICE, TOPIC, sns_signer) == sns_alarm_notification(
        NOTICE, TOPIC, sns_signer
    )


def test_sns_subscription_confirmation_verifies(sns_signer: SnsSigner) -> None:
    body, headers = sns_subscription_confirmation(
        TOPIC, sns_signer, timestamp=T, subscribe_url="http://127.0.0.1:1/confirm"
    )
    doc = json.loads(body)
    assert doc["Type"] == "SubscriptionConfirmation"
    assert doc["SubscribeURL"] == "http://127.0.0.1:1/confirm"
    assert doc["Token"]
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    _verify_sns(doc)


def test_pagerduty_webhook_signature_and_shape() -> None:
    body, headers = pagerduty_webhook(INCIDENT, "whsec")
    expected = hmac.new(b"whsec", body, hashlib.sha256).hexdigest()
    assert headers["X-PagerDuty-Signature"] == f"v1={expected}"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Webhook-Id"] and headers["X-Webhook-Subscription"].startswith("P")
    event = json.loads(body)["event"]
    assert event["event_type"] == "incident.triggered"
    assert event["resource_type"] == "incident"
    data = event["data"]
    assert data["number"] == 1234
    assert data["status"] == "triggered"
    assert data["service"]["summary"] == "checkout"
    assert data["html_url"] == f"https://acme.pagerduty.com/incidents/{data['id']}"
    assert data["urgency"] == "high"
    assert pagerduty_webhook(INCIDENT, "whsec") == (body, headers)  # retries carry the same X-Webhook-Id


def test_pagerduty_webhook_secret_rotation() -> None:
    body, headers = pagerduty_webhook(INCIDENT, ["old", "new"], event_type="incident.resolved")
    sigs = headers["X-PagerDuty-Signature"].split(",")
    assert sigs == [f"v1={hmac.new(k, body, hashlib.sha256).hexdigest()}" for k in (b"old", b"new")]
    assert json.loads(body)["event"]["data"]["status"] == "resolved"


def test_deliver_posts_bytes_and_headers_unchanged(sns_signer: SnsSigner) -> None:
    got: list[Request] = []

    def receive(req: Request) -> Response:
        got.append(req)
        return Response.text("", status=202)

    body, headers = pagerduty_webhook(INCIDENT, "whsec")
    with LoopbackServer() as app:
        app.add_route("POST", "/pagerduty", receive)
        d = deliver(app.base_url + "/pagerduty", body, headers)
    assert d.status == 202
    assert got[0].body == body
    assert got[0].header("x-pagerduty-signature") == headers["X-PagerDuty-Signature"]


@pytest.mark.parametrize("brand", ["AWS Chatbot", "Amazon Q"])
def test_chatbot_modern_message(brand: str) -> None:
    ev = chatbot_alarm_message(NOTICE, "C0INC", "1714557962.000100", brand=brand)  # type: ignore[arg-type]
    assert ev["type"] == "message" and "subtype" not in ev
    assert ev["bot_id"] and ev["bot_id"] != "B0SREBOT"
    assert ev["bot_profile"]["name"] == brand
    assert ev["app_id"] == ev["bot_profile"]["app_id"]
    att = ev["attachments"][0]
    assert (
        att["title"]
        == ":rotating_light: CloudWatch Alarm | checkout-5xx-high | us-east-1 | Account: 123456789012"
    )
    assert att["title_link"] == (
        "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/checkout-5xx-high"
    )
    assert "Threshold Crossed" in att["text"]
    assert {f["title"] for f in att["fields"]} >= {"Threshold", "Metric"}
    assert ev["channel"] == "C0INC" and ev["ts"] == ev["event_ts"] == "1714557962.000100"


def test_chatbot_classic_message() -> None:
    ev = chatbot_alarm_message(NOTICE, "C0INC", "1714557962.000100", shape="classic")
    assert ev["subtype"] == "bot_message"
    assert ev["username"] == "AWS Chatbot"
    assert "bot_profile" not in ev
    assert "checkout-5xx-high" in ev["attachments"][0]["fallback"]


def test_pagerduty_app_messages() -> None:
    modern = pagerduty_app_message(INCIDENT, "C0INC", "1714557963.000100")
    assert "subtype" not in modern and modern["bot_profile"]["name"] == "PagerDuty"
    blocks = modern["attachments"][0]["blocks"]
    assert "[#1234] checkout 5xx above 5%" in blocks[0]["text"]["text"]
    assert INCIDENT.html_url in blocks[0]["text"]["text"]
    fields = " ".join(f["text"] for f in blocks[1]["fields"])
    assert "checkout" in fields and "High" in fields and "Triggered" in fields

    classic = pagerduty_app_message(INCIDENT, "C0INC", "1714557963.000100", shape="classic")
    assert classic["subtype"] == "bot_message" and classic["username"] == "PagerDuty"
    att = classic["attachments"][0]
    assert att["title"] == "[#1234] checkout 5xx above 5%" and att["title_link"] == INCIDENT.html_url


def test_app_posts_seed_the_fake_slack(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    cid = fake_slack.add_channel("inc-checkout")
    ts = fake_slack.add_message(cid, chatbot_alarm_message(NOTICE, cid))
    fake_slack.add_message(cid, pagerduty_app_message(INCIDENT, cid))
    history = slack_client.conversations_history(channel=cid)["messages"]
    assert [m["bot_profile"]["name"] for m in history] == ["PagerDuty", "AWS Chatbot"]
    reply = slack_client.chat_postMessage(channel=cid, thread_ts=ts, text="On it")
    assert float(reply["ts"]) > float(history[0]["ts"])
    assert fake_slack.replies(cid, ts)[0]["text"] == "On it"

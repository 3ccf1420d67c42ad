"""How a page reaches us, built in the real wire shapes, deterministically from the inputs.

Four routes, and where each shape comes from:

1. **SNS HTTP(S) notification of a CloudWatch alarm** (:func:`sns_alarm_notification`,
   :func:`sns_subscription_confirmation`). Envelope fields, headers and the string to sign follow the AWS SNS
   developer guide (sns-message-and-json-formats, sns-verify-signature-of-message). The alarm ``Message`` JSON
   follows real CloudWatch notifications as captured in ``aws/aws-lambda-go``
   ``events/testdata/cloudwatch-alarm-sns-payload-*.json`` (``Region`` is the long name such as
   "US East (N. Virginia)", ``Statistic`` upper case, ``StateChangeTime`` like ``2015-06-03T17:43:27.123+0000``)
   plus the newer ``AlarmConfigurationUpdatedTimestamp``/``OKActions``/``AlarmActions``/
   ``InsufficientDataActions`` keys. Best guesses: the default ``NewStateReason`` wording (modelled on the
   "Threshold Crossed: ..." text CloudWatch writes), and ``TreatMissingData`` as the bare value (one AWS
   capture shows ``"- TreatMissingData:                    missing"``; parsers must tolerate both).
   ``Subject`` is cut to 100 characters, the SNS limit.
2. **PagerDuty Webhooks v3** (:func:`pagerduty_webhook`): the ``{"event": {...}}`` body and the incident
   ``data`` object follow PagerDuty/developer-docs ``docs/webhooks/01-Overview.md``; headers and signature
   ``04-Signatures.md``. Best guesses: the id formats (``event.id`` and ``X-Webhook-Id`` are derived
   hashes here) and ``agent`` being the service for ``incident.triggered``.
3. **AWS Chatbot / Amazon Q Developer's Slack post of an alarm** (:func:`chatbot_alarm_message`). The
   envelope fields of a modern bot message (``bot_id``, ``app_id``, ``bot_profile``, no ``subtype``) and of a
   classic one (``subtype: bot_message``, ``username``, ``icons``) come from slackapi/bolt-python
   ``tests/scenario_tests/test_message_bot.py`` and slackapi/java-slack-sdk
   ``json-logs/samples/events/MessageBotPayload.json``. The *content* (title
   ``:rotating_light: CloudWatch Alarm | <name> | <region> | Account: <id>``, colour, field names, console
   link ``https://console.aws.amazon.com/cloudwatch/home?region=..#alarmsV2:alarm/<name>``) is a best guess
   from public screenshots: AWS does not document the raw JSON. The app/bot ids are made up.
4. **The PagerDuty Slack app's post** (:func:`pagerduty_app_message`). Same envelope sources; the content
   (``[#1234] <title>`` linking to ``https://<sub>.pagerduty.com/incidents/<id>``, Service / Urgency /
   Status / Assigned fields, Acknowledge / Resolve buttons) is a best guess; PagerDuty does not document it.

Everything is deterministic for fixed inputs: ids are hashes of the inputs. The only randomness is the
signer's RSA key, generated per :class:`~bot.sandbox.signing.SnsSigner`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bot.sandbox.signing import SnsSigner, pagerduty_signature

#: Region code -> the long name CloudWatch writes in Subject and Message.Region.
REGION_NAMES: dict[str, str] = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-west-2": "EU (London)",
    "eu-west-3": "EU (Paris)",
    "eu-central-1": "EU (Frankfurt)",
    "eu-north-1": "EU (Stockholm)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ca-central-1": "Canada (Central)",
    "sa-east-1": "South America (Sao Paulo)",
}

_COMPARISON_WORDS = {
    "GreaterThanThreshold": "greater than",
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}

_SNS_NS = uuid.UUID("6f1c3c52-5b1e-4a4e-9a57-1d7f3b0e5c11")


def _hash(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def _pd_id(*parts: object) -> str:
    """A PagerDuty-style 7-character id (``P`` + 6 upper-case alphanumerics) derived from `parts`."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    n = int(_hash(*parts)[:16], 16)
    out = ""
    for _ in range(6):
        n, r = divmod(n, len(alphabet))
        out += alphabet[r]
    return "P" + out


def _iso_z(t: datetime, millis: bool = True) -> str:
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{t.microsecond // 1000:03d}" if millis else "") + "Z"


def _slack_ts(t: datetime) -> str:
    return f"{t.timestamp():.6f}"


# -- CloudWatch alarm via SNS ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AlarmNotice:
    """A CloudWatch alarm state change, the facts every delivery route of it is built from."""

    alarm_name: str
    metric_name: str
    namespace: str
    state_change_time: datetime
    dimensions: Sequence[tuple[str, str]] = ()
    description: str = ""
    region: str = "us-east-1"
    account_id: str = "123456789012"
    statistic: str = "Average"
    threshold: float = 0.0
    comparison: str = "GreaterThanThreshold"
    period: int = 60
    evaluation_periods: int = 1
    datapoints_to_alarm: int | None = None
    unit: str | None = None
    treat_missing_data: str = "missing"
    new_state: str = "ALARM"
    old_state: str = "OK"
    new_state_reason: str = ""
    #: The datapoint that crossed the threshold, used in the default reason.
    value: float | None = None
    alarm_arn: str = ""
    alarm_actions: Sequence[str] = field(default_factory=tuple)

    @property
    def arn(self) -> str:
        """The alarm's ARN (given or derived)."""
        return self.alarm_arn or f"arn:aws:cloudwatch:{self.region}:{self.account_id}:alarm:{self.alarm_name}"

    @property
    def region_name(self) -> str:
        """The long region name, as CloudWatch writes it."""
        return REGION_NAMES.get(self.region, self.region)

    @property
    def reason(self) -> str:
        """The state reason (given, or the usual "Threshold Crossed" sentence)."""
        if self.new_state_reason:
            return self.new_state_reason
        n = self.datapoints_to_alarm or self.evaluation_periods
        value = self.value if self.value is not None else self.threshold
        at = (self.state_change_time - timedelta(seconds=self.period)).astimezone(UTC)
        words = _COMPARISON_WORDS.get(self.comparison, self.comparison)
        if self.new_state == "ALARM":
            return (
                f"Threshold Crossed: {n} out of the last {self.evaluation_periods} datapoints "
                f"[{float(value)} ({at:%d/%m/%y %H:%M:%S})] was {words} the threshold ({float(self.threshold)}) "
                f"(minimum {n} datapoint for {self.old_state} -> ALARM transition)."
            )
        return (
            f"Threshold Crossed: {n} out of the last {self.evaluation_periods} datapoints "
            f"[{float(value)} ({at:%d/%m/%y %H:%M:%S})] was not {words} the threshold ({float(self.threshold)}) "
            f"(minimum {n} datapoint for {self.old_state} -> {self.new_state} transition)."
        )

    @property
    def subject(self) -> str:
        """The SNS Subject CloudWatch sets, cut to SNS's 100 characters."""
        return f'{self.new_state}: "{self.alarm_name}" in {self.region_name}'[:100]

    @property
    def console_url(self) -> str:
        """The CloudWatch console link to the alarm."""
        name = urllib.parse.quote(self.alarm_name, safe="")
        return f"https://console.aws.amazon.com/cloudwatch/home?region={self.region}#alarmsV2:alarm/{name}"

    def message(self) -> dict[str, Any]:
        """The alarm JSON CloudWatch publishes as the SNS ``Message``."""
        changed = self.state_change_time.astimezone(UTC)
        return {
            "AlarmName": self.alarm_name,
            "AlarmDescription": self.description or None,
            "AWSAccountId": self.account_id,
            "AlarmConfigurationUpdatedTimestamp": (changed - timedelta(days=7)).strftime(
                "%Y-%m-%dT%H:%M:%S.000+0000"
            ),
            "NewStateValue": self.new_state,
            "NewStateReason": self.reason,
            "StateChangeTime": changed.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{changed.microsecond // 1000:03d}+0000",
            "Region": self.region_name,
            "AlarmArn": self.arn,
            "OldStateValue": self.old_state,
            "OKActions": [],
            "AlarmActions": list(self.alarm_actions),
            "InsufficientDataActions": [],
            "Trigger": {
                "MetricName": self.metric_name,
                "Namespace": self.namespace,
                "StatisticType": "Statistic",
                "Statistic": self.statistic.upper(),
                "Unit": self.unit,
                "Dimensions": [{"value": v, "name": n} for n, v in self.dimensions],
                "Period": self.period,
                "EvaluationPeriods": self.evaluation_periods,
                **({"DatapointsToAlarm": self.datapoints_to_alarm} if self.datapoints_to_alarm else {}),
                "ComparisonOperator": self.comparison,
                "Threshold": float(self.threshold),
                "TreatMissingData": self.treat_missing_data,
                "EvaluateLowSampleCountPercentile": "",
            },
        }


def alarm_state_change_event(notice: AlarmNotice, *, lambda_action: bool = False) -> dict[str, Any]:
    """The alarm's state change as EventBridge delivers it ("CloudWatch Alarm State Change"), or (`lambda_action`)
    as the alarm's Lambda action invokes its function; the shapes of CloudWatch's user guide, "Alarm events and
    EventBridge" and "Invoke a Lambda function from an alarm"."""
    changed = notice.state_change_time.astimezone(UTC)
    stamp = changed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{changed.microsecond // 1000:03d}+0000"
    metric = {
        "id": "m1",
        "metricStat": {
            "metric": {
                "namespace": notice.namespace,
                "name": notice.metric_name,
                "dimensions": dict(notice.dimensions),
            },
            "period": notice.period,
            "stat": notice.statistic,
        },
        "returnData": True,
    }
    data = {
        "alarmName": notice.alarm_name,
        "state": {"value": notice.new_state, "reason": notice.reason, "timestamp": stamp},
        "previousState": {"value": notice.old_state, "reason": "", "timestamp": stamp},
        "configuration": {"description": notice.description, "metrics": [metric]},
    }
    if lambda_action:
        return {
            "source": "aws.cloudwatch",
            "alarmArn": notice.arn,
            "accountId": notice.account_id,
            "time": stamp,
            "region": notice.region,
            "alarmData": data,
        }
    return {
        "version": "0",
        "id": str(uuid.uuid5(_SNS_NS, f"event|{notice.arn}|{stamp}|{notice.new_state}")),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": notice.account_id,
        "time": changed.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": notice.region,
        "resources": [notice.arn],
        "detail": data,
    }


def _topic_region(topic_arn: str) -> str:
    parts = topic_arn.split(":")
    return parts[3] if len(parts) > 5 and parts[3] else "us-east-1"


def _sns_headers(message: Mapping[str, Any], subscription_arn: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "User-Agent": "Amazon Simple Notification Service Agent",
        "x-amz-sns-message-type": str(message["Type"]),
        "x-amz-sns-message-id": str(message["MessageId"]),
        "x-amz-sns-topic-arn": str(message["TopicArn"]),
    }
    if subscription_arn:
        headers["x-amz-sns-subscription-arn"] = subscription_arn
    return headers


def sns_alarm_notification(
    notice: AlarmNotice,
    topic_arn: str,
    signer: SnsSigner,
    *,
    signature_version: Literal["1", "2"] = "2",
    timestamp: datetime | None = None,
    subscription_arn: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The POST body and headers SNS sends an HTTP(S) subscriber for this alarm.

    `timestamp` (publish time) defaults to the state change time plus 400 ms. The signer must be started:
    ``SigningCertURL`` points at its loopback PEM.
    """
    stamp = timestamp or (notice.state_change_time + timedelta(milliseconds=400))
    return sns_notification(
        notice.message(),
        topic_arn,
        signer,
        subject=notice.subject,
        timestamp=stamp,
        signature_version=signature_version,
        subscription_arn=subscription_arn,
    )


def sns_notification(
    message_obj: Mapping[str, Any],
    topic_arn: str,
    signer: SnsSigner,
    *,
    subject: str | None = None,
    timestamp: datetime,
    signature_version: Literal["1", "2"] = "2",
    subscription_arn: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The POST body and headers SNS sends an HTTP(S) subscriber for any JSON message (an EventBridge rule's SNS
    target publishes the event itself, with no Subject)."""
    message = json.dumps(message_obj, separators=(",", ":"))
    message_id = str(uuid.uuid5(_SNS_NS, f"{topic_arn}|{message}"))
    sub_arn = subscription_arn or f"{topic_arn}:{uuid.uuid5(_SNS_NS, 'sub|' + topic_arn)}"
    region = _topic_region(topic_arn)
    fields: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic_arn,
        **({"Subject": subject} if subject else {}),
        "Message": message,
        "Timestamp": _iso_z(timestamp),
    }
    signed = signer.sign_message(fields, signature_version)
    signed["UnsubscribeURL"] = (
        f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={urllib.parse.quote(sub_arn, safe=':')}"
    )
    return json.dumps(signed, indent=2).encode(), _sns_headers(signed, sub_arn)


def eventbridge_delivery(
    event: Mapping[str, Any], secret: str, *, header: str = "X-Api-Key", basic: bool = False
) -> tuple[bytes, dict[str, str]]:
    """The POST an EventBridge API destination makes for `event`: the event as JSON, with the connection's
    credential as an API-key header or (`basic`) ``Authorization: Basic`` of ``user:password`` = `secret`."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Amazon/EventBridge/ApiDestinations",
    }
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode()
    else:
        headers[header] = secret
    return json.dumps(event).encode(), headers


def sns_subscription_confirmation(
    topic_arn: str,
    signer: SnsSigner,
    *,
    timestamp: datetime,
    token: str | None = None,
    subscribe_url: str | None = None,
    signature_version: Literal["1", "2"] = "2",
) -> tuple[bytes, dict[str, str]]:
    """The ``SubscriptionConfirmation`` SNS posts first; `subscribe_url` may point at a loopback stand-in."""
    region = _topic_region(topic_arn)
    tok = token or (_hash("token", topic_arn) * 4)[:256]
    url = subscribe_url or (
        f"https://sns.{region}.amazonaws.com/?Action=ConfirmSubscription"
        f"&TopicArn={urllib.parse.quote(topic_arn, safe=':')}&Token={tok}"
    )
    fields: dict[str, Any] = {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid5(_SNS_NS, f"confirm|{topic_arn}|{tok}")),
        "Token": tok,
        "TopicArn": topic_arn,
        "Message": (
            f"You have chosen to subscribe to the topic {topic_arn}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message."
        ),
        "SubscribeURL": url,
        "Timestamp": _iso_z(timestamp),
    }
    signed = signer.sign_message(fields, signature_version)
    return json.dumps(signed, indent=2).encode(), _sns_headers(signed, None)


# -- PagerDuty webhook -------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PdIncident:
    """A PagerDuty incident, the facts its webhook and its Slack post are built from."""

    number: int
    title: str
    service_name: str
    created_at: datetime
    id: str = ""
    service_id: str = ""
    urgency: str = "high"
    status: str = "triggered"
    priority: str | None = "P1"
    incident_key: str = ""
    assignees: Sequence[str] = ("On-call Engineer",)
    escalation_policy: str = "Default"
    team: str | None = "Engineering"
    subdomain: str = "acme"

    @property
    def incident_id(self) -> str:
        """The incident id (given or derived from the number and title)."""
        return self.id or _pd_id("incident", self.subdomain, self.number, self.title)

    @property
    def svc_id(self) -> str:
        """The service id (given or derived from its name)."""
        return self.service_id or _pd_id("service", self.subdomain, self.service_name)

    @property
    def html_url(self) -> str:
        """The incident's web page."""
        return f"https://{self.subdomain}.pagerduty.com/incidents/{self.incident_id}"

    def _ref(self, kind: str, path: str, name: str, ref_id: str | None = None) -> dict[str, Any]:
        rid = ref_id or _pd_id(kind, self.subdomain, name)
        return {
            "html_url": f"https://{self.subdomain}.pagerduty.com/{path}/{rid}",
            "id": rid,
            "self": f"https://api.pagerduty.com/{path}/{rid}",
            "summary": name,
            "type": f"{kind}_reference",
        }

    def data(self, status: str | None = None) -> dict[str, Any]:
        """The ``incident`` object of a v3 webhook's ``event.data``."""
        iid = self.incident_id
        return {
            "id": iid,
            "type": "incident",
            "self": f"https://api.pagerduty.com/incidents/{iid}",
            "html_url": self.html_url,
            "number": self.number,
            "status": status or self.status,
            "incident_key": self.incident_key or _hash("key", self.subdomain, self.number)[:32],
            "created_at": _iso_z(self.created_at, millis=False),
            "title": self.title,
            "service": self._ref("service", "services", self.service_name, self.svc_id),
            "assignees": [self._ref("user", "users", a) for a in self.assignees],
            "escalation_policy": self._ref(
                "escalation_policy", "escalation_policies", self.escalation_policy
            ),
            "teams": [self._ref("team", "teams", self.team)] if self.team else [],
            "priority": (
                {
                    "html_url": f"https://{self.subdomain}.pagerduty.com/account/incident_priorities",
                    "id": _pd_id("priority", self.subdomain, self.priority),
                    "self": f"https://api.pagerduty.com/priorities/{_pd_id('priority', self.subdomain, self.priority)}",
                    "summary": self.priority,
                    "type": "priority_reference",
                }
                if self.priority
                else None
            ),
            "urgency": self.urgency,
            "conference_bridge": None,
            "resolve_reason": None,
        }


_EVENT_STATUS = {
    "incident.triggered": "triggered",
    "incident.acknowledged": "acknowledged",
    "incident.unacknowledged": "triggered",
    "incident.resolved": "resolved",
    "incident.reopened": "triggered",
}


def pagerduty_webhook(
    incident: PdIncident,
    secret: str | Sequence[str],
    event_type: str = "incident.triggered",
    *,
    occurred_at: datetime | None = None,
    subscription_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A Webhooks v3 delivery for `incident`: body bytes and headers with ``X-PagerDuty-Signature``.

    Pass several secrets to sign as during secret rotation (one ``v1=`` entry each). Re-sending the same
    call gives the same ``X-Webhook-Id``, as PagerDuty's retries do.
    """
    when = occurred_at or incident.created_at
    event_id = str(uuid.uuid5(_SNS_NS, f"pd-event|{incident.incident_id}|{event_type}|{when.isoformat()}"))
    if event_type == "incident.triggered":
        agent: dict[str, Any] | None = incident._ref(
            "service", "services", incident.service_name, incident.svc_id
        )
    else:
        agent = incident._ref("user", "users", incident.assignees[0] if incident.assignees else "PagerDuty")
    body = {
        "event": {
            "id": event_id,
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": _iso_z(when),
            "agent": agent,
            "client": None,
            "data": incident.data(_EVENT_STATUS.get(event_type)),
        }
    }
    raw = json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "PagerDuty-Webhook/V3.0",
        "X-PagerDuty-Signature": pagerduty_signature(secret, raw),
        "X-Webhook-Id": str(uuid.uuid5(_SNS_NS, "delivery|" + event_id)),
        "X-Webhook-Subscription": subscription_id
        or _pd_id("subscription", incident.subdomain, incident.svc_id),
    }
    return raw, headers


# -- Slack posts by other apps -----------------------------------------------------------------------------------

Shape = Literal["modern", "classic"]
_BRANDS: dict[str, tuple[str, str, str]] = {
    # name -> (bot_id, app_id, bot user id); all made up
    "AWS Chatbot": ("B0AWSCHAT", "A0AWSCHAT", "U0AWSCHAT"),
    "Amazon Q": ("B0AMAZONQ", "A0AMAZONQ", "U0AMAZONQ"),
}
PAGERDUTY_BOT = ("B0PAGERDY", "A0PAGERDY", "U0PAGERDY")
_TEAM = "T0SANDBOX"


def _bot_envelope(
    shape: Shape, name: str, ids: tuple[str, str, str], channel: str, ts: str
) -> dict[str, Any]:
    bot_id, app_id, user_id = ids
    msg: dict[str, Any] = {"type": "message", "text": ""}
    if shape == "classic":
        msg.update({"subtype": "bot_message", "bot_id": bot_id, "username": name, "icons": {"image_48": ""}})
    else:
        msg.update(
            {
                "user": user_id,
                "bot_id": bot_id,
                "app_id": app_id,
                "bot_profile": {
                    "id": bot_id,
                    "deleted": False,
                    "name": name,
                    "updated": 1700000000,
                    "app_id": app_id,
                    "icons": {"image_36": "", "image_48": "", "image_72": ""},
                    "team_id": _TEAM,
                },
                "team": _TEAM,
            }
        )
    msg.update({"ts": ts, "channel": channel, "event_ts": ts, "channel_type": "channel"})
    return msg


def chatbot_alarm_message(
    notice: AlarmNotice,
    channel: str,
    ts: str | None = None,
    *,
    shape: Shape = "modern",
    brand: Literal["AWS Chatbot", "Amazon Q"] = "AWS Chatbot",
) -> dict[str, Any]:
    """The ``event`` of the ``message`` callback when AWS Chatbot / Amazon Q posts this alarm (best-guess content)."""
    ts = ts or _slack_ts(notice.state_change_time + timedelta(seconds=2))
    emoji = ":rotating_light:" if notice.new_state == "ALARM" else ":white_check_mark:"
    title = f"{emoji} CloudWatch Alarm | {notice.alarm_name} | {notice.region} | Account: {notice.account_id}"
    dims = ", ".join(f"{n}={v}" for n, v in notice.dimensions)
    words = _COMPARISON_WORDS.get(notice.comparison, notice.comparison)
    fields = [
        {
            "title": "Threshold",
            "value": f"{notice.statistic} {words} {notice.threshold:g} for "
            f"{notice.evaluation_periods} datapoints within {notice.period * notice.evaluation_periods // 60} minutes",
            "short": False,
        },
        {
            "title": "Metric",
            "value": f"{notice.namespace} {notice.metric_name}" + (f" ({dims})" if dims else ""),
            "short": False,
        },
        {"title": "Alarm state", "value": notice.new_state, "short": True},
        {"title": "Previous state", "value": notice.old_state, "short": True},
    ]
    text = (notice.description + "\n" if notice.description else "") + notice.reason
    attachment = {
        "id": 1,
        "color": "#D13212" if notice.new_state == "ALARM" else "#1D8102",
        "fallback": f"{title} {notice.console_url}",
        "title": title,
        "title_link": notice.console_url,
        "text": text,
        "fields": fields,
        "mrkdwn_in": ["text"],
        "footer": brand,
        "ts": int(notice.state_change_time.timestamp()),
    }
    msg = _bot_envelope(shape, brand, _BRANDS[brand], channel, ts)
    msg["attachments"] = [attachment]
    return msg


def pagerduty_app_message(
    incident: PdIncident, channel: str, ts: str | None = None, shape: Shape = "modern"
) -> dict[str, Any]:
    """The ``event`` of the ``message`` callback when the PagerDuty Slack app posts `incident` (best-guess content)."""
    ts = ts or _slack_ts(incident.created_at + timedelta(seconds=3))
    label = f"[#{incident.number}] {incident.title}"
    status = incident.status.capitalize()
    assigned = ", ".join(incident.assignees) or "nobody"
    color = (
        "#D7263D"
        if incident.status == "triggered"
        else "#F2C744"
        if incident.status == "acknowledged"
        else "#2EB886"
    )
    msg = _bot_envelope(shape, "PagerDuty", PAGERDUTY_BOT, channel, ts)
    if shape == "classic":
        msg["attachments"] = [
            {
                "id": 1,
                "color": color,
                "fallback": f"{status}: {label} {incident.html_url}",
                "title": label,
                "title_link": incident.html_url,
                "fields": [
                    {"title": "Service", "value": incident.service_name, "short": True},
                    {"title": "Urgency", "value": incident.urgency.capitalize(), "short": True},
                    {"title": "Status", "value": status, "short": True},
                    {"title": "Assigned", "value": assigned, "short": True},
                ],
            }
        ]
        return msg
    msg["text"] = f"{status}: {label}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "block_id": "pd_title",
            "text": {"type": "mrkdwn", "text": f"*<{incident.html_url}|{label}>*"},
        },
        {
            "type": "section",
            "block_id": "pd_fields",
            "fields": [
                {"type": "mrkdwn", "text": f"*Service:*\n{incident.service_name}"},
                {"type": "mrkdwn", "text": f"*Urgency:*\n{incident.urgency.capitalize()}"},
                {"type": "mrkdwn", "text": f"*Status:*\n{status}"},
                {"type": "mrkdwn", "text": f"*Assigned:*\n{assigned}"},
            ],
        },
        {
            "type": "actions",
            "block_id": "pd_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "acknowledge",
                    "text": {"type": "plain_text", "text": "Acknowledge"},
                    "value": incident.incident_id,
                },
                {
                    "type": "button",
                    "action_id": "resolve",
                    "text": {"type": "plain_text", "text": "Resolve"},
                    "value": incident.incident_id,
                },
            ],
        },
    ]
    msg["attachments"] = [{"id": 1, "color": color, "fallback": f"{status}: {label}", "blocks": blocks}]
    return msg

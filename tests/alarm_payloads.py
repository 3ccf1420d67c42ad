"""CloudWatch alarm payloads in every documented shape, written from AWS's documentation (never from our parsers).

Shapes and field names follow the documented examples; names, ids and values are our own:

- EventBridge "CloudWatch Alarm State Change" events for single-metric, metric math, anomaly detection and
  composite alarms: CloudWatch user guide, "Alarm events and EventBridge",
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html
- Metrics Insights alarms (a ``SELECT`` query as the alarm's one expression): "Create an alarm on a Metrics
  Insights query", https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-alarms.html
- The Lambda alarm-action payloads (metric and composite): "Invoke a Lambda function from an alarm",
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-actions-Lambda.html
- The classic SNS alarm JSON: "Using Amazon CloudWatch alarms" (AlarmThatSendsEmail.html), built by
  :class:`bot.sandbox.pages.AlarmNotice`.
"""

from __future__ import annotations

import json
from typing import Any

ACCOUNT = "210987654321"
REGION = "eu-west-1"


def _arn(name: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"


def _envelope(event_id: str, name: str, detail: dict[str, Any], at: str) -> dict[str, Any]:
    """The EventBridge envelope around an alarm's detail (the documented top-level fields)."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": ACCOUNT,
        "time": at,
        "region": REGION,
        "resources": [_arn(name)],
        "detail": detail,
    }


def _state(value: str, reason: str, at: str, reason_data: dict[str, Any] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"value": value, "reason": reason, "timestamp": at}
    if reason_data is not None:
        state["reasonData"] = json.dumps(reason_data, separators=(",", ":"))
    return state


def _stat(
    ident: str, namespace: str, name: str, dims: dict[str, str], stat: str, returned: bool
) -> dict[str, Any]:
    return {
        "id": ident,
        "metricStat": {
            "metric": {"dimensions": dims, "name": name, "namespace": namespace},
            "period": 300,
            "stat": stat,
        },
        "returnData": returned,
    }


def single_metric(state: str = "ALARM", previous: str = "OK") -> dict[str, Any]:
    """A single-metric alarm on an SQS queue's oldest message age."""
    name = "checkout-queue-age"
    detail = {
        "alarmName": name,
        "configuration": {
            "description": "Oldest message in the checkout queue is too old",
            "metrics": [
                _stat(
                    "4f2a9c1e-0d3b-4e5f-8a7b-1c2d3e4f5a6b",
                    "AWS/SQS",
                    "ApproximateAgeOfOldestMessage",
                    {"QueueName": "checkout-jobs"},
                    "Maximum",
                    True,
                )
            ],
        },
        "previousState": _state(
            previous,
            "Threshold Crossed: 1 datapoint [12.0] was not greater than 600.0.",
            "2026-03-04T10:00:00.120+0000",
        ),
        "state": _state(
            state,
            "Threshold Crossed: 1 out of the last 1 datapoints [1840.0 (04/03/26 10:10:00)] was greater than the threshold (600.0).",
            "2026-03-04T10:15:02.450+0000",
            {
                "version": "1.0",
                "statistic": "Maximum",
                "period": 300,
                "recentDatapoints": [1840.0],
                "threshold": 600.0,
            },
        ),
    }
    return _envelope("6a1f0c2e-93d4-4b8e-b1a2-0f9e8d7c6b5a", name, detail, "2026-03-04T10:15:02Z")


def metric_math() -> dict[str, Any]:
    """A metric math alarm: an expression over two S3 metrics of one bucket (returned: the expression)."""
    name = "media-bucket-error-rate"
    detail = {
        "alarmName": name,
        "configuration": {
            "description": "5xx share of requests to the media bucket",
            "metrics": [
                {
                    "expression": "100 * errors / requests",
                    "id": "e1",
                    "label": "Error rate",
                    "returnData": True,
                },
                _stat(
                    "errors",
                    "AWS/S3",
                    "5xxErrors",
                    {"BucketName": "acme-media", "FilterId": "all"},
                    "Sum",
                    False,
                ),
                _stat(
                    "requests",
                    "AWS/S3",
                    "AllRequests",
                    {"BucketName": "acme-media", "FilterId": "all"},
                    "Sum",
                    False,
                ),
            ],
        },
        "previousState": _state(
            "INSUFFICIENT_DATA", "Unchecked: Initial alarm creation", "2026-03-04T09:00:00.000+0000"
        ),
        "state": _state(
            "ALARM",
            "Threshold Crossed: 1 out of the last 1 datapoints [7.5 (04/03/26 10:05:00)] was greater than the threshold (5.0).",
            "2026-03-04T10:06:41.100+0000",
            {"version": "1.0", "period": 300, "recentDatapoints": [7.5], "threshold": 5.0},
        ),
    }
    return _envelope("0b7e5d3c-1a2f-4c6d-9e8f-7a6b5c4d3e2f", name, detail, "2026-03-04T10:06:41Z")


def anomaly_detection() -> dict[str, Any]:
    """An anomaly detection alarm on an SNS topic's published messages (a band around one metric)."""
    name = "Orders topic publish anomaly"
    detail = {
        "alarmName": name,
        "state": _state(
            "ALARM",
            "Thresholds Crossed: 1 out of the last 1 datapoints [0.0] was less than the lower thresholds [14.2].",
            "2026-03-04T11:00:04.653+0000",
            {
                "version": "1.0",
                "period": 60,
                "recentDatapoints": [0.0],
                "recentLowerThresholds": [14.2],
                "recentUpperThresholds": [80.1],
            },
        ),
        "previousState": _state(
            "OK",
            "Thresholds Crossed: 1 out of the last 1 datapoints was not outside the band.",
            "2026-03-04T10:59:04.672+0000",
        ),
        "configuration": {
            "description": "Order events stopped flowing",
            "metrics": [
                _stat(
                    "m1", "AWS/SNS", "NumberOfMessagesPublished", {"TopicName": "order-events"}, "Sum", True
                ),
                {
                    "id": "ad1",
                    "expression": "ANOMALY_DETECTION_BAND(m1, 2)",
                    "label": "NumberOfMessagesPublished (expected)",
                    "returnData": True,
                },
            ],
        },
    }
    return _envelope("9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", name, detail, "2026-03-04T11:00:04Z")


def composite() -> dict[str, Any]:
    """A composite alarm over two children (one an ARN in the rule), with an actions suppressor."""
    name = "checkout-degraded"
    triggering = {
        "triggeringAlarms": [
            {
                "arn": _arn("checkout-queue-age"),
                "state": {"value": "ALARM", "timestamp": "2026-03-04T10:15:02.450+0000"},
            }
        ]
    }
    detail = {
        "alarmName": name,
        "state": {
            **_state(
                "ALARM",
                f"{_arn('checkout-queue-age')} transitioned to ALARM at Wednesday 04 March, 2026 10:15:02 UTC",
                "2026-03-04T10:15:03.001+0000",
                triggering,
            ),
            "actionsSuppressedBy": "WaitPeriod",
            "actionsSuppressedReason": "Actions suppressed by WaitPeriod",
        },
        "previousState": _state("OK", "all children OK", "2026-03-04T09:12:00.000+0000"),
        "configuration": {
            "alarmRule": f'ALARM("checkout-queue-age") OR ALARM({_arn("checkout-5xx")})',
            "actionsSuppressor": "checkout-maintenance",
            "actionsSuppressorWaitPeriod": 120,
            "actionsSuppressorExtensionPeriod": 180,
        },
    }
    return _envelope("3e2d1c0b-9a8f-4e7d-a6c5-b4a39281706f", name, detail, "2026-03-04T10:15:03Z")


def metrics_insights() -> dict[str, Any]:
    """A Metrics Insights alarm: one SELECT over a Lambda function's errors."""
    name = "payments-fn-errors-insights"
    query = (
        'SELECT SUM(Errors) FROM SCHEMA("AWS/Lambda", FunctionName) '
        "WHERE FunctionName = 'payments-capture' GROUP BY FunctionName ORDER BY SUM() DESC LIMIT 10"
    )
    detail = {
        "alarmName": name,
        "configuration": {
            "description": "Errors of the capture function",
            "metrics": [
                {"id": "q1", "expression": query, "period": 60, "label": "errors", "returnData": True}
            ],
        },
        "previousState": _state(
            "OK", "Threshold Crossed: no datapoint above 5.0", "2026-03-04T12:00:00.000+0000"
        ),
        "state": _state(
            "ALARM",
            "Threshold Crossed: 1 datapoint [31.0] was greater than the threshold (5.0).",
            "2026-03-04T12:03:00.000+0000",
        ),
    }
    return _envelope("7d6c5b4a-3f2e-4d1c-b0a9-8f7e6d5c4b3a", name, detail, "2026-03-04T12:03:00Z")


def lambda_action_metric() -> dict[str, Any]:
    """The payload an alarm's Lambda action invokes its function with, for a metric alarm."""
    name = "web-fleet-status-check"
    return {
        "source": "aws.cloudwatch",
        "alarmArn": _arn(name),
        "accountId": ACCOUNT,
        "time": "2026-03-04T13:36:15.490+0000",
        "region": REGION,
        "alarmData": {
            "alarmName": name,
            "state": _state(
                "ALARM",
                "Threshold Crossed: 2 datapoints were greater than 0.0",
                "2026-03-04T13:36:15.490+0000",
            ),
            "previousState": _state(
                "OK",
                "Threshold Crossed: no datapoint above 0.0",
                "2026-03-04T13:31:29.595+0000",
                {
                    "version": "1.0",
                    "statistic": "Maximum",
                    "period": 60,
                    "recentDatapoints": [],
                    "threshold": 0.0,
                },
            ),
            "configuration": {
                "description": "An instance of the web fleet fails its status checks",
                "metrics": [
                    _stat(
                        "1234e046-06f0-a3da-9534-0example0001",
                        "AWS/EC2",
                        "StatusCheckFailed",
                        {"InstanceId": "i-0abc1234def567890"},
                        "Maximum",
                        True,
                    )
                ],
            },
        },
    }


def lambda_action_composite() -> dict[str, Any]:
    """The Lambda action payload for a composite alarm."""
    name = "web-composite"
    return {
        "source": "aws.cloudwatch",
        "alarmArn": _arn(name),
        "accountId": ACCOUNT,
        "time": "2026-03-04T13:40:00.000+0000",
        "region": REGION,
        "alarmData": {
            "alarmName": name,
            "state": _state(
                "ALARM",
                f"{_arn('web-fleet-status-check')} transitioned to ALARM at Wednesday 04 March, 2026 13:36:15 UTC",
                "2026-03-04T13:40:00.000+0000",
                {
                    "triggeringAlarms": [
                        {
                            "arn": _arn("web-fleet-status-check"),
                            "state": {"value": "ALARM", "timestamp": "2026-03-04T13:36:15.490+0000"},
                        }
                    ]
                },
            ),
            "previousState": _state("OK", "all children OK", "2026-03-04T13:00:00.000+0000"),
            "configuration": {
                "alarmRule": 'ALARM("web-fleet-status-check") AND NOT ALARM("web-maintenance")',
                "actionsSuppressor": "web-maintenance",
                "actionsSuppressorWaitPeriod": 60,
                "actionsSuppressorExtensionPeriod": 60,
            },
        },
    }


#: Every documented alarm-event shape, by name.
EVENTS = {
    "single-metric": single_metric,
    "metric-math": metric_math,
    "anomaly-detection": anomaly_detection,
    "composite": composite,
    "metrics-insights": metrics_insights,
    "lambda-action-metric": lambda_action_metric,
    "lambda-action-composite": lambda_action_composite,
}

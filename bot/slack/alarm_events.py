"""Read CloudWatch alarm state changes in the event shapes AWS sends them, for every kind of alarm.

Two documented shapes carry the same alarm description:

- the EventBridge event ``detail-type: CloudWatch Alarm State Change`` (``source: aws.cloudwatch``; the alarm in
  ``detail``, its ARN in ``resources``), delivered to an API destination or as the ``Message`` of an SNS
  notification (CloudWatch user guide, "Alarm events and EventBridge",
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html);
- the event an alarm's Lambda action invokes its function with (``alarmArn``, ``accountId``, ``alarmData``;
  "Invoke a Lambda function from an alarm",
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-actions-Lambda.html).

Their ``configuration`` says what the alarm is made of: ``metrics`` (a metric stat for single-metric alarms;
metric stats and expressions for metric math and anomaly detection; a ``SELECT`` query for Metrics Insights)
or, for a composite alarm, an ``alarmRule`` naming child alarms, the ones that triggered it listed in the
state's ``reasonData``. The classic SNS alarm JSON (``AlarmName``, ``NewStateValue``, ``Trigger``) is read
by :func:`bot.slack.parsers.read_sns_alarm`; :func:`read_alarm_notification` takes any of them.

Every reader is total: it returns a page or None (:func:`read_alarm_event`) or a page marked unreadable
(``facts["error"]``), never an exception.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.domain import Page, PageSource
from bot.slack.parsers import (
    _ALARM_ARN,
    ParsedPage,
    _get,
    _list,
    _parse_time,
    _region_from,
    _s,
    _service_from_dimensions,
    _state,
    _unwrap_sns,
    _utc,
    read_sns_alarm,
)

#: The EventBridge detail types of alarm state changes (a Metrics Insights alarm's time series, each a
#: "contributor", change state on their own).
ALARM_DETAIL_TYPES = ("CloudWatch Alarm State Change", "CloudWatch Alarm Contributor State Change")
_MAX_PARTS = 20
_RULE_CHILD = re.compile(
    r"\b(?:ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(\"[^\"]{1,1600}\"|[^\s()\"]{1,1600})\s*\)"
)
_SELECT = re.compile(
    r"SELECT\s+\w+\s*\(\s*\"?([^\s\")]+)\"?\s*\)\s+FROM\s+(?:SCHEMA\s*\(\s*\"?([^\",)]+)\"?[^)]*\)|\"?([^\s\"]+)\"?)",
    re.IGNORECASE,
)
_WHERE_EQ = re.compile(r"\b([A-Za-z][\w.:-]{0,63})\s*=\s*'([^']{1,255})'")
_TAG_SERVICE_KEYS = ("service", "Service", "app", "App", "application", "Application")


def is_alarm_event(payload: Any) -> bool:
    """Whether `payload` is an alarm state change in the EventBridge or the Lambda alarm-action shape."""
    if not isinstance(payload, Mapping) or _s(payload.get("source")) != "aws.cloudwatch":
        return False
    if isinstance(payload.get("alarmData"), Mapping):
        return True
    return _s(payload.get("detail-type")) in ALARM_DETAIL_TYPES and isinstance(payload.get("detail"), Mapping)


def event_delivery_id(event: Mapping[str, Any]) -> str:
    """The id a delivery of `event` is deduplicated on: the EventBridge event id; for the Lambda shape (which has
    none) a digest of the alarm, its new state and that state's time."""
    event_id = _s(event.get("id"))
    if event_id:
        return event_id
    data = event.get("alarmData")
    key = "|".join(
        (
            _s(event.get("alarmArn")),
            _s(_get(data, "state", "value")),
            _s(_get(data, "state", "timestamp")) or _s(event.get("time")),
        )
    )
    return "alarm-action-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def read_alarm_event(event: Any, received_at: datetime | None = None) -> ParsedPage | None:
    """The page for an alarm state-change event (either shape), or None when `event` is not one."""
    if not is_alarm_event(event):
        return None
    received = _utc(received_at) if isinstance(received_at, datetime) else datetime.now(UTC)
    try:
        return _read_event(event, received)
    except Exception:  # untrusted input must never take the endpoint down
        return None


def read_alarm_notification(payload: Any, received_at: datetime | None = None) -> ParsedPage:
    """The page for an SNS alarm notification whose message is the classic alarm JSON or an alarm event.

    Takes the SNS envelope, its ``Message`` text, or a Lambda ``Records[].Sns`` event. A message that names no
    alarm gives a page marked unreadable: ``facts["error"]`` says why.
    """
    received = _utc(received_at) if isinstance(received_at, datetime) else datetime.now(UTC)
    inner, _subject = _unwrap_sns(payload)
    if is_alarm_event(inner):
        parsed = read_alarm_event(inner, received)
        if parsed is not None and parsed.page.alarm_name:
            return parsed
        return _unreadable(received, "the alarm event names no alarm")
    parsed = read_sns_alarm(payload, received)
    if "error" in parsed.facts:
        return parsed
    if not parsed.page.alarm_name:
        return _unreadable(received, "the message names no alarm (no AlarmName, no Subject naming one)")
    return parsed


def _unreadable(received: datetime, reason: str) -> ParsedPage:
    page = Page(source=PageSource.CLOUDWATCH, title="Unreadable alarm notification", fired_at=received)
    return ParsedPage(page, {"error": reason})


# -- the event -----------------------------------------------------------------------------------------------------


def _read_event(event: Mapping[str, Any], received: datetime) -> ParsedPage | None:
    action = isinstance(event.get("alarmData"), Mapping)
    data: Mapping[str, Any] = event["alarmData"] if action else event["detail"]
    arn = _s(event.get("alarmArn")) if action else next((_s(r) for r in _list(event.get("resources"))), "")
    arn_match = _ALARM_ARN.search(arn) if arn else None
    name = _s(data.get("alarmName")).strip() or _name_from_arn(arn)
    if not name:
        return None
    region = _region_from(_s(event.get("region"))) or (
        _region_from(arn_match.group(1)) if arn_match else None
    )
    account = _s(event.get("accountId") if action else event.get("account"))
    if not account.isdigit() and arn_match and arn_match.group(2).isdigit():
        account = arn_match.group(2)
    config = data.get("configuration") if isinstance(data.get("configuration"), Mapping) else {}
    namespace, metric, dims, parts = _metrics(_list(_get(config, "metrics")))
    contributor = _get(data, "alarmContributor", "attributes")
    if isinstance(contributor, Mapping):
        dims.update({_s(k)[:255]: _s(v)[:1024] for k, v in list(contributor.items())[:30] if _s(k)})
    rule = _s(_get(config, "alarmRule"))
    if rule:
        parts = _children(rule, _s(_get(data, "state", "reasonData"))) + parts
    state = _state(_s(_get(data, "state", "value")))
    fired_at = _parse_time(_get(data, "state", "timestamp")) or _parse_time(event.get("time")) or received
    tags = data.get("alarmTags")
    page = Page(
        source=PageSource.CLOUDWATCH,
        title=name[:500],
        fired_at=fired_at,
        alarm_name=name[:255],
        state=state,
        service_hint=_tag_service(tags) or _service_from_dimensions(dims),
        metric=metric,
        namespace=namespace,
        dimensions=dims,
        links=[_console_link(name, region)] if region else [],
        region=region,
        previous_state=_state(_s(_get(data, "previousState", "value"))),
        account=account if account.isdigit() else None,
        reason=_s(_get(data, "state", "reason"))[:2000] or None,
        parts=parts[:_MAX_PARTS],
    )
    facts = {
        "account": page.account or "",
        "state_reason": page.reason or "",
        "old_state": page.previous_state or "",
        "alarm_arn": arn,
        "description": _s(_get(config, "description"))[:2000],
        "alarm_rule": rule[:2000],
        "shape": "alarm-action" if action else "eventbridge",
    }
    return ParsedPage(page, {k: v for k, v in facts.items() if v})


def _console_link(name: str, region: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#alarmsV2:alarm/{urllib.parse.quote(name, safe='')}"
    )


def _tag_service(tags: Any) -> str | None:
    """The service the alarm's own tags name (propagated with ``alarmTags``), if they name one."""
    if not isinstance(tags, Mapping):
        return None
    for key in _TAG_SERVICE_KEYS:
        if value := _s(tags.get(key)).strip():
            return value[:255]
    return None


def _dims(raw: Any) -> dict[str, str]:
    """Dimensions as the events give them (an object), or as the API does (a list of name/value pairs)."""
    if isinstance(raw, Mapping):
        return {_s(k)[:255]: _s(v)[:1024] for k, v in list(raw.items())[:30] if _s(k)}
    out: dict[str, str] = {}
    for item in _list(raw)[:30]:
        if isinstance(item, Mapping):
            key = _s(item.get("name") or item.get("Name"))
            if key:
                out[key[:255]] = _s(item.get("value") or item.get("Value"))[:1024]
    return out


def _metrics(items: list[Any]) -> tuple[str | None, str | None, dict[str, str], list[str]]:
    """The alarm's namespace, metric and dimensions (its first metric stat, the returned one first, else its
    Metrics Insights query), and one line per metric or expression."""
    stats: list[tuple[bool, str, str, dict[str, str]]] = []
    query: tuple[str, str, dict[str, str]] | None = None
    parts: list[str] = []
    for item in items[:_MAX_PARTS]:
        if not isinstance(item, Mapping):
            continue
        ident = _s(item.get("id"))[:64]
        metric = _get(item, "metricStat", "metric")
        if isinstance(metric, Mapping):
            ns, name, dims = (
                _s(metric.get("namespace")),
                _s(metric.get("name")),
                _dims(metric.get("dimensions")),
            )
            stats.append((item.get("returnData") is True, ns, name, dims))
            stat, period = _s(_get(item, "metricStat", "stat")), _s(_get(item, "metricStat", "period"))
            where = ", ".join(f"{k}={v}" for k, v in dims.items())
            parts.append(f"{ident}: {ns} {name} ({where}) {stat} over {period}s".replace(" ()", ""))
            continue
        expression = _s(item.get("expression")).strip()
        if expression:
            parts.append(f"{ident}: {expression[:500]}")
            if query is None and (found := _insights_query(expression)) is not None:
                query = found
    stats.sort(key=lambda s: not s[0])
    if stats:
        _, ns, name, dims = stats[0]
        return ns or None, name or None, dims, parts
    if query is not None:
        return query[0] or None, query[1] or None, query[2], parts
    return None, None, {}, parts


def _insights_query(expression: str) -> tuple[str, str, dict[str, str]] | None:
    """Namespace, metric and the dimensions a Metrics Insights ``SELECT`` filters on, or None."""
    m = _SELECT.search(expression)
    if not m:
        return None
    namespace = (m.group(2) or m.group(3) or "").strip()
    where = expression[m.end() :]
    where = re.split(r"\b(?:GROUP|ORDER)\s+BY\b|\bLIMIT\b", where, maxsplit=1, flags=re.IGNORECASE)[0]
    return namespace, m.group(1), dict(_WHERE_EQ.findall(where)[:30])


def _name_from_arn(arn: str) -> str:
    """The alarm name an alarm ARN ends with (names may hold spaces and colons), or ''."""
    head, sep, name = arn.partition(":alarm:")
    return name.strip() if sep and head.startswith("arn:") else ""


def _children(rule: str, reason_data: str) -> list[str]:
    """A composite alarm's children, one line each: those that triggered it (with their state) first."""
    triggering: dict[str, str] = {}
    try:
        data = json.loads(reason_data) if reason_data else {}
    except (ValueError, RecursionError):
        data = {}
    for item in _list(_get(data, "triggeringAlarms")):
        child = _name_from_arn(_s(_get(item, "arn")))
        if child:
            triggering[child] = _s(_get(item, "state", "value")) or "ALARM"
    names: list[str] = list(triggering)
    for token in _RULE_CHILD.findall(rule):
        token = token.strip('"')
        child = _name_from_arn(token) or token
        if child and child not in names:
            names.append(child)
    return [
        f"child alarm {child}" + (f" ({triggering[child]}, triggered this)" if child in triggering else "")
        for child in names[:_MAX_PARTS]
    ]


# -- a PagerDuty incident's first alert -------------------------------------------------------------------------


def _details(body: Mapping[str, Any]) -> Any:
    """An alert body's details: ``details``, else ``cef_details.details``; JSON text is parsed."""
    details = body.get("details")
    if not isinstance(details, Mapping | str) or not details:
        details = _get(body, "cef_details", "details")
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except (ValueError, RecursionError):
            return None
    return details if isinstance(details, Mapping) else None


def enrich_from_alert(parsed: ParsedPage, body: Mapping[str, Any]) -> ParsedPage:
    """`parsed` (a PagerDuty incident) completed with what its first alert's body says: the alarm's name, region,
    metric and dimensions when the body is a CloudWatch alarm (PagerDuty's CloudWatch integration stores the
    notification there) or an alarm event. The incident's own title, state, ids and service stay."""
    details = _details(body)
    if details is None:
        return parsed
    alarm: ParsedPage | None = None
    if is_alarm_event(details):
        alarm = read_alarm_event(details, parsed.page.fired_at)
    elif _s(details.get("AlarmName")):
        alarm = read_sns_alarm(details, parsed.page.fired_at)
    if alarm is None or not alarm.page.alarm_name:
        return _with_resources(parsed, body, details)
    a = alarm.page
    update = {
        "alarm_name": a.alarm_name,
        "region": a.region or parsed.page.region,
        "metric": a.metric,
        "namespace": a.namespace,
        "dimensions": a.dimensions,
        "previous_state": a.previous_state or alarm.facts.get("old_state"),
        "account": a.account or alarm.facts.get("account"),
        "reason": a.reason or alarm.facts.get("state_reason"),
        "parts": a.parts,
        "service_hint": parsed.page.service_hint or a.service_hint,
    }
    facts = {**alarm.facts, **parsed.facts, "alert_body": "cloudwatch"}
    facts.pop("alarm_prefix", None)
    return ParsedPage(parsed.page.model_copy(update=update), facts)


_CEF_RESOURCES = (
    ("source_location", "source"),
    ("source_component", "component"),
    ("source_origin", "origin"),
)


def _with_resources(parsed: ParsedPage, body: Mapping[str, Any], details: Mapping[str, Any]) -> ParsedPage:
    """Another monitor's alert: its source (``cef_details``) and the scalar custom details become the page's
    dimensions, for the estate to be searched with (they name hosts, instances, buckets, ...)."""
    dims: dict[str, str] = {}
    for key, name in _CEF_RESOURCES:
        if value := _s(_get(body, "cef_details", key)).strip():
            dims[name] = value[:255]
    for key, value in list(details.items())[:30]:
        text = _s(value).strip()
        if _s(key) and text and len(_s(key)) <= 64 and len(text) <= 255:
            dims.setdefault(_s(key), text)
    if not dims:
        return parsed
    merged = {**dims, **parsed.page.dimensions}
    return ParsedPage(
        parsed.page.model_copy(update={"dimensions": dict(list(merged.items())[:30])}), parsed.facts
    )

"""Recognise pages: Slack posts by PagerDuty and AWS Chatbot / Amazon Q, SNS alarm JSON, PagerDuty webhooks.

Slack delivers other apps' posts in two shapes: classic (``subtype: bot_message``, ``username``, ``bot_id``,
``attachments``) and modern (``bot_id``, ``app_id``, ``bot_profile``, no subtype, ``blocks`` and/or
``attachments``). The content PagerDuty and AWS post is not documented, so the Slack parser reads every text
a message carries (``text``, attachments' ``pretext``/``title``/``text``/``fallback``/``fields``, blocks'
section text and fields, context elements and rich text) and looks for facts rather than layout: an
incident number and link, an alarm name, ARN or console link, a state, a region, an account. The SNS and
webhook parsers read documented JSON.

Every parser is total: any input gives a page or None, never an exception. States are normalised to
``ALARM`` / ``OK`` / ``INSUFFICIENT_DATA`` for alarms; PagerDuty incidents map triggered (and reopened,
escalated, ...) to ``ALARM``, acknowledged to ``ACKNOWLEDGED`` and resolved to ``OK``. Resolved and OK
messages are parsed, not dropped: the caller decides what to do with them.

Facts that :class:`~bot.domain.Page` has no field for (account id, state reason, alarm ARN, PagerDuty
urgency/priority/status, webhook event type) are returned by the ``read_*`` variants in ``ParsedPage.facts``.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.domain import Page, PageSource

#: Long region names as CloudWatch writes them in ``Region`` and ``Subject`` (normalised by :func:`_norm`).
_REGION_LONG_NAMES: dict[str, str] = {
    "US East (N. Virginia)": "us-east-1",
    "US East (Ohio)": "us-east-2",
    "US West (N. California)": "us-west-1",
    "US West (Oregon)": "us-west-2",
    "Africa (Cape Town)": "af-south-1",
    "Asia Pacific (Hong Kong)": "ap-east-1",
    "Asia Pacific (Hyderabad)": "ap-south-2",
    "Asia Pacific (Jakarta)": "ap-southeast-3",
    "Asia Pacific (Melbourne)": "ap-southeast-4",
    "Asia Pacific (Malaysia)": "ap-southeast-5",
    "Asia Pacific (Mumbai)": "ap-south-1",
    "Asia Pacific (Osaka)": "ap-northeast-3",
    "Asia Pacific (Seoul)": "ap-northeast-2",
    "Asia Pacific (Singapore)": "ap-southeast-1",
    "Asia Pacific (Sydney)": "ap-southeast-2",
    "Asia Pacific (Tokyo)": "ap-northeast-1",
    "Canada (Central)": "ca-central-1",
    "Canada West (Calgary)": "ca-west-1",
    "EU (Frankfurt)": "eu-central-1",
    "EU (Zurich)": "eu-central-2",
    "EU (Ireland)": "eu-west-1",
    "EU (London)": "eu-west-2",
    "EU (Paris)": "eu-west-3",
    "EU (Milan)": "eu-south-1",
    "EU (Spain)": "eu-south-2",
    "EU (Stockholm)": "eu-north-1",
    "Israel (Tel Aviv)": "il-central-1",
    "Middle East (Bahrain)": "me-south-1",
    "Middle East (UAE)": "me-central-1",
    "Mexico (Central)": "mx-central-1",
    "South America (Sao Paulo)": "sa-east-1",
    "AWS GovCloud (US-East)": "us-gov-east-1",
    "AWS GovCloud (US-West)": "us-gov-west-1",
    "China (Beijing)": "cn-north-1",
    "China (Ningxia)": "cn-northwest-1",
}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower().replace("europe", "eu"))


_REGION_BY_NORM = {_norm(k): v for k, v in _REGION_LONG_NAMES.items()}

_MAX_STRING = 20_000
_MAX_STRINGS = 400
_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")

_REGION_CODE = re.compile(
    r"\b((?:us|eu|ap|sa|ca|me|af|il|cn|mx)(?:-gov)?-(?:north|south|east|west|central|northeast|southeast|northwest|southwest)-\d)\b"
)
_SLACK_LINK = re.compile(r"<((?:https?|mailto):[^|>\s]+)(?:\|([^>]*))?>")
_BARE_URL = re.compile(r"https?://[^\s<>|\"'`]+")
_PD_INCIDENT_URL = re.compile(r"https://[\w.-]*pagerduty\.com/incidents/([A-Za-z0-9]+)")
_PD_NUMBER = re.compile(r"\[#(\d{1,9})\]|\bIncident\s*#\s*(\d{1,9})\b", re.IGNORECASE)
_ALARM_ARN = re.compile(r"arn:aws[\w-]*:cloudwatch:([\w-]*):(\d{12}|[\w-]*):alarm:([^\s\"'<>|,]+)")
_CONSOLE_ALARM = re.compile(
    r"#alarmsV2:alarm/([^?&#\s]+)|alarmFilter=[A-Za-z_]*;name=([^&#\s;]+)|#alarm:name=([^&#\s;]+)"
)
_SUBJECT = re.compile(r'\b(ALARM|OK|INSUFFICIENT_DATA)\s*:\s*"([^"]{1,255})"(?:\s+in\s+([^\n|]+))?')
_ACCOUNT = re.compile(r"\bAccount(?:\s*ID)?\s*[:#]?\s*(\d{12})\b", re.IGNORECASE)
_FIELD_LINE = re.compile(r"^\s*\*?([A-Za-z][A-Za-z /_-]{0,30}?)\*?\s*:\s*\*?\s*(.+?)\s*$")
_DIMENSION = re.compile(r"([A-Za-z][\w.:-]{0,63})\s*=\s*([^,()\s]+)")
_SEVERITY = re.compile(r"\b(sev[- ]?[0-5]|p[0-5]|critical|crit|major|minor|warning)\b", re.IGNORECASE)
_STATE_WORD = r"`?\*?(OK|ALARM|INSUFFICIENT[_ ]DATA)\*?`?"
_FROM_TO = re.compile(rf"\bfrom\s+{_STATE_WORD}\s+to\s+{_STATE_WORD}", re.IGNORECASE)

#: Dimensions that name a service (or the resource that best stands for one), in order of preference.
_SERVICE_DIMENSIONS = (
    "ServiceName",
    "FunctionName",
    "AutoScalingGroupName",
    "TableName",
    "QueueName",
    "DBInstanceIdentifier",
    "DBClusterIdentifier",
    "TargetGroup",
    "LoadBalancer",
    "ApiName",
    "StateMachineArn",
    "ClusterName",
)
_PD_STATUS = {
    "triggered": "ALARM",
    "reopened": "ALARM",
    "unacknowledged": "ALARM",
    "escalated": "ALARM",
    "acknowledged": "ACKNOWLEDGED",
    "resolved": "OK",
}


@dataclass(frozen=True)
class ParsedPage:
    """A page plus the facts :class:`~bot.domain.Page` has no field for (``account``, ``state_reason``, ...)."""

    page: Page
    facts: dict[str, str] = field(default_factory=dict)


# -- small tolerant helpers --------------------------------------------------------------------------------------


def _s(value: Any) -> str:
    """A string for `value` if it is a scalar, else ''."""
    if isinstance(value, str):
        return value[:_MAX_STRING]
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return ""


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _list(value: Any) -> list[Any]:
    return value[:200] if isinstance(value, list) else []


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_time(value: Any) -> datetime | None:
    """ISO 8601 (``Z``, ``+0000`` or ``+00:00``) or epoch seconds; None when unreadable."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if 0 < value < 1e11:
                return datetime.fromtimestamp(float(value), UTC)
            return None
        text = _s(value).strip()
        if not text:
            return None
        if re.fullmatch(r"\d{9,10}(?:\.\d+)?", text):
            return datetime.fromtimestamp(float(text), UTC)
        text = re.sub(r"Z$", "+00:00", text)
        text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
        return _utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError, OSError):
        return None


def _region_from(text: str) -> str | None:
    if not text:
        return None
    code = _REGION_CODE.search(text)
    if code:
        return code.group(1)
    key = _norm(text)
    if key in _REGION_BY_NORM:
        return _REGION_BY_NORM[key]
    for long_key, region in _REGION_BY_NORM.items():
        if long_key and long_key in key:
            return region
    return None


def _state(text: str) -> str | None:
    t = text.strip().upper().replace(" ", "_")
    if t in _STATES:
        return t
    if t in ("INSUFFICIENT", "INSUFFICIENT_DATA_"):
        return "INSUFFICIENT_DATA"
    low = text.strip().lower()
    if low in _PD_STATUS:
        return _PD_STATUS[low]
    return None


def _dimensions(text: str) -> dict[str, str]:
    return {k: v for k, v in _DIMENSION.findall(text)[:20]}


def _service_from_dimensions(dims: Mapping[str, str]) -> str | None:
    for key in _SERVICE_DIMENSIONS:
        value = dims.get(key)
        if not value:
            continue
        if key in ("TargetGroup", "LoadBalancer"):  # targetgroup/<name>/<id>, app/<name>/<id>
            parts = value.split("/")
            return parts[1] if len(parts) >= 2 and parts[1] else value
        if key == "StateMachineArn":
            return value.rsplit(":", 1)[-1]
        return value
    return None


def _severity_from(text: str) -> str | None:
    m = _SEVERITY.search(text)
    return m.group(1).lower().replace(" ", "") if m else None


def _clean_url(url: str) -> str | None:
    url = url.strip().rstrip(".,;)")
    if not url.startswith(("https://", "http://")) or len(url) > 2000:
        return None
    return url


def _dedupe(items: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item and item not in out:
            out.append(item)
    return out


# -- CloudWatch titles as PagerDuty writes them ------------------------------------------------------------------

_CW_TITLE = re.compile(
    r"^\W{0,3}(?:\[#\d{1,9}\]\s*)?(ALARM|OK|INSUFFICIENT_DATA)\s*:\s*(.{1,1024}?)\s*$", re.DOTALL
)
_CUT = re.compile(r"\s*(?:\.\.\.|\u2026)$")


@dataclass(frozen=True)
class CloudWatchTitle:
    """What a CloudWatch-integration incident title says: the state, the alarm's name (None when the title was cut
    inside it), the region when the title still holds it, and the `prefix` the name starts with."""

    state: str
    name: str | None
    region: str | None
    prefix: str


def _region_tail(tail: str, cut: bool) -> str | None:
    """The region `tail` names in full, or (when the title was `cut`) the one region it can only be the start of."""
    tail = tail.strip()
    if _REGION_CODE.fullmatch(tail):
        return tail
    key = _norm(tail)
    if key in _REGION_BY_NORM:
        return _REGION_BY_NORM[key]
    if cut and len(key) >= 2:
        starts = {region for long_key, region in _REGION_BY_NORM.items() if long_key.startswith(key)}
        return starts.pop() if len(starts) == 1 else None
    return None


def cloudwatch_title(title: str) -> CloudWatchTitle | None:
    """Read ``ALARM: "name" in Region`` as PagerDuty's CloudWatch integration titles incidents: quoted or not, with
    or without the region, cut with "..." anywhere. None when `title` is not such a title."""
    m = _CW_TITLE.match(title.strip().splitlines()[0] if title.strip() else "")
    if not m:
        return None
    state, rest = m.group(1), m.group(2)
    cut = bool(_CUT.search(rest))
    rest = _CUT.sub("", rest)
    if rest.startswith('"'):
        name, closed, after = rest[1:].partition('"')
        tail = re.sub(r"^\s*in\s+", "", after) if closed else ""
        region = _region_tail(tail, cut) if tail else None
        return CloudWatchTitle(state, name if closed else None, region, name)
    for at in [i.start() for i in re.finditer(r"\s+in\s+", rest)][::-1]:
        region = _region_tail(re.sub(r"^\s+in\s+", "", rest[at:]), cut)
        if region:
            return CloudWatchTitle(state, rest[:at].strip(), region, rest[:at].strip())
    return CloudWatchTitle(state, None if cut else rest.strip(), None, rest.strip())


# -- reading a Slack message -------------------------------------------------------------------------------------


@dataclass
class _Content:
    """Everything a Slack message says, flattened: texts in order, title/value fields, links, times."""

    texts: list[str] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    colors: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def add_text(self, raw: Any) -> None:
        text = _s(raw)
        if not text.strip() or len(self.texts) >= _MAX_STRINGS:
            return
        for m in _SLACK_LINK.finditer(text):
            if url := _clean_url(m.group(1)):
                self.links.append(url)
        plain = _SLACK_LINK.sub(lambda m: m.group(2) if m.group(2) else m.group(1), text)
        for m in _BARE_URL.finditer(plain):
            if url := _clean_url(m.group(0)):
                self.links.append(url)
        plain = plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        self.texts.append(plain)
        field_match = re.fullmatch(r"\s*\*([^*\n]{1,40}?):?\*:?\s*\n\s*(.+?)\s*", plain, re.DOTALL)
        if field_match:
            self.fields.append((field_match.group(1).strip(), field_match.group(2).strip()))
            return
        for line in plain.splitlines()[:50]:
            line_match = _FIELD_LINE.match(line)
            if line_match and not line_match.group(2).startswith("//"):
                self.fields.append((line_match.group(1).strip(), line_match.group(2).strip()))

    def add_link(self, raw: Any) -> None:
        if url := _clean_url(_s(raw)):
            self.links.append(url)

    @property
    def joined(self) -> str:
        return "\n".join(self.texts)

    def field(self, *names: str) -> str | None:
        for name in names:
            for title, value in self.fields:
                if title.lower().rstrip(":").strip() == name.lower() and value:
                    return value
        return None


def _walk_block(block: Any, out: _Content, depth: int = 0) -> None:
    if depth > 8 or not isinstance(block, Mapping):
        return
    btype = block.get("type")
    text = block.get("text")
    if isinstance(text, Mapping):
        out.add_text(text.get("text"))
    elif btype in ("text", "mrkdwn", "plain_text") or isinstance(text, str):
        out.add_text(text)
    if btype == "link":
        out.add_link(block.get("url"))
    if btype == "button":
        out.add_link(block.get("url"))
    for f in _list(block.get("fields")):
        if isinstance(f, Mapping):
            out.add_text(f.get("text"))
    accessory = block.get("accessory")
    if isinstance(accessory, Mapping):
        _walk_block(accessory, out, depth + 1)
    for element in _list(block.get("elements")):
        _walk_block(element, out, depth + 1)


def _read_message(event: Mapping[str, Any]) -> _Content:
    out = _Content()
    out.add_text(event.get("text"))
    for block in _list(event.get("blocks")):
        _walk_block(block, out)
    for att in _list(event.get("attachments")):
        if not isinstance(att, Mapping):
            continue
        for key in ("pretext", "author_name", "title", "text"):
            out.add_text(att.get(key))
        out.add_link(att.get("title_link"))
        out.add_link(att.get("from_url"))
        for f in _list(att.get("fields")):
            if isinstance(f, Mapping):
                title, value = _s(f.get("title")), _s(f.get("value"))
                if title and value:
                    before = len(out.texts)
                    out.add_text(value)
                    if len(out.texts) > before:
                        out.fields.append((title.strip(), out.texts[-1].strip()))
        for block in _list(att.get("blocks")):
            _walk_block(block, out)
        for action in _list(att.get("actions")):
            if isinstance(action, Mapping):
                out.add_link(action.get("url"))
        out.add_text(att.get("footer"))
        out.add_text(att.get("fallback"))
        if t := _parse_time(att.get("ts")):
            out.times.append(t)
        if color := _s(att.get("color")):
            out.colors.append(color.lower())
        for key in ("footer", "author_name", "service_name"):
            if name := _s(att.get(key)):
                out.names.append(name)
    out.links = _dedupe(out.links)
    return out


def _sender_name(event: Mapping[str, Any]) -> str:
    return " ".join(
        n for n in (_s(event.get("username")), _s(_get(event, "bot_profile", "name"))) if n
    ).lower()


def _is_bot(event: Mapping[str, Any]) -> bool:
    return (
        bool(event.get("bot_id")) or event.get("subtype") == "bot_message" or bool(event.get("bot_profile"))
    )


def read_page_message(
    event: Mapping[str, Any], received_at: datetime, *, own_bot_ids: Collection[str] = ()
) -> ParsedPage | None:
    """Like :func:`parse_page_message`, with the facts :class:`Page` has no field for."""
    try:
        return _read_page_message(event, received_at, own_bot_ids)
    except Exception:  # a parser of untrusted input must never take the listener down
        return None


def parse_page_message(
    event: Mapping[str, Any], received_at: datetime, *, own_bot_ids: Collection[str] = ()
) -> Page | None:
    """The page a Slack ``message`` event announces, or None when it is not a PagerDuty / CloudWatch page.

    Accepts classic (``subtype: bot_message``) and modern (``bot_profile``) bot messages and
    ``message_changed`` edits of them; ignores people's messages and bots in `own_bot_ids`.
    """
    parsed = read_page_message(event, received_at, own_bot_ids=own_bot_ids)
    return parsed.page if parsed else None


def _read_page_message(
    event: Mapping[str, Any], received_at: datetime, own_bot_ids: Collection[str]
) -> ParsedPage | None:
    if not isinstance(event, Mapping):
        return None
    channel = _s(event.get("channel")) or None
    if event.get("subtype") == "message_changed":
        inner = event.get("message")
        if not isinstance(inner, Mapping):
            return None
        event = {**inner, "channel": channel or inner.get("channel")}
    if event.get("type", "message") != "message" or event.get("subtype") not in (None, "bot_message"):
        return None
    if not _is_bot(event):
        return None
    if _ours(event, own_bot_ids):
        return None

    content = _read_message(event)
    sender = _sender(event, content)
    text = content.joined
    pd_links = [m.group(0) for link in content.links if (m := _PD_INCIDENT_URL.match(link))]
    pd_brand = "pagerduty" in sender
    aws_brand = any(b in sender for b in ("aws chatbot", "amazon q", "aws"))
    cw_signal = bool(
        re.search(r"cloudwatch\s+alarm|\balarm\s*\|", text, re.IGNORECASE)
        or _ALARM_ARN.search(text)
        or _SUBJECT.search(text)
        or any("/cloudwatch/" in link and _CONSOLE_ALARM.search(link) for link in content.links)
        or (aws_brand and _title_alarm(content) is not None)
    )

    received = _utc(received_at) if isinstance(received_at, datetime) else datetime.now(UTC)
    event_ts = _parse_time(event.get("ts"))
    base: dict[str, Any] = {
        "channel": channel or _s(event.get("channel")) or None,
        "message_ts": _s(event.get("ts")) or None,
    }
    if pd_brand or (pd_links and not aws_brand):
        return _pagerduty_from_slack(content, pd_links, base, event_ts or received)
    if cw_signal:
        return _cloudwatch_from_slack(content, base, (content.times[:1] or [event_ts or received])[0])
    return None


def _ours(event: Mapping[str, Any], own_bot_ids: Collection[str]) -> bool:
    """Whether the message is this bot's own post."""
    own = {str(b) for b in own_bot_ids}
    return bool(own) and (_s(event.get("bot_id")) in own or _s(event.get("app_id")) in own)


def _sender(event: Mapping[str, Any], content: _Content) -> str:
    """Who posted it, lower-case: the bot's name and the names its blocks give."""
    return " ".join([_sender_name(event), *(n.lower() for n in content.names)])


_PD_CLAIM = re.compile(r"\b(?:incident|triggered|escalated|reopened)\b", re.IGNORECASE)
_AWS_CLAIM = re.compile(r"\balarm\b|INSUFFICIENT_DATA", re.IGNORECASE)


def claims_page(event: Mapping[str, Any], *, own_bot_ids: Collection[str] = ()) -> bool:
    """Whether another bot's top-level message says it is a page although :func:`read_page_message` could not
    read one: PagerDuty's app speaking of an incident, AWS Chatbot / Amazon Q of an alarm, or any bot's message
    with a CloudWatch alarm's marks (an alarm ARN, console link, ``ALARM: "name"`` subject)."""
    try:
        if (
            not isinstance(event, Mapping)
            or not _is_bot(event)
            or event.get("subtype") not in (None, "bot_message")
        ):
            return False
        if _ours(event, own_bot_ids):
            return False
        content = _read_message(event)
        sender = _sender(event, content)
        text = content.joined
        if "pagerduty" in sender:
            return bool(_PD_CLAIM.search(text))
        if any(b in sender for b in ("aws chatbot", "amazon q", "aws")):
            return bool(_AWS_CLAIM.search(text))
        return bool(
            re.search(r"cloudwatch\s+alarm", text, re.IGNORECASE)
            or _ALARM_ARN.search(text)
            or _SUBJECT.search(text)
            or any(_CONSOLE_ALARM.search(link) for link in content.links)
        )
    except Exception:
        return False


def _pagerduty_from_slack(
    content: _Content, pd_links: list[str], base: dict[str, Any], fired_at: datetime
) -> ParsedPage | None:
    text = content.joined
    number_match = _PD_NUMBER.search(text)
    number = (number_match.group(1) or number_match.group(2)) if number_match else None
    incident_id = None
    if pd_links:
        m = _PD_INCIDENT_URL.match(pd_links[0])
        incident_id = m.group(1) if m else None
    if not number and not incident_id:
        return None  # PagerDuty talking about something else (a schedule, a reply to a command, ...)

    title = None
    for t in content.texts:
        m = re.search(r"\[#\d{1,9}\]\s*(.+)", t)
        if m:
            title = m.group(1).splitlines()[0].strip(" *_")
            break
    title = title or (content.texts[0].splitlines()[0] if content.texts else f"PagerDuty incident {number}")

    status_text = content.field("Status") or ""
    if not status_text:
        m = re.match(r"\s*\W*\s*(Triggered|Acknowledged|Resolved|Reopened|Escalated)\b", text, re.IGNORECASE)
        status_text = m.group(1) if m else ""
    urgency = content.field("Urgency")
    priority = content.field("Priority")
    service = content.field("Service", "Impacted service", "Impacted Service")
    state = _state(status_text) if status_text else "ALARM"

    cw = cloudwatch_title(title)
    facts = {
        "status": status_text.lower(),
        "urgency": (urgency or "").lower(),
        "priority": priority or "",
        "alarm_prefix": cw.prefix if cw and not cw.name else "",
    }
    page = Page(
        source=PageSource.PAGERDUTY,
        title=title[:500],
        fired_at=fired_at,
        alarm_name=cw.name if cw else None,
        state=state,
        service_hint=service,
        severity=priority or ((urgency or "").lower() or None),
        incident_number=number,
        incident_id=incident_id,
        links=_dedupe(pd_links + content.links)[:10],
        region=cw.region if cw else None,
        **base,
    )
    return ParsedPage(page, {k: v for k, v in facts.items() if v})


@dataclass
class _AlarmId:
    """Which alarm a CloudWatch message is about, filled from the strongest clue first (a clue never
    overrides what a stronger one said)."""

    name: str | None = None
    region: str | None = None
    account: str | None = None
    arn: str | None = None

    def fill(self, name: str | None = None, region: str | None = None, account: str | None = None) -> None:
        self.name = self.name or name
        self.region = self.region or region
        self.account = self.account or account


def _id_from_arn(alarm: _AlarmId, content: _Content, text: str) -> None:
    arn = _ALARM_ARN.search(text) or next(
        (m for link in content.links if (m := _ALARM_ARN.search(urllib.parse.unquote(link)))), None
    )
    if arn:
        alarm.arn = arn.group(0)
        account = arn.group(2) if arn.group(2).isdigit() else None
        alarm.fill(arn.group(3), _region_from(arn.group(1)), account)


def _id_from_console_links(alarm: _AlarmId, content: _Content) -> None:
    for link in content.links:
        if "console.aws" not in link and "/cloudwatch/" not in link:
            continue
        m = _CONSOLE_ALARM.search(link)
        if m:
            alarm.fill(name=urllib.parse.unquote(next(g for g in m.groups() if g)))
        qs = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
        alarm.fill(region=_region_from((qs.get("region") or [""])[0]))


def _id_from_pipe_title(alarm: _AlarmId, content: _Content) -> None:
    """Chatbot's `CloudWatch Alarm | name | region | account` title."""
    pipe_title = next((t for t in content.texts if re.search(r"alarm\s*\|", t, re.IGNORECASE)), None)
    if not pipe_title:
        return
    parts = [p.strip(" *_`") for p in pipe_title.splitlines()[0].split("|")]
    if len(parts) >= 2:
        alarm.fill(name=parts[1])
    for part in parts[2:]:
        m = _ACCOUNT.search(part)
        alarm.fill(region=_region_from(part), account=m.group(1) if m else None)


_EMOJI_LEAD = re.compile(r"^(?:\s*:[a-z0-9_+'-]{1,40}:)+\s*")


def _title_alarm(content: _Content) -> CloudWatchTitle | None:
    """An unquoted CloudWatch title (``ALARM: name in Region``) among the message's first texts."""
    for text in content.texts[:6]:
        title = cloudwatch_title(_EMOJI_LEAD.sub("", text))
        if title is not None and title.name:
            return title
    return None


def _alarm_id(content: _Content, subject: re.Match[str] | None) -> _AlarmId:
    """The alarm's name, region, account and ARN, from every clue the message gives."""
    text = content.joined
    alarm = _AlarmId(name=content.field("Alarm Name", "AlarmName"))
    _id_from_arn(alarm, content, text)
    _id_from_console_links(alarm, content)
    _id_from_pipe_title(alarm, content)
    if subject:
        alarm.fill(subject.group(2), _region_from(subject.group(3) or ""))
    if not alarm.name and (title := _title_alarm(content)) is not None:
        alarm.fill(title.name, title.region)
    if alarm.name:
        m = _ACCOUNT.search(text)
        alarm.fill(account=m.group(1) if m else None)
        stated = (content.field("Account", "Account ID", "AWS Account", "AWSAccountId") or "").strip()
        alarm.fill(account=stated if re.fullmatch(r"\d{12}", stated) else None)
        alarm.fill(region=_region_from(content.field("Region") or "") or _region_from(text))
    return alarm


_ALARM_COLORS = ("danger", "#d13212", "#ff0000", "#e01e5a", "#d7263d")
_OK_COLORS = ("good", "#1d8102", "#2eb886", "#36a64f")


def _alarm_state(content: _Content, subject: re.Match[str] | None) -> str | None:
    """ALARM / OK / INSUFFICIENT_DATA: from a state field, the subject, the first lines, then the colour."""
    state_field = content.field(
        "Alarm state", "State", "New state", "Current state", "NewStateValue", "Status"
    )
    if state_field and (state := _state(state_field)) is not None:
        return state
    if subject:
        return subject.group(1)
    moved = _FROM_TO.search(content.joined)
    if moved:
        return _state(moved.group(2).replace(" ", "_"))
    head = "\n".join(content.texts[:3])
    m = re.search(r"\b(ALARM|INSUFFICIENT_DATA|OK)\b", head)
    if m:
        return m.group(1)
    if ":white_check_mark:" in head or "✅" in head:
        return "OK"
    color = content.colors[0] if content.colors else ""
    return "ALARM" if color in _ALARM_COLORS else "OK" if color in _OK_COLORS else None


def _alarm_metric(content: _Content) -> tuple[str | None, str | None, dict[str, str]]:
    """The alarm's namespace, metric and dimensions, from their fields or a `Namespace Metric (dims)` one."""
    metric_field = content.field("Metric", "Metric Name", "MetricName") or ""
    namespace = content.field("Namespace")
    metric = None
    dims = _dimensions(content.field("Dimensions") or "")
    if metric_field:
        head, _, rest = metric_field.partition("(")
        words = head.split()
        if len(words) >= 2 and "/" in words[0]:
            namespace = namespace or words[0]
            metric = words[1]
        elif words:
            metric = words[-1]
        dims = dims or _dimensions(rest)
    return namespace, metric, dims


def _previous_state(content: _Content) -> str | None:
    """The state the alarm left: a previous-state field, or ``from OK to INSUFFICIENT_DATA`` in the text."""
    before = content.field("Previous state", "Old state", "OldStateValue", "Previous State Value", "From")
    if before and (state := _state(before)) is not None:
        return state
    m = _FROM_TO.search(content.joined)
    return _state(m.group(1).replace(" ", "_")) if m else None


def _alarm_facts(content: _Content, alarm: _AlarmId) -> dict[str, str]:
    """What the page has no field for: the alarm's ARN, the state reason, the account."""
    facts: dict[str, str] = {}
    if alarm.arn:
        facts["alarm_arn"] = alarm.arn
    reason = next((t for t in content.texts if "Threshold Crossed" in t), None)
    if reason:
        facts["state_reason"] = reason[reason.index("Threshold Crossed") :].replace("*", "").strip()[:1000]
    elif stated := content.field("Reason", "State reason", "NewStateReason", "State Change Reason"):
        facts["state_reason"] = stated.replace("*", "").strip()[:1000]
    if alarm.account:
        facts["account"] = alarm.account
    return facts


def _cloudwatch_from_slack(content: _Content, base: dict[str, Any], fired_at: datetime) -> ParsedPage | None:
    subject = _SUBJECT.search(content.joined)
    alarm = _alarm_id(content, subject)
    name = alarm.name
    if not name:
        return None
    namespace, metric, dims = _alarm_metric(content)
    facts = _alarm_facts(content, alarm)
    page = Page(
        source=PageSource.CLOUDWATCH,
        title=name[:500],
        fired_at=fired_at,
        alarm_name=name[:255],
        state=_alarm_state(content, subject),
        service_hint=_service_from_dimensions(dims),
        metric=metric,
        namespace=namespace,
        dimensions=dims,
        severity=_severity_from(name) or (content.field("Severity") or None),
        links=content.links[:10],
        region=alarm.region,
        previous_state=_previous_state(content),
        account=alarm.account,
        reason=facts.get("state_reason"),
        **base,
    )
    return ParsedPage(page, facts)


# -- SNS: the CloudWatch alarm JSON ------------------------------------------------------------------------------


def _unwrap_sns(payload: Any) -> tuple[Any, str]:
    """The alarm message inside `payload` (JSON text, alarm dict, SNS envelope or Lambda event) and Subject."""
    subject = ""
    for _ in range(4):
        if isinstance(payload, str | bytes | bytearray):
            try:
                payload = json.loads(payload)
            except (ValueError, UnicodeDecodeError, RecursionError):
                return None, subject
            continue
        if not isinstance(payload, Mapping):
            return None, subject
        records = payload.get("Records")
        if isinstance(records, list) and records and isinstance(_get(records[0], "Sns"), Mapping):
            payload = records[0]["Sns"]
            continue
        if "AlarmName" not in payload and isinstance(payload.get("Message"), str):
            subject = _s(payload.get("Subject")) or subject
            payload = payload["Message"]
            continue
        return payload, subject
    return None, subject


def read_sns_alarm(
    message_json: str | bytes | Mapping[str, Any], received_at: datetime | None = None
) -> ParsedPage:
    """Like :func:`parse_sns_alarm`, with ``account``, ``state_reason``, ``alarm_arn``, ``description``."""
    received = _utc(received_at) if isinstance(received_at, datetime) else datetime.now(UTC)
    try:
        alarm, subject = _unwrap_sns(message_json)
        if isinstance(alarm, Mapping):
            return _sns_page(alarm, subject, received)
        m = _SUBJECT.search(subject) if subject else None
        if m:
            return ParsedPage(
                Page(
                    source=PageSource.CLOUDWATCH,
                    title=m.group(2),
                    fired_at=received,
                    alarm_name=m.group(2),
                    state=m.group(1),
                    region=_region_from(m.group(3) or ""),
                )
            )
    except Exception:
        pass
    return ParsedPage(
        Page(
            source=PageSource.CLOUDWATCH, title="Unreadable CloudWatch alarm notification", fired_at=received
        ),
        {"error": "the SNS message is not a CloudWatch alarm"},
    )


def parse_sns_alarm(
    message_json: str | bytes | Mapping[str, Any], received_at: datetime | None = None
) -> Page:
    """The page for a CloudWatch alarm delivered by SNS.

    Accepts the alarm JSON (the SNS ``Message``), the SNS envelope, or a Lambda ``Records[].Sns`` event. Never
    raises: unreadable input gives a page titled "Unreadable CloudWatch alarm notification" with no state.
    """
    return read_sns_alarm(message_json, received_at).page


def _sns_metric(alarm: Mapping[str, Any]) -> tuple[str | None, str | None, dict[str, str]]:
    """The alarm's namespace, metric and dimensions: its Trigger's, or its first metric-math metric's."""
    trigger = alarm.get("Trigger") if isinstance(alarm.get("Trigger"), Mapping) else {}
    metric = _s(_get(trigger, "MetricName")) or None
    namespace = _s(_get(trigger, "Namespace")) or None
    raw_dims = _get(trigger, "Dimensions")
    if metric is None:  # metric-math alarms: Trigger.Metrics[].MetricStat.Metric
        for item in _list(_get(trigger, "Metrics")):
            inner = _get(item, "MetricStat", "Metric")
            if isinstance(inner, Mapping):
                metric = _s(inner.get("MetricName")) or None
                namespace = _s(inner.get("Namespace")) or None
                raw_dims = inner.get("Dimensions")
                break
    dims: dict[str, str] = {}
    for d in _list(raw_dims):
        if isinstance(d, Mapping):
            key, value = _s(d.get("name") or d.get("Name")), _s(d.get("value") or d.get("Value"))
            if key:
                dims[key[:255]] = value[:1024]
    return namespace, metric, dims


def _sns_page(alarm: Mapping[str, Any], subject: str, received: datetime) -> ParsedPage:
    name = _s(alarm.get("AlarmName")).strip()
    subject_match = _SUBJECT.search(subject) if subject else None
    if not name and subject_match:
        name = subject_match.group(2)
    arn = _s(alarm.get("AlarmArn"))
    arn_match = _ALARM_ARN.search(arn) if arn else None
    region = (
        (_region_from(arn_match.group(1)) if arn_match else None)
        or _region_from(_s(alarm.get("Region")))
        or (_region_from(subject_match.group(3) or "") if subject_match else None)
    )
    account = _s(alarm.get("AWSAccountId")) or (arn_match.group(2) if arn_match else "")
    state = _state(_s(alarm.get("NewStateValue"))) or (subject_match.group(1) if subject_match else None)

    namespace, metric, dims = _sns_metric(alarm)
    fired_at = _parse_time(alarm.get("StateChangeTime")) or received
    description = _s(alarm.get("AlarmDescription"))
    links: list[str] = []
    if name and region:
        links.append(
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#alarmsV2:alarm/{urllib.parse.quote(name, safe='')}"
        )
    facts = {
        "account": account if account.isdigit() else "",
        "state_reason": _s(alarm.get("NewStateReason"))[:2000],
        "old_state": _s(alarm.get("OldStateValue")),
        "treat_missing_data": _s(_get(alarm, "Trigger", "TreatMissingData")),
        "alarm_arn": arn,
        "description": description[:2000],
    }
    title = name or "CloudWatch alarm"
    page = Page(
        source=PageSource.CLOUDWATCH,
        title=title[:500],
        fired_at=fired_at,
        alarm_name=name[:255] or None,
        state=state,
        service_hint=_service_from_dimensions(dims),
        metric=metric,
        namespace=namespace,
        dimensions=dims,
        severity=_severity_from(name) if name else None,
        links=links,
        region=region,
        previous_state=_state(facts["old_state"]),
        account=facts["account"] or None,
        reason=facts["state_reason"] or None,
    )
    return ParsedPage(page, {k: v for k, v in facts.items() if v})


# -- PagerDuty Webhooks v3 ---------------------------------------------------------------------------------------


def read_pagerduty_webhook(
    body: Mapping[str, Any] | str | bytes, received_at: datetime | None = None
) -> ParsedPage | None:
    """Like :func:`parse_pagerduty_webhook`, with ``event_type``, ``status``, ``urgency``, ``priority``, ``event_id``."""
    try:
        return _read_pagerduty_webhook(body, received_at)
    except Exception:
        return None


def parse_pagerduty_webhook(
    body: Mapping[str, Any] | str | bytes, received_at: datetime | None = None
) -> Page | None:
    """The page for a PagerDuty Webhooks v3 incident event; None for other events (notes, services, ...)."""
    parsed = read_pagerduty_webhook(body, received_at)
    return parsed.page if parsed else None


def _read_pagerduty_webhook(body: Any, received_at: datetime | None) -> ParsedPage | None:
    if isinstance(body, str | bytes | bytearray):
        body = json.loads(body)
    event = _get(body, "event")
    if not isinstance(event, Mapping):
        return None
    event_type = _s(event.get("event_type"))
    data = event.get("data")
    if not event_type.startswith("incident.") or not isinstance(data, Mapping):
        return None
    if _s(data.get("type")) not in ("incident", "") or not (data.get("id") or data.get("number")):
        return None  # incident_note, incident_responder, ... carry an incident reference, not the incident

    status = _s(data.get("status")).lower()
    verb = event_type.split(".", 1)[1] if "." in event_type else ""
    state = _PD_STATUS.get(status) or _PD_STATUS.get(verb) or "ALARM"
    title = _s(data.get("title")) or _s(data.get("summary")) or f"PagerDuty incident {_s(data.get('number'))}"
    urgency = _s(data.get("urgency")).lower()
    priority = _s(_get(data, "priority", "summary"))
    service = _s(_get(data, "service", "summary")) or None
    received = _utc(received_at) if isinstance(received_at, datetime) else datetime.now(UTC)
    fired_at = _parse_time(data.get("created_at")) or _parse_time(event.get("occurred_at")) or received
    cw = cloudwatch_title(title)
    links = [u for u in (_clean_url(_s(data.get("html_url"))),) if u]
    page = Page(
        source=PageSource.PAGERDUTY,
        title=title[:500],
        fired_at=fired_at,
        alarm_name=cw.name if cw else None,
        state=state,
        service_hint=service,
        severity=priority or urgency or None,
        incident_number=_s(data.get("number")) or None,
        incident_id=_s(data.get("id")) or None,
        links=links,
        region=cw.region if cw else None,
    )
    facts = {
        "alarm_prefix": cw.prefix if cw and not cw.name else "",
        "event_type": event_type,
        "event_id": _s(event.get("id")),
        "status": status,
        "urgency": urgency,
        "priority": priority,
        "incident_key": _s(data.get("incident_key")),
        "service_id": _s(_get(data, "service", "id")),
    }
    return ParsedPage(page, {k: v for k, v in facts.items() if v})


def iter_texts(event: Mapping[str, Any]) -> Iterator[str]:
    """Every text a Slack message carries, links replaced by their labels (for steering and search)."""
    try:
        yield from _read_message(event).texts if isinstance(event, Mapping) else ()
    except Exception:
        return

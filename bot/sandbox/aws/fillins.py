"""Query-protocol fill-ins for what moto leaves empty: Auto Scaling activities and RDS events.

moto answers ``DescribeScalingActivities`` with nothing, and ``DescribeEvents`` (RDS) with the events of its own
calls only, stamped when they were made and ignoring the time window asked for; a scenario's failovers and
reboots happened at scenario times, so RDS events are served from our registry, filtered as RDS filters them.
(CloudFormation's stand-in is :mod:`bot.sandbox.aws.stacks`.)
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.sandbox.aws.protocol import Reply, Request, xml_reply, xml_text

_AS_NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
_RDS_NS = "http://rds.amazonaws.com/doc/2014-10-31/"


@dataclass(frozen=True)
class Activity:
    """One scaling activity."""

    activity_id: str
    group: str
    group_arn: str
    description: str
    cause: str
    start: datetime
    end: datetime
    details: str


class ScalingActivities:
    """``DescribeScalingActivities``, newest first."""

    def __init__(self) -> None:
        self.activities: list[Activity] = []

    def handle(self, req: Request) -> Reply | None:
        if req.operation != "DescribeScalingActivities":
            return None
        p = req.params()
        acts = sorted(self.activities, key=lambda a: (a.start, a.activity_id), reverse=True)
        if p.get("AutoScalingGroupName"):
            acts = [a for a in acts if a.group == p["AutoScalingGroupName"]]
        ids = [v for k, v in sorted(p.items()) if k.startswith("ActivityIds.member.")]
        if ids:
            acts = [a for a in acts if a.activity_id in ids]
        size = min(int(p.get("MaxRecords") or 100), 100)
        offset = int(base64.b64decode(p["NextToken"]).decode()) if p.get("NextToken") else 0
        page = acts[offset : offset + size]
        members = "".join(
            "<member>"
            f"<ActivityId>{a.activity_id}</ActivityId>"
            f"<AutoScalingGroupName>{xml_text(a.group)}</AutoScalingGroupName>"
            f"<AutoScalingGroupARN>{xml_text(a.group_arn)}</AutoScalingGroupARN>"
            f"<Description>{xml_text(a.description)}</Description>"
            f"<Cause>{xml_text(a.cause)}</Cause>"
            f"<StartTime>{xml_text(a.start)}</StartTime>"
            f"<EndTime>{xml_text(a.end)}</EndTime>"
            "<StatusCode>Successful</StatusCode>"
            "<Progress>100</Progress>"
            f"<Details>{xml_text(a.details)}</Details>"
            "</member>"
            for a in page
        )
        token = ""
        if offset + size < len(acts):
            token = f"<NextToken>{base64.b64encode(str(offset + size).encode()).decode()}</NextToken>"
        return xml_reply("DescribeScalingActivities", f"<Activities>{members}</Activities>{token}", _AS_NS)


@dataclass(frozen=True)
class RdsEvent:
    """One RDS event: what happened to a DB instance, cluster, parameter group or snapshot."""

    source_id: str
    source_type: str  # db-instance | db-cluster | db-parameter-group | db-snapshot ...
    message: str
    categories: tuple[str, ...]
    date: datetime
    source_arn: str


@dataclass
class RdsEvents:
    """``DescribeEvents`` (RDS): by source, type, categories and time window (default: the last hour)."""

    events: list[RdsEvent] = field(default_factory=list)

    def handle(self, req: Request) -> Reply | None:
        if req.operation != "DescribeEvents":
            return None
        p = req.params()
        end = _when(p.get("EndTime")) or datetime.now(UTC)
        start = _when(p.get("StartTime")) or end - timedelta(minutes=int(p.get("Duration") or 60))
        wanted = {v for k, v in p.items() if k.startswith("EventCategories.")}
        rows = [
            e
            for e in sorted(self.events, key=lambda e: (e.date, e.source_id, e.message))
            if start <= e.date <= end
            and p.get("SourceIdentifier") in (None, e.source_id)
            and p.get("SourceType") in (None, e.source_type)
            and (not wanted or wanted & set(e.categories))
        ]
        size = min(int(p.get("MaxRecords") or 100), 100)
        offset = int(base64.b64decode(p["Marker"]).decode()) if p.get("Marker") else 0
        body = "".join(_rds_event(e) for e in rows[offset : offset + size])
        marker = ""
        if offset + size < len(rows):
            marker = f"<Marker>{base64.b64encode(str(offset + size).encode()).decode()}</Marker>"
        return xml_reply("DescribeEvents", f"<Events>{body}</Events>{marker}", _RDS_NS)


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _rds_event(e: RdsEvent) -> str:
    cats = "".join(f"<EventCategory>{xml_text(c)}</EventCategory>" for c in e.categories)
    return (
        f"<Event><SourceIdentifier>{xml_text(e.source_id)}</SourceIdentifier>"
        f"<SourceType>{xml_text(e.source_type)}</SourceType><Message>{xml_text(e.message)}</Message>"
        f"<EventCategories>{cats}</EventCategories><Date>{xml_text(e.date)}</Date>"
        f"<SourceArn>{xml_text(e.source_arn)}</SourceArn></Event>"
    )

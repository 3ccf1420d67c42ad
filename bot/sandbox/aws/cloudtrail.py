"""A CloudTrail ``LookupEvents`` stand-in (json 1.1); moto implements only trail management."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.sandbox.aws.protocol import Reply, Request, error_reply, iso, json_reply


@dataclass(frozen=True)
class TrailEvent:
    """One management event."""

    event_id: str
    name: str
    time: datetime
    source: str  # ecs.amazonaws.com
    username: str
    resources: tuple[tuple[str, str], ...]  # (ResourceType, ResourceName)
    record: str  # the CloudTrailEvent JSON document
    read_only: bool
    access_key: str


class CloudTrailStore:
    """Events, kept newest first."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self.events: list[TrailEvent] = []
        self.lock = threading.Lock()

    def record(
        self,
        *,
        event_id: str,
        name: str,
        time: datetime,
        source: str,
        identity: dict[str, Any],
        username: str,
        request: dict[str, Any] | None,
        response: dict[str, Any] | None = None,
        resources: list[tuple[str, str]] | None = None,
        read_only: bool = False,
        source_ip: str = "203.0.113.10",
        user_agent: str = "console.amazonaws.com",
        access_key: str = "ASIAEXAMPLEKEY000001",
        error_code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Add an event; `identity` is the record's userIdentity, `extra` more top-level record fields
        (``sessionCredentialFromConsole``, ``additionalEventData``)."""
        doc: dict[str, Any] = {
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": name,
            "awsRegion": self.region,
            "sourceIPAddress": source_ip,
            "userAgent": user_agent,
            "requestParameters": request,
            "responseElements": response,
            "requestID": event_id[::-1],
            "eventID": event_id,
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": self.account_id,
            "eventCategory": "Management",
        }
        if error_code:
            doc["errorCode"] = error_code
        doc.update(extra or {})
        if resources:
            doc["resources"] = [{"accountId": self.account_id, "type": t, "ARN": n} for t, n in resources]
        ev = TrailEvent(
            event_id,
            name,
            time,
            source,
            username,
            tuple(resources or ()),
            json.dumps(doc),
            read_only,
            access_key,
        )
        with self.lock:
            self.events.append(ev)
            self.events.sort(key=lambda e: (e.time, e.event_id), reverse=True)


_ATTRS: dict[str, Callable[[TrailEvent, str], bool]] = {
    "EventName": lambda e, v: e.name == v,
    "Username": lambda e, v: e.username == v,
    "EventSource": lambda e, v: e.source == v,
    "EventId": lambda e, v: e.event_id == v,
    "ReadOnly": lambda e, v: str(e.read_only).lower() == v.lower(),
    "AccessKeyId": lambda e, v: e.access_key == v,
    "ResourceName": lambda e, v: any(n == v for _, n in e.resources),
    "ResourceType": lambda e, v: any(t == v for t, _ in e.resources),
}


class CloudTrailService:
    """``LookupEvents`` over a :class:`CloudTrailStore`."""

    def __init__(self, store: CloudTrailStore) -> None:
        self.store = store

    def handle(self, req: Request) -> Reply | None:
        """The answer, or None for operations left to moto."""
        if req.operation != "LookupEvents":
            return None
        p = req.params()
        attrs = p.get("LookupAttributes") or []
        if len(attrs) > 1:
            return error_reply(
                req, "InvalidLookupAttributesException", "You cannot specify more than one lookup attribute."
            )
        events = list(self.store.events)
        for a in attrs:
            test = _ATTRS.get(a.get("AttributeKey", ""))
            if test is None:
                return error_reply(
                    req, "InvalidLookupAttributesException", f"Invalid attribute key: {a.get('AttributeKey')}"
                )
            events = [e for e in events if test(e, a.get("AttributeValue", ""))]
        if "StartTime" in p:
            events = [e for e in events if e.time.timestamp() >= float(p["StartTime"])]
        if "EndTime" in p:
            events = [e for e in events if e.time.timestamp() <= float(p["EndTime"])]
        size = min(int(p.get("MaxResults") or 50), 50)
        offset = 0
        if p.get("NextToken"):
            try:
                offset = int(base64.b64decode(p["NextToken"]).decode())
            except ValueError:
                return error_reply(req, "InvalidNextTokenException", "Invalid NextToken.")
        page = events[offset : offset + size]
        out: dict[str, Any] = {
            "Events": [
                {
                    "EventId": e.event_id,
                    "EventName": e.name,
                    "ReadOnly": str(e.read_only).lower(),
                    "AccessKeyId": e.access_key,
                    "EventTime": e.time,
                    "EventSource": e.source,
                    "Username": e.username,
                    "Resources": [{"ResourceType": t, "ResourceName": n} for t, n in e.resources],
                    "CloudTrailEvent": e.record,
                }
                for e in page
            ]
        }
        if offset + size < len(events):
            out["NextToken"] = base64.b64encode(str(offset + size).encode()).decode()
        return json_reply(out)


__all__ = ["CloudTrailService", "CloudTrailStore", "TrailEvent", "iso"]

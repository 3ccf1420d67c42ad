"""Pages delivered to us directly: PagerDuty Webhooks v3, SNS notifications and EventBridge events of CloudWatch alarms.

Each endpoint verifies the sender (``X-PagerDuty-Signature``; the SNS message signature, certificate origin,
topic allow-list and age), checks what it carries, and records the page before it answers: its delivery, its
incident and investigation rows and the enqueue of the workflow that posts it into ``settings.page_channel``
and investigates it (:meth:`Investigations.accept`). The answer is 2xx only once that is done; when it cannot
be done (the database is away) it is 503 and the sender delivers again. Deliveries are deduplicated on what
the signature covers: PagerDuty's ``event.id`` (``X-Webhook-Id`` is a header anyone replaying a body can
change), SNS's ``MessageId``. A malformed body or identifier is refused with a 400 naming what is wrong;
free text is cleaned instead (:mod:`bot.investigation.inbound`). SNS ``SubscriptionConfirmation`` messages
are confirmed by fetching their ``SubscribeURL``, only when the URL passes the same host policy as
certificates.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from slack_sdk import WebClient

from bot.config import Settings
from bot.domain import Page
from bot.investigation.inbound import BadInput, check_id, clean_page
from bot.investigation.ports import Delivery, Investigations
from bot.investigation.silence import as_trouble, is_silence, silence_is_trouble
from bot.slack.alarm_events import (
    event_delivery_id,
    is_alarm_event,
    read_alarm_event,
    read_alarm_notification,
)
from bot.slack.app import WorkPool
from bot.slack.errors import log_failure
from bot.slack.parsers import ParsedPage, read_pagerduty_webhook
from bot.slack.refusals import Refusals
from bot.slack.slack_pages import complete_from_alert, silence_notice
from bot.slack.verify import (
    SnsVerificationError,
    SnsVerifier,
    verify_api_destination,
    verify_pagerduty_signature,
)
from bot.sources.pagerduty import PagerDutyApi
from bot.storage.store import Store

log = logging.getLogger(__name__)

Reply = tuple[int, dict[str, Any]]
_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
_NO_STATE = "the alarm's state is missing or not one CloudWatch has"


def subscribe_url_policy(host_pattern: str) -> Callable[[str], bool]:
    """Production policy for SNS ``SubscribeURL``: HTTPS on an SNS host (the certificate host pattern)."""
    regex = re.compile(host_pattern)

    def allowed(url: str) -> bool:
        parts = urllib.parse.urlsplit(url)
        return parts.scheme == "https" and bool(regex.fullmatch(parts.hostname or ""))

    return allowed


def _get(url: str) -> None:
    httpx.get(url, timeout=5.0, follow_redirects=False).raise_for_status()


def _s(value: object) -> str:
    return value if isinstance(value, str) else ""


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


@dataclass
class Intake:
    """The PagerDuty and SNS endpoints (framework-free: raw body and headers in, status and JSON out)."""

    settings: Settings
    store: Store
    investigations: Investigations
    client: WebClient
    pool: WorkPool
    sns: SnsVerifier
    subscribe_allowed: Callable[[str], bool]
    confirm: Callable[[str], None] = field(default=_get)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    refusals: Refusals = field(init=False)
    pagerduty_api: PagerDutyApi | None = field(init=False)

    def __post_init__(self) -> None:
        self.refusals = Refusals(self.client, self.settings.page_channel, self.pool.submit)
        token = self.settings.pagerduty_api_token
        self.pagerduty_api = PagerDutyApi(token, self.settings.pagerduty_api_url) if token else None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: Store,
        investigations: Investigations,
        client: WebClient,
        pool: WorkPool,
    ) -> Intake:
        """The production intake: AWS SNS certificate hosts only, the configured topic allow-list."""
        verifier = SnsVerifier(settings.sns_cert_host_pattern, topic_allowlist=settings.sns_topic_allowlist)
        allowed = subscribe_url_policy(settings.sns_cert_host_pattern)
        return cls(settings, store, investigations, client, pool, verifier, allowed)

    # -- PagerDuty --------------------------------------------------------------------------------------------

    def pagerduty(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        """A Webhooks v3 delivery: 401 unless signed by our secret, 400 unless a webhook event with a usable
        ``event.id``; 202 once recorded (or already recorded), 503 when it could not be."""
        h = {k.lower(): v for k, v in headers.items()}
        secrets = [s.strip() for s in (self.settings.pagerduty_webhook_secret or "").split(",") if s.strip()]
        if not verify_pagerduty_signature(body, h.get("x-pagerduty-signature"), secrets):
            return 401, {"error": "invalid signature"}
        payload = _json_object(body)
        event = payload.get("event") if payload is not None else None
        if not isinstance(event, dict):
            return 400, {"error": "body is not a PagerDuty webhook event (a JSON object with an event)"}
        try:
            if "x-webhook-id" in h:
                check_id("X-Webhook-Id", h["x-webhook-id"])
            event_id = check_id("event.id", event.get("id"))
        except BadInput as err:
            return 400, {"error": str(err)}
        parsed = read_pagerduty_webhook(payload or {}, self.clock())
        if parsed is None:
            data = event.get("data")
            if _s(event.get("event_type")).startswith("incident.") and (
                not isinstance(data, dict) or _s(data.get("type")) in ("incident", "")
            ):
                posted = self.refusals.unreadable(
                    "pagerduty", "an incident event that names no incident", body
                )
                return 202, {"status": "unreadable", "posted": posted}
            return 202, {"status": "ignored"}
        parsed = complete_from_alert(parsed, self.pagerduty_api)
        reopened = parsed.facts.get("event_type") == "incident.reopened"
        return self._accept(parsed.page, Delivery("pagerduty", event_id), reopened, ok=202)

    # -- SNS ----------------------------------------------------------------------------------------------------

    def sns_message(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        """An SNS HTTP(S) delivery: verified, confirmed when a subscription asks, recorded once per MessageId."""
        message = _json_object(body)
        if message is None:
            return 400, {"error": "body is not a JSON object"}
        try:
            self.sns.verify(message)
        except SnsVerificationError as err:
            log.warning("SNS message refused: %s", err.reason)
            return 401, {"error": err.reason}
        mtype = message["Type"]
        if mtype == "SubscriptionConfirmation":
            url = str(message.get("SubscribeURL") or "")
            if not self.subscribe_allowed(url):
                return 400, {"error": "SubscribeURL is not an SNS host"}
            self.pool.submit(self.confirm, url)
            return 200, {"status": "confirming"}
        if mtype != "Notification":
            return 200, {"status": "ignored"}
        try:
            message_id = check_id("MessageId", message.get("MessageId"))
        except BadInput as err:
            return 400, {"error": str(err)}
        parsed = read_alarm_notification(message, self.clock())
        if "error" in parsed.facts:
            posted = self.refusals.unreadable("sns", parsed.facts["error"], str(message.get("Message") or ""))
            return 200, {"status": "unreadable", "posted": posted}
        if parsed.page.state not in _STATES:
            posted = self.refusals.unreadable("sns", _NO_STATE, str(message.get("Message") or ""))
            return 200, {"status": "unreadable", "posted": posted}
        if parsed.page.state not in ("ALARM", "OK"):
            return self._quiet(parsed, Delivery("sns", message_id), ok=200)
        return self._accept(parsed.page, Delivery("sns", message_id), False, ok=200)

    # -- EventBridge --------------------------------------------------------------------------------------------

    def eventbridge(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        """An API destination's delivery of an alarm state-change event (or an alarm action's Lambda event):
        401 without the connection's credential, 400 unless a JSON object; other events are ignored, an alarm
        event we cannot read is posted as unreadable; 202 once recorded, 503 when it could not be."""
        auth = self.settings.eventbridge_auth_header
        if not self.settings.eventbridge_secret:
            return 401, {"error": "EVENTBRIDGE_SECRET is not set: this endpoint takes no events"}
        if not verify_api_destination(headers, auth, self.settings.eventbridge_secret):
            return 401, {"error": f"missing or wrong {auth} / Authorization credential"}
        event = _json_object(body)
        if event is None:
            return 400, {"error": "body is not a JSON object"}
        if not is_alarm_event(event):
            if _s(event.get("source")) == "aws.cloudwatch" and "detail-type" in event:
                return 202, {"status": "ignored", "detail-type": str(event.get("detail-type"))[:100]}
            posted = self.refusals.unreadable(
                "eventbridge", "not a CloudWatch alarm state-change event", body
            )
            return 202, {"status": "unreadable", "posted": posted}
        try:
            delivery_id = check_id("id", event_delivery_id(event))
        except BadInput as err:
            return 400, {"error": str(err)}
        parsed = read_alarm_event(event, self.clock())
        if parsed is None:
            posted = self.refusals.unreadable("eventbridge", "the alarm event names no alarm", body)
            return 202, {"status": "unreadable", "posted": posted}
        if parsed.page.state not in _STATES:
            posted = self.refusals.unreadable("eventbridge", _NO_STATE, body)
            return 202, {"status": "unreadable", "posted": posted}
        if parsed.page.state not in ("ALARM", "OK"):
            return self._quiet(parsed, Delivery("eventbridge", delivery_id), ok=202)
        return self._accept(parsed.page, Delivery("eventbridge", delivery_id), False, ok=202)

    # -- INSUFFICIENT_DATA ------------------------------------------------------------------------------------

    def _quiet(self, parsed: ParsedPage, delivery: Delivery, *, ok: int) -> Reply:
        """A page that is neither ALARM nor OK: an alarm gone silent after OK is told in the page channel, and
        investigated when its silence is trouble (:mod:`bot.investigation.silence`); anything else is ignored."""
        page = parsed.page
        if not is_silence(page):
            return ok, {"status": "ignored"}
        patterns = self.settings.silence_means_trouble
        why = silence_is_trouble(page, patterns, parsed.facts.get("treat_missing_data"))
        if why is not None:
            return self._accept(as_trouble(page, why), delivery, False, ok=ok)
        self.pool.submit(self._post_notice, silence_notice(page))
        return ok, {"status": "noticed"}

    def _post_notice(self, text: str) -> None:
        self.client.chat_postMessage(channel=self.settings.page_channel, text=text, unfurl_links=False)

    # -- recording ----------------------------------------------------------------------------------------------

    def _accept(self, page: Page, delivery: Delivery, reopened: bool, *, ok: int) -> Reply:
        """Record the page before answering: `ok` once recorded, 400 for a page that cannot be stored, 503
        when recording failed (nothing was recorded: the sender delivers again)."""
        try:
            page = clean_page(page.model_copy(update={"channel": None, "message_ts": None}))
        except BadInput as err:
            return 400, {"error": str(err)}
        try:
            accepted = self.investigations.accept(page, delivery, reopened=reopened)
        except Exception:
            error_id = log_failure(log, "%s delivery %s not recorded", delivery.source, delivery.id)
            return 503, {"error": f"the page could not be recorded (error {error_id}); deliver it again"}
        if accepted.duplicate:
            return ok, {"status": "duplicate", "outcome": accepted.outcome}
        status = "ignored" if accepted.outcome == "ignored" else "accepted"
        return ok, {"status": status, "outcome": accepted.outcome}

"""Pages delivered to us directly: PagerDuty Webhooks v3 and SNS notifications of CloudWatch alarms.

Each endpoint verifies the sender (``X-PagerDuty-Signature``; the SNS message signature, certificate origin,
topic allow-list and age), drops re-deliveries (``X-Webhook-Id``; SNS ``MessageId``) and answers at once;
posting the page into ``settings.page_channel`` and opening the investigation run in the work pool, so the
answer comes well within PagerDuty's 5 s. SNS ``SubscriptionConfirmation`` messages are confirmed by
fetching their ``SubscribeURL``, only when the URL passes the same host policy as certificates.
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
from bot.investigation.ports import Investigations
from bot.slack.app import WorkPool
from bot.slack.blocks import link
from bot.slack.parsers import parse_pagerduty_webhook, parse_sns_alarm
from bot.slack.safety import untrusted
from bot.slack.verify import SnsVerificationError, SnsVerifier, verify_pagerduty_signature
from bot.storage.store import Store

log = logging.getLogger(__name__)

Reply = tuple[int, dict[str, Any]]


def subscribe_url_policy(host_pattern: str) -> Callable[[str], bool]:
    """Production policy for SNS ``SubscribeURL``: HTTPS on an SNS host (the certificate host pattern)."""
    regex = re.compile(host_pattern)

    def allowed(url: str) -> bool:
        parts = urllib.parse.urlsplit(url)
        return parts.scheme == "https" and bool(regex.fullmatch(parts.hostname or ""))

    return allowed


def _get(url: str) -> None:
    httpx.get(url, timeout=5.0, follow_redirects=False).raise_for_status()


def announcement(page: Page) -> str:
    """The message that puts a webhook-delivered page into the page channel (untrusted text escaped)."""
    url = next(iter(page.links), None)
    number = f"[#{page.incident_number}] " if page.incident_number else ""
    via = {"pagerduty": "PagerDuty", "cloudwatch": "CloudWatch alarm"}.get(
        page.source.value, page.source.value
    )
    meta = " · ".join(untrusted(x, 80) for x in (page.service_hint, page.region, page.severity) if x)
    return f":rotating_light: *{via}*: {link(url, number + page.title, 300)}" + (f"\n{meta}" if meta else "")


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
        """A Webhooks v3 delivery: 401 unless signed by our secret; 202 once accepted (or already seen)."""
        h = {k.lower(): v for k, v in headers.items()}
        secrets = [s.strip() for s in (self.settings.pagerduty_webhook_secret or "").split(",") if s.strip()]
        if not verify_pagerduty_signature(body, h.get("x-pagerduty-signature"), secrets):
            return 401, {"error": "invalid signature"}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"error": "body is not JSON"}
        delivery = h.get("x-webhook-id") or str(((payload or {}).get("event") or {}).get("id") or "")
        if delivery and not self.store.record_delivery("pagerduty", delivery):
            return 202, {"status": "duplicate"}
        page = parse_pagerduty_webhook(payload, self.clock())
        if page is None or page.state == "ACKNOWLEDGED":
            return 202, {"status": "ignored"}
        self.pool.submit(self.post_and_open, page)
        return 202, {"status": "accepted"}

    # -- SNS ----------------------------------------------------------------------------------------------------

    def sns_message(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        """An SNS HTTP(S) delivery: verified, confirmed when a subscription asks, deduped on MessageId."""
        try:
            message = json.loads(body)
        except ValueError:
            return 400, {"error": "body is not JSON"}
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
        if not self.store.record_delivery("sns", str(message.get("MessageId") or "")):
            return 200, {"status": "duplicate"}
        page = parse_sns_alarm(message, self.clock())
        if page.state not in ("ALARM", "OK"):
            return 200, {"status": "ignored"}
        self.pool.submit(self.post_and_open, page)
        return 200, {"status": "accepted"}

    # -- the work ---------------------------------------------------------------------------------------------

    def post_and_open(self, page: Page) -> None:
        """Post the page into the page channel and open its investigation in that message's thread.

        A page whose incident is already open joins it (or, when OK, resolves it) instead of being posted again.
        """
        if page.state == "OK":
            self.investigations.open(page)
            return
        existing = self.store.find_open_incident(page.fingerprint())
        if existing is not None and existing.channel and existing.thread_ts:
            self.investigations.open(
                page.model_copy(update={"channel": existing.channel, "message_ts": existing.thread_ts})
            )
            return
        resp = self.client.chat_postMessage(
            channel=self.settings.page_channel, text=announcement(page), unfurl_links=False
        )
        placed = page.model_copy(update={"channel": str(resp["channel"]), "message_ts": str(resp["ts"])})
        self.investigations.open(placed)

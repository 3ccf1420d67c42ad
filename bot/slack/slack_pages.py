"""Pages other apps post in Slack, taken as far as the webhook routes take theirs.

- A PagerDuty app post whose incident says too little (no metric: a free-form or cut title) is completed from the
  incident's first alert body through the REST API (``PAGERDUTY_API_TOKEN``), as ``/webhooks/pagerduty`` does;
  the call is bounded (it runs before Slack is answered) and a failure leaves the page as it came.
- An alarm posted as INSUFFICIENT_DATA (by AWS Chatbot / Amazon Q) after OK, or with no previous state (the posts
  seldom say it), goes through the silence rules of :mod:`bot.investigation.silence`: investigated when its
  silence is trouble, else a notice in the post's thread.
- A bot's post that claims to be a page but cannot be read is counted, logged and answered in its thread as an
  "unreadable notification" with what it said (:class:`~bot.slack.refusals.Refusals`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot.config import Settings
from bot.domain import Page
from bot.investigation.silence import as_trouble, is_silence, silence_is_trouble
from bot.slack.alarm_events import enrich_from_alert
from bot.slack.parsers import ParsedPage
from bot.slack.refusals import Refusals
from bot.slack.safety import untrusted
from bot.sources.pagerduty import PagerDutyApi

#: The PagerDuty REST call made before Slack is answered gets this long (Slack waits 3 s for the answer).
SLACK_ALERT_TIMEOUT_S = 1.5
_RAW_KEYS = ("username", "bot_profile", "text", "attachments", "blocks")


def needs_alert(parsed: ParsedPage) -> bool:
    """Whether a PagerDuty incident says too little to investigate: a firing incident with no metric (its title
    was free text, or CloudWatch's ``ALARM: name in Region``, whose alert body holds the metric)."""
    return parsed.page.state == "ALARM" and parsed.page.metric is None


def complete_from_alert(parsed: ParsedPage, api: PagerDutyApi | None) -> ParsedPage:
    """`parsed` completed from its incident's first alert body when it needs it and the API is configured."""
    if api is None or not parsed.page.incident_id or not needs_alert(parsed):
        return parsed
    alert = api.first_alert_body(parsed.page.incident_id)
    return enrich_from_alert(parsed, alert) if alert is not None else parsed


def silence_notice(page: Page) -> str:
    """What the channel is told of an alarm gone silent whose silence is not known to be trouble."""
    metric = " ".join(x for x in (page.namespace, page.metric) if x) or "its metric"
    since = " since it was OK" if (page.previous_state or "").upper() == "OK" else ""
    return (
        f":grey_question: *{untrusted(page.alarm_name or page.title, 255)}* has no data{since} "
        f"({untrusted(metric, 255)}): {untrusted(page.reason or 'no reason given', 500)}\n"
        "Not investigated: this metric going silent is not known to mean trouble "
        "(`SILENCE_MEANS_TROUBLE` lists the metrics whose silence is investigated)."
    )


def raw_message(event: Mapping[str, Any]) -> str:
    """What a Slack post said (its sender, text, attachments and blocks), as JSON to show a person."""
    shown = {k: event[k] for k in _RAW_KEYS if k in event}
    try:
        return json.dumps(shown, indent=1, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(shown)


@dataclass
class SlackPages:
    """What the Slack listener does with a page beyond reading it."""

    settings: Settings
    client: WebClient
    submit: Callable[..., object]
    refusals: Refusals
    pagerduty_api: PagerDutyApi | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, client: WebClient, submit: Callable[..., object]
    ) -> SlackPages:
        """The production wiring: a bounded read-only PagerDuty client when a token is set."""
        token = settings.pagerduty_api_token
        api = (
            PagerDutyApi(token, settings.pagerduty_api_url, timeout_s=SLACK_ALERT_TIMEOUT_S)
            if token
            else None
        )
        return cls(settings, client, submit, Refusals(client, settings.page_channel, submit), api)

    def complete(self, parsed: ParsedPage) -> ParsedPage:
        """The page completed from PagerDuty's first alert body when its post says too little."""
        return complete_from_alert(parsed, self.pagerduty_api)

    def silence(self, parsed: ParsedPage, first_time: Callable[[], bool]) -> Page | None:
        """An INSUFFICIENT_DATA post: the page to investigate when its silence is trouble; else None, after a
        notice in the post's thread (once: `first_time` says whether this delivery is new)."""
        page = parsed.page
        if not is_silence(page, unknown_before=True):
            return None  # INSUFFICIENT_DATA after ALARM: the alarm's own page told it already
        why = silence_is_trouble(
            page, self.settings.silence_means_trouble, parsed.facts.get("treat_missing_data")
        )
        if why is not None:
            return as_trouble(page, why)
        if page.channel and page.message_ts and first_time():
            self.submit(self._reply, page.channel, page.message_ts, silence_notice(page))
        return None

    def unreadable(
        self, event: Mapping[str, Any], channel: str, ts: str, first_time: Callable[[], bool]
    ) -> None:
        """A post that claims to be a page but could not be read: counted, logged, answered in its thread."""
        if first_time():
            self.refusals.unreadable(
                "slack",
                "a page posted in Slack names no alarm or incident",
                raw_message(event),
                thread=(channel, ts),
            )

    def _reply(self, channel: str, thread_ts: str, text: str) -> None:
        self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, unfurl_links=False)

"""Nothing delivered to us is dropped silently: every refused or unreadable payload is counted and logged with its
reason, and one that claims to be an alarm is posted into the page channel as an "unreadable notification" with
its raw content attached (escaped, redacted and cut), so that a person reads what the bot could not.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from slack_sdk import WebClient

from bot.slack.safety import code_block, untrusted

log = logging.getLogger(__name__)

#: How much of a raw payload is shown (Slack cuts a message's text at 40,000 characters; a page stays short).
RAW_LIMIT = 2500
_CLAIMS_ALARM = re.compile(
    r"AlarmName|alarmName|aws\.cloudwatch|CloudWatch Alarm|\b(?:ALARM|INSUFFICIENT_DATA)\b|alarm|incident",
    re.IGNORECASE,
)


def claims_alarm(raw: bytes | str) -> bool:
    """Whether a payload says it is about an alarm or an incident (so a person must see it if we cannot read it)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else raw
    return bool(_CLAIMS_ALARM.search(text[:100_000]))


def unreadable_text(source: str, reason: str, raw: bytes | str) -> str:
    """The message an unreadable notification is posted as: what came, why it could not be read, what it said."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else raw
    return (
        f":warning: *Unreadable alarm notification* from {untrusted(source, 40)}: {untrusted(reason, 300)}. "
        "Nothing was investigated; here is what it said:\n" + code_block(text, RAW_LIMIT)
    )


@dataclass
class Refusals:
    """Counts of refused and unreadable deliveries by endpoint and reason, and the posts of unreadable alarms."""

    client: WebClient
    channel: str
    submit: Callable[..., object]
    counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refused(self, source: str, status: int, reason: str) -> None:
        """Count and log a delivery refused with `status` (bad signature, bad shape, ...)."""
        with self._lock:
            self.counts[f"{source} {status}: {reason}"] += 1
            total = sum(self.counts.values())
        log.warning(
            "%s delivery refused (%d): %s [%d refused or unreadable so far]", source, status, reason, total
        )

    def unreadable(
        self, source: str, reason: str, raw: bytes | str, *, thread: tuple[str, str] | None = None
    ) -> bool:
        """Count and log a delivery we accepted but could not read; post it when it claims to be an alarm (in the
        page channel, or in `thread`, a channel and message ts, for a page posted in Slack). Returns whether it is
        posted."""
        with self._lock:
            self.counts[f"{source} unreadable: {reason}"] += 1
            total = sum(self.counts.values())
        log.warning("%s delivery unreadable: %s [%d refused or unreadable so far]", source, reason, total)
        if not claims_alarm(raw):
            return False
        self.submit(self._post, unreadable_text(source, reason, raw), thread)
        return True

    def snapshot(self) -> dict[str, int]:
        """The counts so far, by ``<endpoint> <status or 'unreadable'>: <reason>``."""
        with self._lock:
            return dict(self.counts)

    def _post(self, text: str, thread: tuple[str, str] | None = None) -> None:
        channel, thread_ts = thread if thread is not None else (self.channel, None)
        self.client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=text, unfurl_links=False, unfurl_media=False
        )

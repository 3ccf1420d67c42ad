"""Which Slack channels are incident channels: pages are investigated there and nowhere else unasked.

An incident channel is one whose name matches ``INCIDENT_CHANNEL_PATTERNS`` (``inc-*``, ``incident-*``) or
the ``PAGE_CHANNEL`` itself (given as ``#name`` or as a channel id). Events carry channel ids only, so names
are read with ``conversations.info`` the first time a channel is seen and kept for a while; channel_created
and channel_rename events teach names without a call.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

#: How long a channel's name is trusted before it is read again (a rename event updates it sooner).
NAME_TTL_S = 600.0


class IncidentChannels:
    """Answers `is_incident(channel_id)` from the settings, reading names through `client` (cached)."""

    def __init__(
        self, client: WebClient, patterns: Sequence[str], page_channel: str, *, ttl_s: float = NAME_TTL_S
    ) -> None:
        self.client = client
        self.patterns = list(patterns)
        self.page_channel = page_channel.strip()
        self.ttl_s = ttl_s
        self._names: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def learn(self, channel_id: str, name: str) -> None:
        """Remember a channel's name (from an event that carried it)."""
        with self._lock:
            self._names[channel_id] = (name, time.monotonic())

    def matches(self, name: str) -> bool:
        """Whether a channel name makes it an incident channel."""
        page = self.page_channel.lstrip("#")
        return name == page or any(fnmatch.fnmatch(name, p) for p in self.patterns)

    def is_incident(self, channel_id: str) -> bool:
        """Whether pages posted in `channel_id` are investigated. Raises when Slack cannot say (the caller
        answers non-2xx and the event comes again)."""
        if channel_id == self.page_channel:
            return True
        name = self.name_of(channel_id)
        return name is not None and self.matches(name)

    def name_of(self, channel_id: str) -> str | None:
        """The channel's name (None for a channel Slack does not show us, or a DM)."""
        with self._lock:
            known = self._names.get(channel_id)
        if known is not None and time.monotonic() - known[1] < self.ttl_s:
            return known[0]
        try:
            resp = self.client.conversations_info(channel=channel_id)
        except SlackApiError as err:
            if err.response.get("error") in ("channel_not_found", "not_in_channel", "missing_scope"):
                return None
            raise
        channel = resp.get("channel") or {}
        name = str(channel.get("name") or "") if not channel.get("is_im") else ""
        self.learn(channel_id, name)
        return name or None

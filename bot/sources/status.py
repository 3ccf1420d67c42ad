"""Third-party status pages, read-only, in the Atlassian Statuspage v2 format most vendors publish
(`https://status.<vendor>.com/api/v2/summary.json`). Which page belongs to which external service is
configuration (STATUS_PAGES)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bot.sources.result import Outcome, ToolResult, guarded

#: Statuspage indicators as states.
INDICATORS = {
    "none": "ok",
    "minor": "degraded",
    "major": "outage",
    "critical": "outage",
    "maintenance": "degraded",
}


@dataclass(frozen=True)
class VendorStatus:
    """What a status page says now."""

    service: str
    state: str
    message: str
    updated: datetime | None


def _classify(exc: Exception) -> tuple[Outcome, str]:
    if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in (401, 403):
        return Outcome.DENIED, f"status page refused ({exc.response.status_code})"
    return Outcome.ERROR, f"status page unreachable: {type(exc).__name__}"


def parse_summary(service: str, body: dict[str, Any]) -> VendorStatus:
    """A Statuspage v2 `summary.json` (or `status.json`) as a VendorStatus."""
    status = body.get("status") or {}
    state = INDICATORS.get(str(status.get("indicator", "none")), "degraded")
    message = str(status.get("description", ""))
    updated = None
    for incident in body.get("incidents") or []:
        updates = incident.get("incident_updates") or []
        text = updates[0].get("body") if updates else incident.get("name")
        if text:
            message = f"{incident.get('name', '')}: {text}".strip(": ")
        stamp = incident.get("updated_at") or incident.get("created_at")
        if stamp:
            updated = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        break
    return VendorStatus(service, state, message, updated)


class StatusPages:
    """Reads the configured vendors' status pages."""

    def __init__(self, pages: dict[str, str], timeout: float = 5.0) -> None:
        self.pages = dict(pages)
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def status(self, service: str) -> ToolResult[VendorStatus]:
        """The current status of one vendor, if it has a configured page."""
        url = self.pages.get(service)
        if url is None:
            return ToolResult(Outcome.NO_DATA, f"status:{service}", None, "no status page configured")

        def fetch() -> VendorStatus:
            resp = self._client.get(url)
            resp.raise_for_status()
            return parse_summary(service, resp.json())

        return guarded(f"status:{service}", fetch, _classify)

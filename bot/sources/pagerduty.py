"""PagerDuty's REST API, read-only: an incident's first alert, whose body holds what the monitor sent.

A v3 webhook carries the incident (title, service, urgency) but not its alerts' bodies; for an incident from
PagerDuty's CloudWatch integration the first alert's ``body.details`` is the alarm notification itself (name,
metric, dimensions). ``GET /incidents/{id}/alerts`` with ``Authorization: Token token=<key>`` and the v2 media
type (PagerDuty REST API reference, "List alerts for an incident",
https://developer.pagerduty.com/api-reference/4bc42e7ac0c59-list-alerts-for-an-incident). A read-only key is
enough; the base URL is a setting (the sandbox serves a stand-in on loopback).
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Mapping
from typing import Any

import httpx

log = logging.getLogger(__name__)

ACCEPT = "application/vnd.pagerduty+json;version=2"


class PagerDutyApi:
    """A read-only PagerDuty REST client; every failure is logged and read as "nothing more is known"."""

    def __init__(
        self, token: str, base_url: str = "https://api.pagerduty.com", timeout_s: float = 3.0
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Token token={token}", "Accept": ACCEPT},
            timeout=timeout_s,
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def first_alert_body(self, incident_id: str) -> Mapping[str, Any] | None:
        """The body of the incident's earliest alert (``type: alert_body``, with ``details`` / ``cef_details``), or
        None when there is none or the API cannot be read."""
        path = f"/incidents/{urllib.parse.quote(incident_id, safe='')}/alerts"
        try:
            resp = self._client.get(path, params={"limit": 1, "offset": 0, "sort_by": "created_at:asc"})
            resp.raise_for_status()
            alerts = resp.json().get("alerts")
        except (httpx.HTTPError, ValueError, AttributeError) as err:
            log.warning("PagerDuty alerts of incident %s not read: %s", incident_id, err)
            return None
        if not isinstance(alerts, list) or not alerts or not isinstance(alerts[0], Mapping):
            return None
        body = alerts[0].get("body")
        return body if isinstance(body, Mapping) else None

"""A stand-in for PagerDuty's REST API on loopback: ``GET /incidents/{id}/alerts``, as the API reference documents it.

It answers only requests carrying ``Authorization: Token token=<its token>`` (401 otherwise, with PagerDuty's error
object), pages with ``limit`` / ``offset`` / ``more``, and serves the alerts a test or the demo gave each incident.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.sandbox.httpserver import LoopbackServer, Request, Response


def cloudwatch_alert_body(alarm_message: Mapping[str, Any]) -> dict[str, Any]:
    """The alert body PagerDuty's CloudWatch integration stores: the alarm notification as its ``details``."""
    return {"type": "alert_body", "contexts": [], "details": dict(alarm_message)}


def events_v2_alert_body(summary: str, source: str, custom: Mapping[str, Any]) -> dict[str, Any]:
    """The alert body of an Events API v2 event: ``cef_details`` (summary, source) and its custom ``details``."""
    return {
        "type": "alert_body",
        "contexts": [],
        "details": dict(custom),
        "cef_details": {"message": summary, "source_location": source, "details": dict(custom)},
    }


class FakePagerDuty(LoopbackServer):
    """Serves the alerts of the incidents it holds to a client with its token."""

    def __init__(self, token: str, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self.token = token
        self.alerts: dict[str, list[dict[str, Any]]] = {}
        self.route("GET", r"^/incidents/(?P<incident>[A-Za-z0-9]+)/alerts$")(self._alerts)

    def add_alert(self, incident_id: str, body: Mapping[str, Any], summary: str = "") -> None:
        """Give `incident_id` one more alert (oldest first) whose body is `body`."""
        alerts = self.alerts.setdefault(incident_id, [])
        alerts.append(
            {
                "id": f"Q{incident_id[:6].upper()}{len(alerts):04d}",
                "type": "alert",
                "summary": summary,
                "status": "triggered",
                "created_at": "2026-01-01T00:00:00Z",
                "incident": {"id": incident_id, "type": "incident_reference"},
                "body": dict(body),
            }
        )

    def _alerts(self, req: Request) -> Response:
        if req.header("authorization") != f"Token token={self.token}":
            return Response.json({"error": {"message": "Unauthorized", "code": 2006}}, status=401)
        try:
            limit = max(1, min(int(req.query.get("limit", "25")), 100))
            offset = max(0, int(req.query.get("offset", "0")))
        except ValueError:
            return Response.json({"error": {"message": "Invalid Input Provided", "code": 2001}}, status=400)
        alerts = self.alerts.get(req.path_params["incident"], [])
        return Response.json(
            {
                "alerts": alerts[offset : offset + limit],
                "limit": limit,
                "offset": offset,
                "more": offset + limit < len(alerts),
                "total": None,
            }
        )

"""A stand-in for third-party status pages (Statuspage v2 `summary.json`), one per external service,
showing each service's latest `status` event at or before the page."""

from __future__ import annotations

from typing import Any

from bot.sandbox.httpserver import LoopbackServer, Request, Response
from bot.sandbox.world import World

STATES = {
    "ok": ("none", "All Systems Operational"),
    "degraded": ("minor", "Partial System Degradation"),
    "outage": ("major", "Major Service Outage"),
}


class StatusPagesServer(LoopbackServer):
    """Serves `/<service>/api/v2/summary.json` for every external service of a world."""

    def __init__(self, world: World, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self.world = world
        self.route("GET", r"^/(?P<service>[\w.-]+)/api/v2/(summary|status)\.json$")(self._summary)

    def url_for(self, service: str) -> str:
        """The summary URL of one service's page."""
        return f"{self.base_url}/{service}/api/v2/summary.json"

    def pages(self) -> dict[str, str]:
        """Service -> status page URL for every external service."""
        return {s.name: self.url_for(s.name) for s in self.world.scenario.services if s.kind == "external"}

    def _summary(self, req: Request) -> Response:
        service = req.path_params["service"]
        events = sorted(
            (
                e
                for e in self.world.scenario.events
                if e.status is not None and e.status.service == service and e.at <= 0
            ),
            key=lambda e: e.at,
        )
        body: dict[str, Any] = {
            "page": {"name": service},
            "status": {"indicator": "none", "description": STATES["ok"][1]},
            "incidents": [],
        }
        if events:
            last = events[-1]
            assert last.status is not None
            indicator, description = STATES[last.status.state]
            at = self.world.time(last.at).isoformat().replace("+00:00", "Z")
            body["status"] = {"indicator": indicator, "description": description}
            if last.status.state != "ok":
                body["incidents"] = [
                    {
                        "name": last.status.message.split(" - ")[0][:80] or description,
                        "status": "investigating",
                        "created_at": at,
                        "updated_at": at,
                        "incident_updates": [{"body": last.status.message, "created_at": at}],
                    }
                ]
        return Response.json(body)

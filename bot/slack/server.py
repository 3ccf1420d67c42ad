"""Serve the Slack surface: one small threaded HTTP server, or Socket Mode when an app-level token is set.

HTTP routes: ``POST /slack/events`` (Bolt, through slack_bolt's WSGI adapter: events, interactivity and
``/sre``), ``POST /webhooks/pagerduty`` and ``POST /webhooks/sns`` (:mod:`bot.slack.intake`) and
``GET /healthz``. In Socket Mode Slack's traffic comes over the websocket and the same HTTP server still
takes the webhooks and health checks.
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.config import Settings
from bot.investigation.engine import Deps, Investigator
from bot.investigation.ports import Investigations, Notifier
from bot.investigation.questions import Questions
from bot.slack.app import SlackDeps, WorkPool, build_app, make_client
from bot.slack.blocks import LinkBuilder
from bot.slack.intake import Intake
from bot.slack.notifier import SlackNotifier
from bot.slack.verify import SnsVerifier
from bot.sources.aws.clients import AwsClients
from bot.sources.github import GithubSource
from bot.sources.status import StatusPages
from bot.storage.db import make_engine, migrate
from bot.storage.store import Store

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

EVENTS_PATH = "/slack/events"
MAX_WEBHOOK_BODY = 256 * 1024


def _json(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    raw = json.dumps(body).encode()
    reason = {
        200: "OK",
        202: "Accepted",
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        413: "Too Large",
    }
    start_response(
        f"{status} {reason.get(status, 'Status')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(raw)))],
    )
    return [raw]


def _headers(environ: Environ) -> dict[str, str]:
    out = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        out["content-type"] = str(environ["CONTENT_TYPE"])
    return out


def wsgi_app(bolt: App | None, intake: Intake | None) -> WsgiApp:
    """The router: Bolt for Slack (when `bolt` is given), the intake webhooks, and a health check."""
    slack = SlackRequestHandler(bolt, path=EVENTS_PATH) if bolt is not None else None

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz":
            return _json(start_response, 200, {"ok": True})
        if path == EVENTS_PATH and slack is not None:
            return slack(environ, start_response)
        if path in ("/webhooks/pagerduty", "/webhooks/sns") and method == "POST" and intake is not None:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length > MAX_WEBHOOK_BODY:
                return _json(start_response, 413, {"error": "body too large"})
            body = environ["wsgi.input"].read(length) if length else b""
            headers = _headers(environ)
            status, answer = (
                intake.pagerduty(body, headers)
                if path.endswith("pagerduty")
                else intake.sns_message(body, headers)
            )
            return _json(start_response, status, answer)
        return _json(start_response, 404, {"error": "not found"})

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog is 5: a burst of connections overflows it and the kernel drops SYNs,
    # which clients retry only after 1 s (then 2 s, 4 s) -- exactly the acks Slack would count as missed
    request_queue_size = 256


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged line by line."""


class HttpServer:
    """A threaded WSGI server on `host:port` (port 0 picks a free one), served from a daemon thread."""

    def __init__(self, app: WsgiApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = make_server(
            host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}" if isinstance(host, str) else f"http://127.0.0.1:{port}"

    def start(self) -> HttpServer:
        """Serve in the background."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), daemon=True, name="http"
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until `stop` is called (from another thread or a signal handler)."""
        self._server.serve_forever(0.2)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)


#: Builds the investigation use case on the store, the notifier and the process's one investigator.
InvestigationsFactory = Callable[[Settings, Store, Notifier, Investigator], Investigations]


def _service(settings: Settings, store: Store, notifier: Notifier, engine: Investigator) -> Investigations:
    from bot.investigation.service import InvestigationService
    from bot.investigation.workflow import launch_runtime

    durable = launch_runtime(settings, lambda: engine.deps, store, notifier, investigator=engine)
    return InvestigationService(durable, store)


@dataclass
class SlackSurface:
    """The Slack surface, wired once: the Bolt app, the webhook intake, the notifier and what they run on
    (store, Web API client, work pool, the investigation use case). `HttpServer` or Socket Mode serves it."""

    settings: Settings
    client: WebClient
    store: Store
    pool: WorkPool
    notifier: SlackNotifier
    investigations: Investigations
    app: App
    intake: Intake

    def settle(self, timeout_s: float = 30.0) -> None:
        """Wait until no investigation or follow-up is queued or running (the demo and tests end so)."""
        durable = getattr(self.investigations, "runtime", None)
        if durable is not None and callable(getattr(durable, "settle", None)):
            durable.settle(timeout_s)

    def close(self) -> None:
        """Finish queued work, stop the investigation runtime if it can be stopped, flush findings."""
        self.pool.shutdown(wait=True)
        durable = getattr(self.investigations, "runtime", None)
        if durable is not None and callable(getattr(durable, "shutdown", None)):
            durable.shutdown()
        self.notifier.close()


def default_deps(settings: Settings) -> Deps:
    """The read-only tools of a real deployment: AWS, GitHub and status pages as configured."""
    github = GithubSource(settings.github_token, settings.github_api_url) if settings.github_token else None
    return Deps(
        aws=AwsClients(settings.aws_region),
        github=github,
        status=StatusPages(settings.status_pages) if settings.status_pages else None,
        concurrency=settings.gather_concurrency,
    )


def build_surface(
    settings: Settings,
    *,
    client: WebClient | None = None,
    deps: Deps | None = None,
    investigations: InvestigationsFactory = _service,
    store: Store | None = None,
    sns_verifier: SnsVerifier | None = None,
    subscribe_allowed: Callable[[str], bool] | None = None,
    flush_interval: float = 2.0,
) -> SlackSurface:
    """Wire the store, the Web API client, the notifier, the use case, the Bolt app and the webhook intake.

    The read-only adapters are built once, by the investigator, and shared: the questions people ask in
    Slack read the estate through the same topology cache as the investigations.
    """
    if store is None:
        migrate(settings.database_url)
        store = Store(make_engine(settings.database_url))
    client = client or make_client(settings)
    engine = Investigator(deps or default_deps(settings))
    pool = WorkPool(settings.work_pool_size)
    links = LinkBuilder(settings.aws_region)
    notifier = SlackNotifier(client, store, links, flush_interval=flush_interval, background=pool.submit)
    service = investigations(settings, store, notifier, engine)
    questions = Questions(engine.topology, engine.telemetry, engine.changes, engine.deps.github, service)
    app = build_app(SlackDeps(settings, store, service, questions, pool), client)
    intake = Intake.from_settings(settings, store, service, client, pool)
    if sns_verifier is not None:
        intake.sns = sns_verifier
    if subscribe_allowed is not None:
        intake.subscribe_allowed = subscribe_allowed
    return SlackSurface(settings, client, store, pool, notifier, service, app, intake)


def serve(settings: Settings) -> None:
    """`sre-bot serve`: HTTP mode on ``settings.port``, or Socket Mode when ``SLACK_APP_TOKEN`` is set."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    surface = build_surface(settings)
    # Everything built so far (boto3's service models, Bolt, DBOS) lives as long as the process: moved out of
    # the collector's reach, a full collection no longer walks it while Slack waits for an ack.
    gc.collect()
    gc.freeze()
    socket_mode = bool(settings.slack_app_token)
    http = HttpServer(
        wsgi_app(None if socket_mode else surface.app, surface.intake), "0.0.0.0", settings.port
    )
    socket: SocketModeHandler | None = None
    if socket_mode:
        socket = SocketModeHandler(surface.app, app_token=settings.slack_app_token)
        socket.connect()  # type: ignore[no-untyped-call]
        log.info("Socket Mode connected; webhooks and /healthz on %s", http.url)
    else:
        log.info("serving Slack events on %s%s", http.url, EVENTS_PATH)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=http.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        http.serve_forever()
    finally:
        if socket is not None:
            socket.close()  # type: ignore[no-untyped-call]
        surface.close()

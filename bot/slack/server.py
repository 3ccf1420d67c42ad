"""Serve the Slack surface: one small threaded HTTP server, or Socket Mode when an app-level token is set.

HTTP routes: ``POST /slack/events`` (Bolt, through slack_bolt's WSGI adapter: events, interactivity and
``/sre``), ``POST /webhooks/pagerduty``, ``POST /webhooks/sns`` and ``POST /webhooks/eventbridge``
(:mod:`bot.slack.intake`), ``GET /healthz``
(the process answers) and ``GET /readyz`` (:mod:`bot.slack.health`). In Socket Mode Slack's traffic comes over
the websocket and the same HTTP server still takes the webhooks and health checks.

Every POST is checked here before anything parses it: a Content-Length within the endpoint's cap (else 411, 400
or 413, with nothing read), the sender's signature headers (401 before the body is read), the body read under
the server's deadline (408 when it stops coming, 400 when it ends short), the signature over the raw bytes (401),
then the body's shape (400): whatever reaches Bolt or the intake is signed and a JSON object where one is due.
Each refusal is a 4xx with a one-line reason; 500 is left for our own faults. The server itself
(:mod:`bot.slack.httpd`) bounds connections, threads and every read and write in time.
"""

from __future__ import annotations

import gc
import io
import json
import logging
import os
import re
import secrets
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.config import Settings
from bot.investigation.engine import Deps, Investigator
from bot.investigation.ports import Investigations, Notifier
from bot.investigation.questions import Questions
from bot.llm.runtime import model_runtime
from bot.mitigation.execution import stop_waiting
from bot.slack.app import SlackDeps, WorkPool, build_app, make_client
from bot.slack.blocks import LinkBuilder
from bot.slack.health import Readiness
from bot.slack.httpd import HttpServer, Limits, mark_body_unread
from bot.slack.intake import Intake
from bot.slack.mitigation_notifier import wire_fixes, wire_mitigations
from bot.slack.notifier import SlackNotifier
from bot.slack.prevention_actions import install_prevention
from bot.slack.supervisor import WorkerChild
from bot.slack.verify import (
    RequestRefused,
    SnsVerifier,
    check_slack_headers,
    pagerduty_secrets,
    verify_api_destination,
    verify_pagerduty_signature,
    verify_slack_signature,
)
from bot.sources.aws.clients import AwsClients
from bot.sources.github import GithubSource
from bot.sources.knowledge import Knowledge
from bot.sources.status import StatusPages
from bot.storage.db import make_engine, migrate
from bot.storage.store import Store

__all__ = ["HttpServer", "Limits", "SlackSurface", "build_surface", "serve", "wsgi_app"]

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

EVENTS_PATH = "/slack/events"
PAGERDUTY_PATH = "/webhooks/pagerduty"
SNS_PATH = "/webhooks/sns"
EVENTBRIDGE_PATH = "/webhooks/eventbridge"
WEBHOOK_PATHS = (PAGERDUTY_PATH, SNS_PATH, EVENTBRIDGE_PATH)

#: Slack's requests are small: an Events API callback or a slash command is a few KB, an interactivity payload
#: carries one message (at most 40,000 characters of text) or one modal. 1 MiB is room for the largest of them
#: and refuses anything else before a byte of it is read.
MAX_SLACK_BODY = 1024 * 1024
#: A CloudWatch alarm notification is about 2 KB and a PagerDuty v3 webhook a few KB; SNS caps a message at
#: 256 KiB, so nothing genuine comes near.
MAX_WEBHOOK_BODY = 256 * 1024

_REASONS = {
    200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
    500: "Internal Server Error", 503: "Service Unavailable",
}  # fmt: skip
_LENGTH = re.compile(r"[0-9]{1,15}")


def _json(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    raw = json.dumps(body).encode()
    start_response(
        f"{status} {_REASONS.get(status, 'Status')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(raw)))],
    )
    return [raw]


def _headers(environ: Environ) -> dict[str, str]:
    out = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        out["content-type"] = str(environ["CONTENT_TYPE"])
    return out


class Refused(Exception):
    """A request answered with a 4xx: `status`, a one-line `reason`, and whether its body was left unread."""

    def __init__(self, status: int, reason: str, *, unread: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.unread = unread


def content_length(environ: Environ, cap: int) -> int:
    """The request's Content-Length, if it is a number no larger than `cap`; else `Refused` (nothing read)."""
    if environ.get("HTTP_TRANSFER_ENCODING"):
        raise Refused(411, "Transfer-Encoding is not accepted: send a Content-Length", unread=True)
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not raw:
        raise Refused(411, "a Content-Length is required", unread=True)
    if not _LENGTH.fullmatch(raw):
        raise Refused(400, "Content-Length is not a whole number of bytes", unread=True)
    length = int(raw)
    if length > cap:
        raise Refused(413, f"a body of {length} bytes is over this endpoint's {cap}", unread=True)
    return length


def read_body(environ: Environ, length: int) -> bytes:
    """Exactly `length` bytes of body, read a piece at a time under the server's deadline."""
    stream = environ["wsgi.input"]
    pieces: list[bytes] = []
    left = length
    try:
        while left > 0:
            piece = stream.read(min(left, 64 * 1024))
            if not piece:
                raise Refused(400, f"body ended after {length - left} of {length} bytes")
            pieces.append(piece)
            left -= len(piece)
    except TimeoutError:
        raise Refused(
            408, f"body not received in time ({length - left} of {length} bytes)", unread=True
        ) from None
    return b"".join(pieces)


def json_object(raw: bytes | str, what: str = "body") -> dict[str, Any]:
    """`raw` parsed as a JSON object, or `Refused` 400."""
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        raise Refused(400, f"{what} is not JSON") from None
    if not isinstance(parsed, dict):
        raise Refused(400, f"{what} is not a JSON object")
    return parsed


def slack_body_problem(text: str, content_type: str | None) -> None:
    """Refuse (400) a body Bolt would fail to parse; the same rules as Bolt's own ``parse_body``."""
    if not text:
        return
    if content_type == "application/json" or text.startswith("{"):
        json_object(text)
    elif "payload" in text:
        payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        if payload is not None:
            json_object(payload, "payload")


class _Router:
    """The routes; each POST is taken only after the checks of the module docstring."""

    def __init__(
        self, bolt: App | None, intake: Intake | None, readiness: Readiness | None, signing_secret: str | None
    ) -> None:
        if bolt is not None and not signing_secret:
            raise ValueError("serving Slack over HTTP needs SLACK_SIGNING_SECRET")
        self.slack = SlackRequestHandler(bolt, path=EVENTS_PATH) if bolt is not None else None
        self.intake = intake
        self.readiness = readiness
        self.signing_secret = signing_secret
        self.posts: dict[str, WsgiApp] = {}
        if self.slack is not None:
            self.posts[EVENTS_PATH] = self.slack_events
        if intake is not None:
            self.posts[PAGERDUTY_PATH] = self.pagerduty
            self.posts[SNS_PATH] = self.sns
            self.posts[EVENTBRIDGE_PATH] = self.eventbridge

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            return self.route(environ, start_response)
        except Refused as refused:
            if refused.unread:
                mark_body_unread(environ)
            self._count(environ, refused.status, refused.reason)
            return _json(start_response, refused.status, {"error": refused.reason})
        except Exception:
            error_id = secrets.token_hex(4)
            log.exception(
                "%s %s failed [error %s]", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), error_id
            )
            return _json(start_response, 500, {"error": "internal error", "error_id": error_id})

    def _count(self, environ: Environ, status: int, reason: str) -> None:
        """Count and log a webhook or Slack delivery refused with `status` (every refusal is counted, none is
        silent)."""
        path = str(environ.get("PATH_INFO", ""))
        if self.intake is not None and (path in WEBHOOK_PATHS or path == EVENTS_PATH):
            source = "slack" if path == EVENTS_PATH else path.rsplit("/", 1)[-1]
            self.intake.refusals.refused(source, status, reason)

    def _answer(
        self, environ: Environ, start_response: StartResponse, status: int, answer: dict[str, Any]
    ) -> list[bytes]:
        if status >= 400:
            self._count(environ, status, str(answer.get("error", "")))
        return _json(start_response, status, answer)

    def route(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Health, readiness, the POST endpoints, else 404 (a body is never read where none is taken)."""
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        endpoint = self.posts.get(path)
        if endpoint is not None and method == "POST":
            return endpoint(environ, start_response)
        if str(environ.get("CONTENT_LENGTH") or "0").strip() not in ("", "0"):
            mark_body_unread(environ)
        if endpoint is not None:
            raise Refused(405, f"{path} takes POST only")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _json(start_response, 200, {"ok": True})
        if path == "/readyz" and method in ("GET", "HEAD") and self.readiness is not None:
            readout = self.readiness.report()
            body: dict[str, Any] = {"ok": readout.ok, "checks": readout.checks}
            if not readout.ok:
                body["failing"] = readout.failing
            return _json(start_response, 200 if readout.ok else 503, body)
        return _json(start_response, 404, {"error": "not found"})

    def slack_events(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Slack: signature headers, body, signature, UTF-8 and shape, then Bolt (which verifies again)."""
        assert self.slack is not None
        length = content_length(environ, MAX_SLACK_BODY)
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE")
        try:
            check_slack_headers(timestamp, signature)
        except RequestRefused as err:
            raise Refused(err.status, err.reason, unread=True) from None
        assert timestamp is not None and signature is not None
        body = read_body(environ, length)
        if not verify_slack_signature(body, timestamp, signature, self.signing_secret):
            raise Refused(401, "invalid signature")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "body is not UTF-8") from None
        slack_body_problem(text, environ.get("CONTENT_TYPE"))
        replay = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        return self.slack(replay, start_response)

    def pagerduty(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """PagerDuty: a signature header, body, signature, a JSON object with an event, then the intake."""
        assert self.intake is not None
        length = content_length(environ, MAX_WEBHOOK_BODY)
        signature = environ.get("HTTP_X_PAGERDUTY_SIGNATURE")
        if not signature:
            raise Refused(401, "missing X-PagerDuty-Signature", unread=True)
        body = read_body(environ, length)
        secrets_ = pagerduty_secrets(self.intake.settings.pagerduty_webhook_secret)
        if not verify_pagerduty_signature(body, signature, secrets_):
            raise Refused(401, "invalid signature")
        if not isinstance(json_object(body).get("event"), dict):
            raise Refused(400, "body has no event object")
        status, answer = self.intake.pagerduty(body, _headers(environ))
        return self._answer(environ, start_response, status, answer)

    def sns(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """SNS: body and a JSON object, then the intake (the signature is inside the message)."""
        assert self.intake is not None
        body = read_body(environ, content_length(environ, MAX_WEBHOOK_BODY))
        json_object(body)
        status, answer = self.intake.sns_message(body, _headers(environ))
        return self._answer(environ, start_response, status, answer)

    def eventbridge(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """EventBridge API destinations: the connection's credential (before the body), body, JSON, the intake."""
        assert self.intake is not None
        length = content_length(environ, MAX_WEBHOOK_BODY)
        settings = self.intake.settings
        headers = _headers(environ)
        if not settings.eventbridge_secret:
            raise Refused(401, "EVENTBRIDGE_SECRET is not set: this endpoint takes no events", unread=True)
        if not verify_api_destination(headers, settings.eventbridge_auth_header, settings.eventbridge_secret):
            raise Refused(
                401, f"missing or wrong {settings.eventbridge_auth_header} / Basic credential", unread=True
            )
        body = read_body(environ, length)
        json_object(body)
        status, answer = self.intake.eventbridge(body, headers)
        return self._answer(environ, start_response, status, answer)


def wsgi_app(
    bolt: App | None,
    intake: Intake | None,
    *,
    readiness: Readiness | None = None,
    signing_secret: str | None = None,
) -> WsgiApp:
    """The router: Bolt for Slack (when `bolt` is given), the intake webhooks, ``/healthz`` and ``/readyz``.

    `signing_secret` and `readiness` default to what the intake's settings say.
    """
    settings = intake.settings if intake is not None else None
    if readiness is None and settings is not None:
        readiness = Readiness.for_settings(settings)
    secret = signing_secret or (settings.slack_signing_secret if settings is not None else None)
    return _Router(bolt, intake, readiness, secret)


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
        stop_waiting()  # actions waiting for a decision leave their threads; they resume on the next launch
        self.notifier.close()


def default_deps(settings: Settings) -> Deps:
    """The read-only tools of a real deployment: AWS, GitHub and status pages as configured."""
    github = GithubSource(settings.github_token, settings.github_api_url) if settings.github_token else None
    return Deps(
        aws=AwsClients(settings.aws_region),
        github=github,
        status=StatusPages(settings.status_pages) if settings.status_pages else None,
        concurrency=settings.gather_concurrency,
        change_lookback=timedelta(minutes=settings.change_lookback_minutes),
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
    mitigations, acting = wire_mitigations(settings, store, client, engine.deps.aws)  # before DBOS launches
    service = investigations(settings, store, notifier, engine)
    if investigations is _service:  # DBOS is launched: apply the nightly and weekly schedules
        install_prevention(settings, store, client)
    questions = Questions(
        engine.topology,
        engine.telemetry,
        engine.changes,
        engine.deps.github,
        service,
        model=model_runtime(settings),
        knowledge=Knowledge(settings.skills_dir, settings.steering_dir),
        status=engine.deps.status,
    )
    deps_ = SlackDeps(
        settings,
        store,
        service,
        questions,
        pool,
        mitigations=mitigations,
        mitigation_groups=acting.groups_of,
        fixes=wire_fixes(settings, store),
    )
    app = build_app(deps_, client)
    intake = Intake.from_settings(settings, store, service, client, pool)
    if sns_verifier is not None:
        intake.sns = sns_verifier
    if subscribe_allowed is not None:
        intake.subscribe_allowed = subscribe_allowed
    return SlackSurface(settings, client, store, pool, notifier, service, app, intake)


#: The suffix of the executor id of a `serve` whose worker child runs its investigations: the child takes the
#: settings' own id (so it resumes what an earlier `serve` of that id left running), and the HTTP process,
#: which runs no workflow, another.
ACKS_SUFFIX = "-acks"


def split_for_child(settings: Settings) -> tuple[Settings, dict[str, str]]:
    """For a `serve` that runs investigations: the HTTP process's settings (it only enqueues, under an
    executor id of its own) and the worker child's environment (the settings' executor id)."""
    acks = settings.model_copy(
        update={"run_investigations": False, "executor_id": settings.executor_id + ACKS_SUFFIX}
    )
    return acks, {**os.environ, "EXECUTOR_ID": settings.executor_id}


def serve(settings: Settings) -> None:
    """`sre-bot serve`: HTTP mode on ``settings.port``, or Socket Mode when ``SLACK_APP_TOKEN`` is set; with
    ``run_investigations`` a supervised worker child (:mod:`bot.slack.supervisor`) runs the investigations."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    child: WorkerChild | None = None
    readiness: Readiness | None = None
    if settings.run_investigations:  # the investigations run in a worker child: this process only acks
        settings, child_env = split_for_child(settings)
        child = WorkerChild(env=child_env).start()
        readiness = Readiness.for_settings(settings, worker=child)
    try:
        _serve(settings, readiness, child.stop if child is not None else None)
    finally:
        if child is not None:
            child.stop()


def _serve(settings: Settings, readiness: Readiness | None, on_stop: Callable[[], None] | None) -> None:
    surface = build_surface(settings)
    # Everything built so far (boto3's service models, Bolt, DBOS) lives as long as the process: moved out of
    # the collector's reach, a full collection no longer walks it while Slack waits for an ack.
    gc.collect()
    gc.freeze()
    socket_mode = bool(settings.slack_app_token)
    http = HttpServer(
        wsgi_app(None if socket_mode else surface.app, surface.intake, readiness=readiness),
        settings.host,
        settings.port,
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
        if on_stop is not None:  # the worker child stops while this process finishes its requests
            threading.Thread(target=on_stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        http.serve_forever()
    finally:
        if socket is not None:
            socket.close()  # type: ignore[no-untyped-call]
        surface.close()

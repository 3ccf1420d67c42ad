"""The one front door of the simulated AWS: a small HTTP server that every boto3 client reaches.

Clients find it through ``AWS_ENDPOINT_URL``. For each request it names the service (SigV4 credential scope)
and operation (per protocol, see :mod:`protocol`), sleeps the injected latency in the request's own thread,
answers scenario *gaps* with AWS's AccessDenied for that protocol, serves the operations moto lacks from our
stand-ins (CloudWatch, CloudTrail LookupEvents, Logs Insights, X-Ray GetServiceGraph, Auto Scaling
DescribeScalingActivities, CloudFormation stack resources, events, templates and change sets, RDS
DescribeEvents) and proxies everything else to moto's
ThreadedMotoServer unchanged (status, headers, body).
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from bot.sandbox.aws.protocol import Reply, Request, access_denied, classify, error_reply

#: A stand-in: answers a request, or returns None to let moto answer it.
Handler = Callable[[Request], Reply | None]

#: Gap source (scenario format) -> SigV4 signing names it covers.
GAP_SERVICES: dict[str, tuple[str, ...]] = {
    "cloudtrail": ("cloudtrail",),
    "logs": ("logs",),
    "metrics": ("monitoring",),
    "xray": ("xray",),
    "ecs": ("ecs",),
    "cloudformation": ("cloudformation",),
    "autoscaling": ("autoscaling",),
    "ssm": ("ssm",),
    "lambda": ("lambda",),
}

_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "upgrade",
}
_LOG_KEYS = ("logGroupName", "logGroupNames", "logGroupIdentifier", "logGroupIdentifiers")


@dataclass
class Gaps:
    """Which calls are denied: whole sources (``cloudtrail``) or one service's share (``logs:forge``).

    ``log_groups[service]`` are the service's log groups; ``markers[service]`` the names of its other
    resources (a scoped gap other than ``logs`` denies calls whose request names one of them).
    """

    gaps: list[str] = field(default_factory=list)
    log_groups: dict[str, list[str]] = field(default_factory=dict)
    markers: dict[str, list[str]] = field(default_factory=dict)
    region: str = "us-east-1"
    account_id: str = "123456789012"

    def denied(self, req: Request) -> tuple[bool, str | None]:
        """Whether the request falls in a gap, and the resource to name in the message."""
        for gap in self.gaps:
            source, _, service = gap.partition(":")
            if req.service not in GAP_SERVICES.get(source, ()):
                continue
            if not service:
                return True, None
            if source == "logs":
                asked = _log_groups(req)
                for group in self.log_groups.get(service, []):
                    if any(
                        a == group or a.endswith(f":log-group:{group}") or a.endswith(f":log-group:{group}:*")
                        for a in asked
                    ):
                        return True, f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{group}:*"
                continue
            text = req.path + " " + req.body.decode("utf-8", "replace")
            for marker in self.markers.get(service, [service]):
                if re.search(rf"(?<![\w-]){re.escape(marker)}(?![\w-])", text):
                    return True, None
        return False, None


def _log_groups(req: Request) -> list[str]:
    p = req.params()
    out: list[str] = []
    for key in _LOG_KEYS:
        v = p.get(key)
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            out.extend(str(x) for x in v)
    return out


class Gateway:
    """The front server; start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(
        self,
        upstream: str,
        handlers: dict[str, Handler],
        gaps: Gaps | None = None,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.handlers = handlers
        self.gaps = gaps or Gaps()
        self.latency = latency
        self.calls: dict[str, int] = {}
        self._calls_lock = threading.Lock()
        #: Told of every call moto answered (the estate reacting to writes, see `reactions`); a hook that
        #: returns a reply replaces moto's (where moto answers less faithfully than AWS).
        self.after: list[Callable[[Request, Reply], Reply | None]] = []
        gateway = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = gateway.dispatch(self.command, self.path, headers, body)
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    if k.lower() not in _HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

        self.server = ThreadingHTTPServer((host, port), _Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Gateway:
        self._thread = threading.Thread(target=self.server.serve_forever, name="aws-gateway", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one request: latency, gaps, our stand-ins, else moto."""
        if self.latency > 0:
            time.sleep(self.latency)
        req = classify(method, path, headers, body)
        with self._calls_lock:
            name = f"{req.service}:{req.operation}"
            self.calls[name] = self.calls.get(name, 0) + 1
        if not path.startswith("/moto-api"):
            deny, resource = self.gaps.denied(req)
            if deny:
                return access_denied(req, self.gaps.account_id, resource)
        handler = self.handlers.get(req.service)
        if handler is not None:
            try:
                reply = handler(req)
            except Exception as exc:  # a stand-in bug must look like a 500, not hang the client
                return error_reply(req, "InternalFailure", f"sandbox stand-in failed: {exc!r}", 500)
            if reply is not None:
                return reply
        reply = self.proxy(method, path, headers, body)
        for hook in self.after:
            reply = hook(req, reply) or reply
        return reply

    def proxy(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Forward to moto and hand back its status, headers and body."""
        conn = http.client.HTTPConnection(
            self.upstream.hostname or "127.0.0.1", self.upstream.port or 80, timeout=60
        )
        try:
            fwd = {k: v for k, v in headers.items() if k not in _HOP}
            conn.request(method, path, body=body or None, headers=fwd)
            resp = conn.getresponse()
            data = resp.read()
            return Reply(resp.status, {k: v for k, v in resp.getheaders() if k.lower() not in _HOP}, data)
        finally:
            conn.close()

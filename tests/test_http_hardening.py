"""The HTTP server holds against bad input and misbehaving clients, probed over real sockets.

One Slack surface (the real Bolt app, webhook intake, store and DBOS runtime of `tests.test_slack_app.stack`) is
served for the module; the probes that need tighter limits (1 s timeouts, two handler threads) serve the same
surface through a second server with those `Limits`, the code path `sre-bot serve` runs with its defaults.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from bot.sandbox.fake_slack import FakeSlack, wait_for
from bot.sandbox.pages import AlarmNotice, PdIncident, pagerduty_webhook, sns_alarm_notification
from bot.sandbox.signing import SnsSigner
from bot.slack.health import Readiness, queue_workers
from bot.slack.httpd import HttpServer, Limits
from bot.slack.server import MAX_SLACK_BODY, wsgi_app
from bot.slack.verify import SnsVerifier
from bot.storage.db import migrate
from tests.test_slack_app import PD_SECRET, SIGNING_SECRET, TOPIC, Stack, stack

NOW = datetime.now(UTC).replace(microsecond=0)
NOTICE = AlarmNotice(
    alarm_name="orders-p99-high",
    metric_name="TargetResponseTime",
    namespace="AWS/ApplicationELB",
    state_change_time=NOW,
    threshold=1.0,
    value=4.2,
)
#: Short enough for a test to wait them out.
TIGHT = Limits(workers=2, max_queued=4, head_timeout_s=1.0, body_timeout_s=1.0, linger_s=0.5)


@pytest.fixture(scope="module")
def s(_fake_slack_server: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The surface on loopback, its SNS verifier trusting loopback certificates and waiting 1 s for one."""
    _fake_slack_server.reset()
    verifier = SnsVerifier(
        lambda url: url.startswith("http://127.0.0.1:"), topic_allowlist=[TOPIC], fetch_wait_s=1.0
    )
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            mp.setenv(key, "testing")  # no credential lookups beyond loopback
        with stack(_fake_slack_server, tmp_path_factory.mktemp("http"), sns=verifier) as running:
            yield running


def serve(s: Stack, limits: Limits) -> HttpServer:
    """The same surface behind another server with `limits`."""
    return HttpServer(wsgi_app(s.surface.app, s.surface.intake), limits=limits).start()


@pytest.fixture
def tight(s: Stack) -> Iterator[HttpServer]:
    server = serve(s, TIGHT)
    yield server
    server.stop()


# -- raw HTTP --------------------------------------------------------------------------------------------------


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()  # UTF-8, as odd clients send it


def read_answer(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, object]]:
    """The status and JSON body of the response on `sock` (read until the server closes)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body else {}


def _expected_length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return 1 << 30


def closed_within(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes `sock` (after any answer) within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


def slack_headers(
    body: bytes, ts: str | None = None, content_type: str = "application/json"
) -> dict[str, str]:
    ts = ts or str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": "v0=" + digest,
    }


def pd_headers(body: bytes) -> dict[str, str]:
    digest = hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-PagerDuty-Signature": "v1=" + digest}


def post(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    r = httpx.post(url + path, content=body, headers=headers, timeout=10)
    return r.status_code, r.json()


def raw_post(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    """POST over a bare socket, header values as given (httpx refuses non-ASCII ones)."""
    with connect(url) as sock:
        sock.sendall(request_head("POST", path, {**headers, "Content-Length": str(len(body))}) + body)
        return read_answer(sock)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


# -- 1. signatures before parsing ------------------------------------------------------------------------------

MALFORMED = b'{"type": "event_callback", "event": '


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        {**slack_headers(MALFORMED), "X-Slack-Signature": "v0=" + "0" * 64},
        slack_headers(MALFORMED, ts=str(int(time.time()) - 3600)),
        {**slack_headers(MALFORMED), "X-Slack-Signature": "v0=é"},
    ],
    ids=["unsigned", "bad-signature", "stale", "non-ascii-signature"],
)
def test_unsigned_or_badly_signed_slack_requests_are_401_before_the_body_is_parsed(
    s: Stack, headers: dict[str, str]
) -> None:
    status, answer = raw_post(s.server.url, "/slack/events", MALFORMED, headers)
    assert status == 401, answer
    assert "\n" not in str(answer["error"])


def test_unsigned_requests_are_refused_on_their_headers_before_the_body_is_read(s: Stack) -> None:
    """The default server waits 10 s for a body; an unsigned request is answered without it."""
    for path, headers in [
        ("/slack/events", {"Content-Type": "application/json"}),
        ("/webhooks/pagerduty", {"Content-Type": "application/json"}),
    ]:
        with connect(s.server.url) as sock:
            started = time.monotonic()
            sock.sendall(request_head("POST", path, {**headers, "Content-Length": "5000"}))
            status, answer = read_answer(sock)
            assert status == 401 and time.monotonic() - started < 5, (path, answer)


def test_pagerduty_with_a_bad_or_odd_signature_is_401(s: Stack) -> None:
    body, headers = pagerduty_webhook(
        PdIncident(number=1, title="t", service_name="orders", created_at=NOW), "not-our-secret"
    )
    assert post(s.server.url, "/webhooks/pagerduty", body, headers)[0] == 401
    odd = {**headers, "X-PagerDuty-Signature": "v1=é"}
    assert raw_post(s.server.url, "/webhooks/pagerduty", body, odd)[0] == 401


# -- 2. malformed input is 400 with a reason ---------------------------------------------------------------------


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (MALFORMED, "application/json", "not JSON"),
        (b'["event_callback"]', "application/json", "not a JSON object"),
        (b'{"a": ' + _deep(100_000) + b"}", "application/json", "not JSON"),
        (b"payload=%7Bnot-json", "application/x-www-form-urlencoded", "payload is not JSON"),
        (b"payload=%5B1%5D", "application/x-www-form-urlencoded", "payload is not a JSON object"),
        (b'{"type": "\xff\xfe"}', "application/json", "not UTF-8"),
    ],
    ids=["truncated", "array", "deep", "form-payload", "form-array", "latin1"],
)
def test_signed_malformed_slack_bodies_are_400(s: Stack, body: bytes, content_type: str, reason: str) -> None:
    status, answer = post(s.server.url, "/slack/events", body, slack_headers(body, content_type=content_type))
    assert status == 400 and reason in str(answer["error"]), answer


@pytest.mark.parametrize("ts", ["yesterday", "1.5e9", "-5", "+1700000000", "1_700_000_000", "１７００"])
def test_a_non_numeric_slack_timestamp_is_400(s: Stack, ts: str) -> None:
    body = b'{"type": "url_verification", "challenge": "c"}'
    headers = {**slack_headers(body), "X-Slack-Request-Timestamp": ts}
    status, answer = raw_post(s.server.url, "/slack/events", body, headers)
    assert (status, answer) == (400, {"error": "X-Slack-Request-Timestamp is not a whole number of seconds"})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[]", "not a JSON object"),
        (b'"incident.triggered"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b'{"event": ["incident.triggered"]}', "no event object"),
        (b"{not json", "not JSON"),
    ],
)
def test_signed_non_object_pagerduty_bodies_are_400(s: Stack, body: bytes, reason: str) -> None:
    status, answer = post(s.server.url, "/webhooks/pagerduty", body, pd_headers(body))
    assert status == 400 and reason in str(answer["error"]), answer


@pytest.mark.parametrize(("body", "reason"), [(b"<xml/>", "not JSON"), (b"[1, 2]", "not a JSON object")])
def test_malformed_sns_bodies_are_400(s: Stack, body: bytes, reason: str) -> None:
    status, answer = post(s.server.url, "/webhooks/sns", body, {"Content-Type": "text/plain"})
    assert status == 400 and reason in str(answer["error"]), answer


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"Content-Length": "-1"}, 400),
        ({"Content-Length": "12abc"}, 400),
        ({"Content-Length": "0x10"}, 400),
        ({"Transfer-Encoding": "chunked"}, 411),
        ({}, 411),
    ],
)
@pytest.mark.parametrize("path", ["/slack/events", "/webhooks/pagerduty", "/webhooks/sns"])
def test_bad_lengths_are_refused_at_once(s: Stack, path: str, extra: dict[str, str], status: int) -> None:
    with connect(s.server.url) as sock:
        started = time.monotonic()
        sock.sendall(request_head("POST", path, {"Content-Type": "application/json", **extra}))
        got, answer = read_answer(sock)
    assert got == status and time.monotonic() - started < 5, answer
    assert "\n" not in str(answer["error"])


def test_other_methods_and_paths(s: Stack) -> None:
    assert httpx.get(s.server.url + "/slack/events").status_code == 405
    assert httpx.get(s.server.url + "/webhooks/sns").status_code == 405
    assert httpx.post(s.server.url + "/nope", content=b"x" * 1000).status_code == 404
    assert httpx.get(s.server.url + "/healthz").json() == {"ok": True}


# -- 3. a body cap on every endpoint, nothing read beyond it -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "cap"),
    [("/slack/events", MAX_SLACK_BODY), ("/webhooks/pagerduty", 256 * 1024), ("/webhooks/sns", 256 * 1024)],
)
def test_a_body_over_the_cap_is_413_on_its_content_length(s: Stack, path: str, cap: int) -> None:
    body = b"{}"
    headers = {**slack_headers(body), **pd_headers(body), "Content-Length": str(cap + 1)}
    with connect(s.server.url) as sock:
        started = time.monotonic()
        sock.sendall(request_head("POST", path, headers))  # the body never follows
        status, answer = read_answer(sock)
        assert status == 413 and time.monotonic() - started < 5, answer
        assert closed_within(sock, 3.0)
    # at the cap itself the body is read (and then judged on its signature)
    assert post(s.server.url, path, b" " * cap, headers | {"Content-Length": str(cap)})[0] in (400, 401)


def test_fifty_megabyte_bodies_are_refused_without_being_read(s: Stack) -> None:
    """Three clients push 50 MB each at once; the server reads about nothing of it, and the process barely grows."""
    size = 50 * 1024 * 1024
    chunk = b"x" * (1024 * 1024)
    sent: list[int] = []
    answers: list[int] = []

    def push() -> None:
        sock = connect(s.server.url)
        total = 0
        try:
            sock.sendall(request_head("POST", "/slack/events", {"Content-Length": str(size)}))
            while total < size:
                sock.sendall(chunk)
                total += len(chunk)
        except OSError:
            pass
        sent.append(total)
        try:
            answers.append(read_answer(sock, 5.0)[0])
        except (OSError, ValueError, IndexError):
            answers.append(0)  # reset after the drain: the answer may be lost with it
        sock.close()

    before = rss_mb()
    threads = [threading.Thread(target=push) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    grown = rss_mb() - before
    print(f"50 MB x 3: sent before the server closed {[n >> 20 for n in sent]} MB, RSS grew {grown:.1f} MB")
    assert len(sent) == 3 and all(n < 25 * 1024 * 1024 for n in sent), sent
    assert grown < 64, f"RSS grew {grown:.0f} MB"
    assert set(answers) <= {413, 0}
    assert httpx.get(s.server.url + "/healthz").status_code == 200


# -- 4. read timeouts -------------------------------------------------------------------------------------------


def test_a_body_shorter_than_announced_is_answered_within_the_read_timeout(tight: HttpServer) -> None:
    body = b'{"type": "url_verification", "challenge": "c"}'
    headers = {**slack_headers(body), "Content-Length": str(len(body) + 100)}
    with connect(tight.url) as sock:
        started = time.monotonic()
        sock.sendall(request_head("POST", "/slack/events", headers) + body)
        status, answer = read_answer(sock)
        waited = time.monotonic() - started
        assert status == 408 and "not received in time" in str(answer["error"])
        assert closed_within(sock, 2.0)
        closed = time.monotonic() - started
    print(f"stalled body: 408 after {waited:.2f} s, closed after {closed:.2f} s (read timeout 1 s)")
    assert 0.9 <= waited < 3.0 and closed < 4.0


def test_a_body_cut_short_by_the_client_is_400(tight: HttpServer) -> None:
    with connect(tight.url) as sock:
        sock.sendall(request_head("POST", "/webhooks/sns", {"Content-Length": "100"}) + b"{")
        sock.shutdown(socket.SHUT_WR)
        status, answer = read_answer(sock)
    assert status == 400 and answer == {"error": "body ended after 1 of 100 bytes"}


def test_idle_and_half_sent_heads_are_closed_within_the_head_timeout(tight: HttpServer) -> None:
    idle = connect(tight.url)
    partial = connect(tight.url)
    started = time.monotonic()
    partial.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert closed_within(idle, 4.0)
    idle_closed = time.monotonic() - started
    status, _ = read_answer(partial)
    partial.close()
    idle.close()
    print(f"idle connection closed after {idle_closed:.2f} s; half-sent head answered {status} (timeout 1 s)")
    assert status == 408 and 0.9 <= idle_closed < 4.0


# -- 5. bounded connections and threads --------------------------------------------------------------------------


def test_hundreds_of_idle_connections_do_not_exhaust_the_server(s: Stack) -> None:
    server = serve(s, Limits(workers=2))  # the default 10 s head timeout: the idle ones stay open throughout
    socks: list[socket.socket] = []
    try:
        socks = [connect(server.url) for _ in range(300)]
        for sock in socks[:50]:  # slow heads too: a request line and no end to the headers
            sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert wait_for(lambda: server.server.open_connections >= 300, 5.0)
        started = time.monotonic()
        health = httpx.get(server.url + "/healthz", timeout=5)
        body = b'{"type": "url_verification", "challenge": "still-here"}'
        challenge = httpx.post(
            server.url + "/slack/events", content=body, headers=slack_headers(body), timeout=5
        )
        answered = time.monotonic() - started
        assert health.status_code == 200 and challenge.json() == {"challenge": "still-here"}
        assert server.server.open_connections >= 300, "the idle connections were still open"
        port = server.url.rsplit(":", 1)[1]
        handlers = [t for t in threading.enumerate() if t.name.startswith(f"http-{port}-")]
        print(f"300 idle/slow connections open: two requests answered in {answered:.2f} s")
        assert answered < 5
        assert len(handlers) == 2, "two handler threads, whatever the connections"
    finally:
        for sock in socks:
            sock.close()
        server.stop()


def test_connections_over_the_limit_are_refused_at_once(s: Stack) -> None:
    server = serve(s, Limits(workers=2, max_connections=20))
    socks: list[socket.socket] = []
    try:
        socks = [connect(server.url) for _ in range(20)]
        assert wait_for(lambda: server.server.open_connections == 20, 5.0)
        with connect(server.url) as extra:  # answered on arrival, before it says anything
            status, answer = read_answer(extra, 5.0)
        assert status == 503 and answer == {"error": "server busy, retry"}
    finally:
        for sock in socks:
            sock.close()
    assert wait_for(lambda: server.server.open_connections == 0, 5.0)
    assert httpx.get(server.url + "/healthz").status_code == 200
    server.stop()


def test_requests_beyond_the_queue_are_refused_not_given_a_thread(s: Stack) -> None:
    server = serve(s, Limits(workers=1, max_queued=1, body_timeout_s=2.0, linger_s=0.2))
    try:
        stalled = connect(server.url)  # holds the one handler until its body times out
        stalled.sendall(request_head("POST", "/webhooks/sns", {"Content-Length": "100"}) + b"{")
        time.sleep(0.5)
        queued = connect(server.url)
        queued.sendall(request_head("GET", "/healthz", {}))
        time.sleep(0.2)
        with connect(server.url) as refused:
            started = time.monotonic()
            refused.sendall(request_head("GET", "/healthz", {}))
            assert read_answer(refused, 5.0)[0] == 503 and time.monotonic() - started < 1.0
        assert read_answer(queued, 10.0)[0] == 200
        assert read_answer(stalled, 10.0)[0] == 408
        stalled.close()
        queued.close()
    finally:
        server.stop()


# -- SNS: the certificate is fetched last, cached, and waited for briefly ------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"topic": "arn:aws:sns:us-east-1:123456789012:someone-else"},
        {"timestamp": datetime.now(UTC) - timedelta(hours=2)},
    ],
    ids=["topic-not-allowed", "stale"],
)
def test_the_sns_certificate_is_not_fetched_when_a_cheap_check_fails(
    s: Stack, change: dict[str, object]
) -> None:
    with SnsSigner() as signer:
        topic = str(change.get("topic", TOPIC))
        stamp = change.get("timestamp", datetime.now(UTC))
        assert isinstance(stamp, datetime)
        body, headers = sns_alarm_notification(NOTICE, topic, signer, timestamp=stamp)
        status, answer = post(s.server.url, "/webhooks/sns", body, headers)
        assert status == 401, answer
        assert signer.server.requests == [], "the certificate was fetched"


def test_a_slow_sns_certificate_is_waited_for_briefly_then_cached_for_the_retry(s: Stack) -> None:
    with SnsSigner(latency=3.0) as signer:
        body, headers = sns_alarm_notification(NOTICE, TOPIC, signer, timestamp=datetime.now(UTC))
        started = time.monotonic()
        status, answer = post(s.server.url, "/webhooks/sns", body, headers)
        waited = time.monotonic() - started
        assert status == 401 and "not fetched within 1 s" in str(answer["error"]), answer
        assert waited < 2.5, f"the request waited {waited:.1f} s for the certificate"
        time.sleep(3.5)  # the fetch finishes on its own thread and fills the cache
        status, answer = post(s.server.url, "/webhooks/sns", body, headers)  # SNS's retry
        assert status == 200 and answer["status"] == "accepted", answer
        assert len(signer.server.requests) == 1
        print(f"slow certificate: first delivery answered in {waited:.2f} s, the retry from the cache")


# -- health and readiness -----------------------------------------------------------------------------------------


def test_readyz_is_200_when_the_database_migrations_and_workers_are(s: Stack) -> None:
    def ready() -> bool:
        return httpx.get(s.server.url + "/readyz").status_code == 200

    assert wait_for(ready, 10.0), httpx.get(s.server.url + "/readyz").text
    assert httpx.get(s.server.url + "/readyz").json() == {
        "ok": True,
        "checks": {"database": "ok", "migrations": "ok", "workers": "ok"},
    }


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _readyz(settings: Settings) -> httpx.Response:
    """/readyz once every check has answered (a busy machine may need more than one probe's 0.9 s)."""
    server = HttpServer(
        wsgi_app(None, None, readiness=Readiness.for_settings(settings)), limits=TIGHT
    ).start()
    try:
        deadline = time.monotonic() + 10
        while True:
            r = httpx.get(server.url + "/readyz", timeout=10)
            if "no answer within" not in r.text or time.monotonic() > deadline:
                return r
            time.sleep(0.3)
    finally:
        server.stop()


def test_readyz_is_503_naming_the_database_when_it_is_unreachable() -> None:
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/sre"
    r = _readyz(Settings(database_url=url, run_investigations=False))
    assert r.status_code == 503
    assert r.json()["failing"] == ["database", "migrations"]
    assert r.json()["checks"]["database"].startswith("unreachable")
    assert "127.0.0.1" not in r.text, "the answer names the check, the log names the host"


def test_readyz_is_200_on_a_reachable_migrated_postgres(postgres_database: str) -> None:
    migrate(postgres_database)
    r = _readyz(Settings(database_url=postgres_database, run_investigations=False))
    assert (r.status_code, r.json()) == (200, {"ok": True, "checks": {"database": "ok", "migrations": "ok"}})


def test_readyz_is_503_when_migrations_are_behind(tmp_path: Path) -> None:
    r = _readyz(Settings(database_url=f"sqlite:///{tmp_path / 'empty.sqlite'}", run_investigations=False))
    assert r.status_code == 503 and r.json()["failing"] == ["migrations"]
    assert r.json()["checks"]["migrations"].startswith("database at no revision, code at ")


def test_readyz_names_queue_workers_that_are_not_running(s: Stack) -> None:
    readiness = Readiness([("workers", queue_workers(["investigations", "no-such-queue"]))])
    assert readiness.report().checks == {"workers": "not running: no-such-queue"}


# -- the real command -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sre_bot_serve_binds_host_and_reports_ready(tmp_path: Path) -> None:
    with FakeSlack() as fake:
        port = _closed_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_", "EXECUTOR"))},
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite'}",
            "SLACK_BOT_TOKEN": "xoxb-process-test",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.api_url,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
        }
        log = (tmp_path / "web.log").open("wb")
        sre_bot = str(Path(sys.executable).with_name("sre-bot"))
        web = subprocess.Popen(
            [sre_bot, "serve", "--queue-only"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:

            def up() -> bool:
                try:
                    return httpx.get(url + "/readyz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            assert wait_for(up, 60), (tmp_path / "web.log").read_text()[-3000:]
            assert httpx.get(url + "/readyz").json()["checks"] == {"database": "ok", "migrations": "ok"}
            assert httpx.get(url + "/healthz").json() == {"ok": True}
            assert httpx.post(url + "/slack/events", content=MALFORMED).status_code == 401
        finally:
            web.send_signal(signal.SIGTERM)
            try:
                web.wait(20)
            except subprocess.TimeoutExpired:
                web.kill()
            log.close()


def test_host_setting_defaults_to_every_interface(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("HOST", raising=False)
    assert Settings().host == "0.0.0.0"
    monkeypatch.setenv("HOST", "127.0.0.1")
    assert Settings().host == "127.0.0.1"

"""Probe a real `sre-bot serve` the way an attacker or a broken client would, and print what it did.

Starts `sre-bot serve --queue-only` (HOST=127.0.0.1, a throwaway SQLite database, the fake Slack) and sends:
three unsigned 50 MB bodies at once (the process's RSS before and after, and how much each client got to send),
``Content-Length: -1``, a body shorter than announced, 300 idle connections (the process's thread count, and
how long a normal request then takes), the malformed inputs that used to give 500, and /readyz. Every probe has
its own time limit, so a server that hangs shows as a figure, not as a hung script.

    .venv/bin/python scripts/probe_http_limits.py [--command "sre-bot serve --queue-only"]

``--command`` runs another build (e.g. ``"python -m bot serve --queue-only"`` with PYTHONPATH at an older
checkout) to compare.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bot.sandbox.fake_slack import FakeSlack, wait_for

SECRET = "probe-signing-secret"
PD_SECRET = "probe-pd-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def raw(port: int, data: bytes, timeout: float) -> tuple[str, float]:
    """Send `data`, then wait up to `timeout` for an answer; the status line (or what happened) and the time."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        try:
            first = sock.recv(4096)
        except TimeoutError:
            return f"no answer within {timeout:g} s", time.monotonic() - started
        except ConnectionError as err:
            return f"connection error {err}", time.monotonic() - started
    line = first.split(b"\r\n", 1)[0].decode(errors="replace") or "closed without an answer"
    return line, time.monotonic() - started


def head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def probe_big_bodies(port: int, pid: int) -> None:
    size, chunk = 50 * 1024 * 1024, b"x" * (1024 * 1024)
    sent: list[int] = []

    def push() -> None:
        total = 0
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(head("/slack/events", {"Content-Length": str(size)}))
                while total < size:
                    sock.sendall(chunk)
                    total += len(chunk)
                with contextlib.suppress(OSError):
                    sock.recv(4096)
        except OSError:
            pass
        sent.append(total)

    before = proc_status(pid, "VmRSS") / 1024
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:  # the largest RSS while the bodies arrive (at least once: a refusal may be quick)
        samples.append(proc_status(pid, "VmRSS"))
        while not done.wait(0.02):
            samples.append(proc_status(pid, "VmRSS"))

    sampler = threading.Thread(target=sample)
    sampler.start()
    threads = [threading.Thread(target=push) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    done.set()
    sampler.join()
    time.sleep(0.5)
    after = proc_status(pid, "VmRSS") / 1024
    peak = max(samples, default=0) / 1024
    print(
        f"3 x 50 MB unsigned: RSS {before:.0f} MB before, {peak:.0f} MB at most while they arrived, "
        f"{after:.0f} MB after; each client got to send {[n >> 20 for n in sent]} MB"
    )


def probe_lengths(port: int) -> None:
    status, took = raw(port, head("/slack/events", {"Content-Length": "-1"}), 15)
    print(f"Content-Length -1: {status} after {took:.2f} s")
    status, took = raw(port, head("/webhooks/sns", {"Content-Length": "100"}) + b"{", 15)
    print(f"body 1 of 100 bytes, then silence: {status} after {took:.2f} s")


def probe_idle(port: int, pid: int) -> None:
    threads_before = proc_status(pid, "Threads")
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(300)]
    time.sleep(1.0)
    threads_during = proc_status(pid, "Threads")
    started = time.monotonic()
    try:
        answer = str(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=15).status_code)
    except httpx.HTTPError as err:
        answer = type(err).__name__
    took = time.monotonic() - started
    for sock in socks:
        sock.close()
    print(
        f"300 idle connections: threads {threads_before} -> {threads_during}; /healthz {answer} in {took:.2f} s"
    )


def slack_headers(body: bytes, ts: str) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": "v0=" + digest,
    }


def probe_malformed(port: int) -> None:
    url = f"http://127.0.0.1:{port}"
    now = str(int(time.time()))
    pd_sig = "v1=" + hmac.new(PD_SECRET.encode(), b"[1]", hashlib.sha256).hexdigest()
    cases = [
        (
            "unsigned malformed JSON to /slack/events",
            "/slack/events",
            b'{"a": ',
            {"Content-Type": "application/json"},
        ),
        (
            "non-numeric X-Slack-Request-Timestamp",
            "/slack/events",
            b"{}",
            {**slack_headers(b"{}", now), "X-Slack-Request-Timestamp": "soon"},
        ),
        ("signed malformed JSON to /slack/events", "/slack/events", b'{"a": ', slack_headers(b'{"a": ', now)),
        (
            "signed non-object PagerDuty body",
            "/webhooks/pagerduty",
            b"[1]",
            {"X-PagerDuty-Signature": pd_sig},
        ),
        ("non-object SNS body", "/webhooks/sns", b"[1]", {}),
    ]
    for what, path, body, headers in cases:
        r = httpx.post(url + path, content=body, headers=headers, timeout=10)
        print(f"{what}: {r.status_code} {r.text.strip()}")


@contextlib.contextmanager
def serving(command: list[str], tmp: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    with FakeSlack() as fake:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_", "EXECUTOR"))},
            "DATABASE_URL": f"sqlite:///{tmp / 'bot.sqlite'}",
            "SLACK_BOT_TOKEN": "xoxb-probe",
            "SLACK_SIGNING_SECRET": SECRET,
            "PAGERDUTY_WEBHOOK_SECRET": PD_SECRET,
            "SLACK_API_URL": fake.api_url,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "probe",
            "AWS_SECRET_ACCESS_KEY": "probe",
            "AWS_REGION": "us-east-1",
        }
        log = (tmp / "serve.log").open("wb")
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:

            def up() -> bool:
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            if not wait_for(up, 240):
                sys.exit(f"serve did not come up:\n{(tmp / 'serve.log').read_text()[-3000:]}")
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default = f"{Path(sys.executable).with_name('sre-bot')} serve --queue-only"
    parser.add_argument("--command", default=default, help="the serve command to probe")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, serving(shlex.split(args.command), Path(tmp), port) as proc:
        print(f"probing `{args.command}` (pid {proc.pid}) on 127.0.0.1:{port}")
        probe_malformed(port)
        probe_lengths(port)
        probe_idle(port, proc.pid)
        probe_big_bodies(port, proc.pid)
        r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        print(f"/readyz: {r.status_code} {r.text.strip()}")


if __name__ == "__main__":
    main()

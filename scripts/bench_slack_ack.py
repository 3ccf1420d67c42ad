"""Benchmark: how fast the Slack app acks under bursts of events, and that no investigation is lost or doubled.

Runs the real commands, in either layout or both one after the other, each on a throwaway PostgreSQL
database, against the fake Slack: `split` is the Procfile's `sre-bot serve --queue-only` + `sre-bot worker`
(separate processes), `single` is one `sre-bot serve` that also runs the investigations. A sender process
posts signed Events API callbacks at RATE per second for SECONDS seconds: distinct pages (AWS Chatbot posts
of distinct alarms), Slack's re-deliveries of some of them (same event_id, X-Slack-Retry-Num), the same page
under a second event id, and people chatting. The investigations run while the burst is being acked: they
read an AWS endpoint that refuses connections, so each ends with gaps after its retries. Prints, per layout,
ack latency p50/p99/max and the machine's load average around the burst (the figures are wall-clock times
on a machine that may be shared), then counts incidents, investigations and first reports in the database
against the distinct pages sent. Exits 1 when a page is lost or doubled.

    .venv/bin/python scripts/bench_slack_ack.py [--layout split|single|both] [--rate 50] [--seconds 4]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bot.sandbox.fake_slack import FakeSlack, wait_for
from bot.sandbox.pages import AlarmNotice, chatbot_alarm_message
from bot.sandbox.signing import SlackEventSender
from bot.storage.db import make_engine
from bot.storage.store import Store

SECRET = "bench-signing-secret"


def plan(rate: int, seconds: int, channel: str) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], int]:
    """(event, send options) in sending order, and how many distinct pages they carry."""
    total = rate * seconds
    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    pages = 0
    base = time.time()
    for i in range(total):
        ts = f"{base + i * 0.001:.6f}"
        kind = i % 5
        if kind in (0, 1) or not out:
            notice = AlarmNotice(
                alarm_name=f"svc{pages:03d}-5xx-high",
                metric_name="HTTPCode_Target_5XX_Count",
                namespace="AWS/ApplicationELB",
                state_change_time=datetime.now(UTC),
            )
            event = chatbot_alarm_message(notice, channel, ts)
            out.append((event, {"event_id": f"EvPAGE{pages:05d}"}))
            pages += 1
        elif kind == 2:  # Slack re-delivers the previous page (same event id)
            prev = next(e for e in reversed(out) if e[1].get("event_id", "").startswith("EvPAGE"))
            out.append((prev[0], {**prev[1], "retry_num": 1}))
        elif kind == 3:  # the previous page again under another event id (a duplicate subscription)
            prev = next(e for e in reversed(out) if e[1].get("event_id", "").startswith("EvPAGE"))
            out.append((prev[0], {"event_id": f"EvDUP{i:05d}"}))
        else:  # people talking in the channel
            chat = {
                "type": "message",
                "channel": channel,
                "user": "U0ONCALL1",
                "text": f"looking {i}",
                "ts": ts,
            }
            out.append((chat, {"event_id": f"EvCHAT{i:05d}"}))
    return out, pages


def sender_process(url: str, rate: int, events: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Send the planned events at `rate` per second from this (separate) process; print latencies as JSON.

    Bodies are built before the clock starts and sent with the stdlib's http.client, so the figures are
    the app's, not the sender's (an httpx client per thread costs more than the ack being measured).
    """
    signer = SlackEventSender(url, SECRET)
    bodies = [(json.dumps(signer.envelope(e, event_id=o["event_id"])), o) for e, o in events]
    signer.close()
    parts = urllib.parse.urlsplit(url)
    latencies: list[float] = []
    statuses: list[int] = []
    sent: list[int] = []  # which event each status answered
    lock = threading.Lock()

    def send(i: int, body: str, opts: dict[str, Any], start: float) -> None:
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        headers = {"Content-Type": "application/json"}
        headers.update(signer.headers(body, retry_num=opts.get("retry_num")))
        t = time.monotonic()
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        conn.request("POST", parts.path, body=body.encode(), headers=headers)
        status = conn.getresponse().status
        conn.close()
        with lock:
            latencies.append((time.monotonic() - t) * 1000)
            statuses.append(status)
            sent.append(i)

    started = time.monotonic()
    with ThreadPoolExecutor(32) as senders:
        for i, (body, opts) in enumerate(bodies):
            senders.submit(send, i, body, opts, started)
    took = time.monotonic() - started
    print(json.dumps({"latencies": latencies, "statuses": statuses, "sent": sent, "sent_for": took}))


POSTGRES = os.environ.get("SRE_BOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SRE_BOT = str(Path(sys.executable).with_name("sre-bot"))


@contextlib.contextmanager
def throwaway_database() -> Any:
    """A fresh PostgreSQL database for the run, dropped afterwards; yields its URL."""
    name = f"sre_bot_bench_{secrets.token_hex(4)}"
    admin = make_url(POSTGRES).set(drivername="postgresql")
    try:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as err:
        sys.exit(f"bench_slack_ack needs PostgreSQL (set SRE_BOT_TEST_POSTGRES_URL): {err}")
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `sre-bot ARGS` with `env`, its output going to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen([SRE_BOT, *args], env=env, stdout=out, stderr=subprocess.STDOUT)


LAYOUTS = {
    "split": "`sre-bot serve --queue-only` + `sre-bot worker`",
    "single": "one `sre-bot serve` running investigations too",
}


def main() -> None:
    """Run the benchmark in each layout asked for and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=50, help="events per second")
    ap.add_argument("--seconds", type=int, default=4, help="how long to send")
    ap.add_argument("--layout", choices=(*LAYOUTS, "both"), default="split", help="which processes to run")
    ap.add_argument("--single-process", action="store_true", help="the same as --layout single")
    ap.add_argument("--send", help=argparse.SUPPRESS)  # internal: be the sender process for this URL
    args = ap.parse_args()
    if args.send:
        sender_process(args.send, args.rate, [tuple(e) for e in json.load(sys.stdin)])
        return
    layout = "single" if args.single_process else args.layout
    layouts = list(LAYOUTS) if layout == "both" else [layout]
    summaries = [bench_layout(args, name) for name in layouts]
    if len(summaries) > 1:
        print(f"\nsummary (PostgreSQL, {args.rate}/s for {args.seconds} s):")
        for line, _ in summaries:
            print("  " + line)
    sys.exit(0 if all(ok for _, ok in summaries) else 1)


def bench_layout(args: argparse.Namespace, layout: str) -> tuple[str, bool]:
    """Start `layout`'s processes on a fresh database, run the burst, stop them; (summary line, nothing lost)."""
    print(f"\n== {layout}: {LAYOUTS[layout]}, PostgreSQL", flush=True)
    with FakeSlack() as fake, tempfile.TemporaryDirectory() as tmp, throwaway_database() as db_url:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            "PORT": str(port),
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # refuses connections: investigations end with gaps
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
        }
        env.pop("EXECUTOR_ID", None)
        procs = [
            start(["serve"] if layout == "single" else ["serve", "--queue-only"], env, Path(tmp) / "web.log")
        ]
        if layout == "split":
            procs.append(start(["worker"], env, Path(tmp) / "worker.log"))
        url = f"http://127.0.0.1:{port}"
        try:
            # a loaded machine takes a while to import and migrate
            if not wait_for(lambda: _ready(url, layout, Path(tmp)), timeout=240):
                sys.exit(f"sre-bot serve did not come up:\n{(Path(tmp) / 'web.log').read_text()[-3000:]}")
            return run(args, fake, url, db_url, layout)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _ready(url: str, layout: str, tmp: Path) -> bool:
    """Whatever runs investigations is up too, so the burst is not timed against its start-up: serve's
    ``/readyz`` (which, in the single layout, waits for its worker child), and the worker's start line."""
    try:
        if httpx.get(url + "/readyz", timeout=2).status_code != 200:
            return False
    except httpx.HTTPError:
        return False
    worker_log = tmp / "worker.log"
    return layout != "split" or "worker running" in worker_log.read_text(errors="replace")


def _load() -> str:
    """The machine's 1-minute load average (what else competed for its cores)."""
    return f"{os.getloadavg()[0]:.1f}"


def run(args: argparse.Namespace, fake: FakeSlack, url: str, db_url: str, layout: str) -> tuple[str, bool]:
    """Send the burst, then count what the processes made of it."""
    channel = fake.add_channel("inc-bench")
    events, pages = plan(args.rate, args.seconds, channel)
    for event, _ in events:
        if event.get("bot_id"):
            with contextlib.suppress(ValueError):  # a re-delivery of a message already there
                fake.add_message(channel, event)
    # the sender is another process, so its own work does not count against the app's acks
    load_before = _load()
    proc = subprocess.run(
        [sys.executable, __file__, "--rate", str(args.rate), "--send", url + "/slack/events"],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        check=True,
    )
    load_after = _load()
    result = json.loads(proc.stdout)
    latencies, statuses, sent_for = result["latencies"], result["statuses"], result["sent_for"]
    store = Store(make_engine(db_url))

    def investigated() -> int:
        incidents = store.recent_incidents(10_000)
        invs = [inv for inc in incidents for inv in store.investigations_of(inc.id or 0)]
        return sum(1 for inv in invs if store.latest_report(inv.id or 0) is not None)

    # the workers work through the queue a few at a time: wait while they make progress
    settled, done, sent_done = False, -1, time.monotonic()
    while not settled:
        now_done = investigated()
        settled = now_done >= pages
        if now_done > done:
            done, last_progress = now_done, time.monotonic()
        elif time.monotonic() - last_progress > 60:
            break
        time.sleep(0.5)
    drained_in = time.monotonic() - sent_done
    time.sleep(1.0)
    incidents = store.recent_incidents(10_000)
    investigations = [inv for inc in incidents for inv in store.investigations_of(inc.id or 0)]
    reported = investigated()
    lat = sorted(latencies)
    p = statistics.quantiles(lat, n=100)
    # a page is lost only when it was acknowledged (some delivery of it got a 200) and never stored; one that
    # got no 200 at all is Slack's to deliver again (this sender does not)
    acked = {
        events[i][0]["ts"]
        for i, status in zip(result["sent"], statuses, strict=True)
        if status == 200 and events[i][0].get("bot_id")
    }
    lost = len(acked - {inc.thread_ts for inc in incidents})
    unacked = pages - len(acked)
    doubled = len(investigations) - len(incidents)
    met = "met" if p[98] <= 100 else "MISSED"
    print(
        f"sent {len(events)} signed events in {sent_for:.1f} s ({len(events) / sent_for:.0f}/s): "
        f"{pages} distinct pages, {sum(1 for _, o in events if 'retry_num' in o)} Slack retries, "
        f"{sum(1 for _, o in events if o['event_id'].startswith('EvDUP'))} duplicates under new event ids"
    )
    ack = f"p50 {p[49]:.1f} ms, p99 {p[98]:.1f} ms, max {lat[-1]:.1f} ms"
    non200 = sum(1 for s in statuses if s != 200)
    print(
        f"ack latency: {ack} (target p99 <= 100 ms: {met}); non-200 answers: {non200}; "
        f"load average {load_before} before the burst, {load_after} after"
    )
    verdict = (
        "no duplicated or lost investigation"
        if lost == 0 and doubled == 0 and unacked == 0 and settled
        else f"acknowledged and lost {lost}, never acknowledged {unacked}, doubled {doubled}, "
        f"unreported {pages - reported}"
    )
    print(
        f"incidents {len(incidents)} / investigations {len(investigations)} / first reports {reported} "
        f"for {pages} distinct pages: {verdict} (the last report {drained_in:.0f} s after the burst)"
    )
    store.engine.dispose()
    summary = f"{layout:6} ack {ack} ({met}), load {load_before}-{load_after}; {verdict}"
    return summary, lost == 0 and doubled == 0


if __name__ == "__main__":
    main()

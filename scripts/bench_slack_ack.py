"""Benchmark: how fast the Slack app acks under bursts of events, and that no investigation is lost or doubled.

Runs the real Bolt app over HTTP (our threaded WSGI server) with the real investigation runtime (DBOS on a
temporary SQLite) against the fake Slack, and sends signed Events API callbacks at RATE per second for
SECONDS seconds: distinct pages (AWS Chatbot posts of distinct alarms), Slack's re-deliveries of some of them
(same event_id, X-Slack-Retry-Num), the same page under a second event id, and people chatting. Prints ack
latency p50/p99/max, then counts incidents and investigations in the Store against the distinct pages sent.

    .venv/bin/python scripts/bench_slack_ack.py [--rate 50] [--seconds 4]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
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

from bot.config import Settings
from bot.investigation.engine import Deps
from bot.sandbox.fake_slack import FakeSlack, wait_for
from bot.sandbox.pages import AlarmNotice, chatbot_alarm_message
from bot.sandbox.signing import SlackEventSender
from bot.slack.server import HttpServer, build_runtime, wsgi_app
from bot.sources.aws.clients import AwsClients

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

    started = time.monotonic()
    with ThreadPoolExecutor(32) as senders:
        for i, (body, opts) in enumerate(bodies):
            senders.submit(send, i, body, opts, started)
    print(json.dumps({"latencies": latencies, "statuses": statuses, "sent_for": time.monotonic() - started}))


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=50, help="events per second")
    ap.add_argument("--seconds", type=int, default=4, help="how long to send")
    ap.add_argument("--send", help=argparse.SUPPRESS)  # internal: be the sender process for this URL
    args = ap.parse_args()
    if args.send:
        sender_process(args.send, args.rate, [tuple(e) for e in json.load(sys.stdin)])  # type: ignore[misc]
        return
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    with FakeSlack() as fake, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{Path(tmp) / 'bot.sqlite'}",
            slack_bot_token="xoxb-bench",
            slack_signing_secret=SECRET,
            slack_api_url=fake.api_url,
            executor_id="bench",
        )
        channel = fake.add_channel("inc-bench")
        # investigations read an estate that is not there: each ends quickly with gaps, which is all we need
        deps = Deps(aws=AwsClients("us-east-1", max_attempts=1, endpoint_url="http://127.0.0.1:9"))
        runtime = build_runtime(settings, deps=deps)
        runtime.notifier.chart_source = None
        server = HttpServer(wsgi_app(runtime.app, runtime.intake)).start()
        events, pages = plan(args.rate, args.seconds, channel)
        for event, _ in events:
            if event.get("bot_id"):
                with contextlib.suppress(ValueError):  # a re-delivery of a message already there
                    fake.add_message(channel, event)
        # the sender is another process, so its own work does not count against the app's acks
        proc = subprocess.run(
            [sys.executable, __file__, "--rate", str(args.rate), "--send", server.url + "/slack/events"],
            input=json.dumps(events),
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(proc.stdout)
        latencies, statuses, sent_for = result["latencies"], result["statuses"], result["sent_for"]
        store = runtime.store
        settled = wait_for(lambda: len(store.recent_incidents(10_000)) >= pages, timeout=60)
        time.sleep(1.0)
        incidents = store.recent_incidents(10_000)
        investigations = [inv for inc in incidents for inv in store.investigations_of(inc.id or 0)]
        lat = sorted(latencies)
        p = statistics.quantiles(lat, n=100)
        print(
            f"sent {len(events)} signed events in {sent_for:.1f} s ({len(events) / sent_for:.0f}/s): "
            f"{pages} distinct pages, {sum(1 for _, o in events if 'retry_num' in o)} Slack retries, "
            f"{sum(1 for _, o in events if o['event_id'].startswith('EvDUP'))} duplicates under new event ids"
        )
        print(
            f"ack latency: p50 {p[49]:.1f} ms, p99 {p[98]:.1f} ms, max {lat[-1]:.1f} ms "
            f"(target p99 < 100 ms: {'met' if p[98] < 100 else 'MISSED'}); non-200 answers: "
            f"{sum(1 for s in statuses if s != 200)}"
        )
        lost = pages - len(incidents)
        doubled = len(investigations) - len(incidents)
        print(
            f"incidents {len(incidents)} / investigations {len(investigations)} for {pages} distinct pages: "
            f"{'no duplicated or lost investigation' if lost == 0 and doubled == 0 and settled else f'lost {lost}, doubled {doubled}'}"
        )
        server.stop()
        runtime.stop_listening(timeout_s=30)
        runtime.close()


if __name__ == "__main__":
    main()

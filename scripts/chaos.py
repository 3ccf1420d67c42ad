"""Chaos: is every acknowledged page kept, through kill -9, a database outage, flapping alarms and bad input?

Runs the real commands on a throwaway PostgreSQL database reached through a TCP proxy that can be cut, against
the fake Slack, in two layouts: one `sre-bot serve` (single) and `sre-bot serve --queue-only` + `sre-bot
worker` (split). Pages are signed Slack events (AWS Chatbot posts in an incident channel) and signed PagerDuty
webhooks; whatever gets no 2xx is delivered again as Slack and PagerDuty do (after 1, 10, 30 and 60 s here;
Slack's own schedule is 3 retries over about five minutes), so a page is lost only if it was acknowledged
and never stored. Probes, one after the other on the same processes:

- kill-web     kill -9 of the web process half way through a burst, restarted at once (in the single layout,
               serve, whose worker child leaves with it);
- kill-worker  kill -9 of the process running investigations (the worker, restarted at once; in the single
               layout, serve's worker child, which serve restarts) while a burst is being investigated;
- db-outage    the proxy in front of PostgreSQL cut for a few seconds half way through a burst;
- flapping     alarms going ALARM -> OK -> ALARM -> OK -> ALARM, with a repeat while firing;
- reopened     PagerDuty incidents triggered, resolved, re-opened, and the trigger body replayed with a new
               X-Webhook-Id;
- bad-input    an event_id and an X-Webhook-Id longer than their columns, NUL in ids, NUL in a title, and a
               page in a channel that is not an incident channel.

For each probe it prints: pages acknowledged, of those stored (lost = acknowledged and not stored),
investigations started / finished, stuck (still running, or workflows still queued, once everything has had
time to settle), silent (an investigation whose thread never got its report), and duplicates (more incidents
or investigations than the pages call for, and any thread that heard "On it", a report, a page announcement
or a status line more often than it should). It stops by itself: at most --pages pages a burst, every wait
bounded, and everything on 127.0.0.1. It exits 0 only when every figure that should be zero is.

    .venv/bin/python scripts/chaos.py [--layout single|split|both] [--pages 40] [--rate 20]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bot.sandbox.fake_slack import FakeSlack, wait_for
from bot.sandbox.pages import AlarmNotice, PdIncident, chatbot_alarm_message, pagerduty_webhook
from bot.sandbox.signing import SlackEventSender, pagerduty_signature
from bot.sandbox.tcp_proxy import TcpProxy

SECRET = "chaos-signing-secret"
PD_SECRET = "chaos-pagerduty-secret"
POSTGRES = os.environ.get("SRE_BOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SRE_BOT = str(Path(sys.executable).with_name("sre-bot"))
#: When a delivery that got no 2xx is tried again (seconds after the first try).
RETRY_AFTER = (1.0, 10.0, 30.0, 60.0)
#: The longest any probe waits for the investigations to settle.
SETTLE_S = 240.0


# -- processes --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; yields its URL."""
    name = f"sre_bot_chaos_{secrets.token_hex(4)}"
    admin = make_url(POSTGRES).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as err:
        sys.exit(f"chaos needs PostgreSQL on 127.0.0.1 (set SRE_BOT_TEST_POSTGRES_URL): {err}")
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """One `sre-bot` process we started (and restart after killing it)."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [SRE_BOT, *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT
        )
        out.close()

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill9()


@dataclass
class Deployment:
    """The processes of one layout, the database behind the proxy, and the fake Slack."""

    layout: str
    fake: FakeSlack
    proxy: TcpProxy
    db_url: str
    url: str
    web: Proc
    worker: Proc | None
    channel: str
    page_channel: str
    random: str

    @property
    def investigator(self) -> Proc:
        """The process that runs investigations."""
        return self.worker or self.web

    def healthy(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(self.url).port, timeout=1)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def ready(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(self.url).port, timeout=3)
            conn.request("GET", "/readyz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def wait_up(self, timeout: float = 120.0) -> None:
        if not wait_for(self.healthy, timeout):
            sys.exit(f"sre-bot serve did not come up:\n{self.web.log.read_text()[-3000:]}")


@contextlib.contextmanager
def deployment(layout: str, fake: FakeSlack, tmp: Path) -> Iterator[Deployment]:
    """Start `layout` on a throwaway database behind a proxy; stop everything afterwards."""
    with throwaway_database() as real_url, TcpProxy("127.0.0.1", make_url(real_url).port or 5432) as proxy:
        through = (
            make_url(real_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        )
        port = free_port()
        page_channel = fake.add_channel("incidents")
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("AWS_", "SLACK_", "EXECUTOR", "DYNO"))
            },
            "DATABASE_URL": through,
            "SLACK_BOT_TOKEN": "xoxb-chaos",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            "PAGERDUTY_WEBHOOK_SECRET": PD_SECRET,
            "PAGE_CHANNEL": page_channel,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "INVESTIGATION_CONCURRENCY": "8",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # refuses connections: investigations end with gaps
            "AWS_ACCESS_KEY_ID": "chaos",
            "AWS_SECRET_ACCESS_KEY": "chaos",
            "AWS_REGION": "us-east-1",
            "AWS_MAX_ATTEMPTS": "1",
        }
        subprocess.run([SRE_BOT, "migrate"], env=env, check=True, capture_output=True)
        web = Proc(
            "web",
            ["serve"] if layout == "single" else ["serve", "--queue-only"],
            env,
            tmp / f"{layout}-web.log",
        )
        worker = None if layout == "single" else Proc("worker", ["worker"], env, tmp / f"{layout}-worker.log")
        dep = Deployment(
            layout, fake, proxy, real_url, f"http://127.0.0.1:{port}", web, worker,
            fake.add_channel("inc-chaos"), page_channel, fake.add_channel("random"),
        )  # fmt: skip
        for p in (web, worker):
            if p is not None:
                p.start()
        try:
            dep.wait_up()
            yield dep
        finally:
            for p in (worker, web):
                if p is not None:
                    p.stop()


# -- sending, as Slack and PagerDuty do -----------------------------------------------------------------------------


@dataclass
class Sent:
    """One delivery and what became of it."""

    page: str  # the page it carries ("" for none)
    path: str
    body: bytes
    headers: dict[str, str]
    slack: bool
    statuses: list[int] = field(default_factory=list)

    @property
    def acked(self) -> bool:
        return any(200 <= s < 300 for s in self.statuses)


class Sender:
    """Sends deliveries from a thread pool; one that gets no 2xx is tried again on the RETRY_AFTER schedule
    (Slack marks its re-deliveries with X-Slack-Retry-Num, re-signed with a fresh timestamp)."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.slack = SlackEventSender(dep.url + "/slack/events", SECRET, bot_user_id=dep.fake.bot_user_id)
        self.pool = ThreadPoolExecutor(48)
        self.sent: list[Sent] = []
        self.lock = threading.Lock()

    def slack_event(self, page: str, event: dict[str, Any], event_id: str) -> Sent:
        body = json.dumps(self.slack.envelope(event, event_id=event_id)).encode()
        return Sent(page, "/slack/events", body, {"Content-Type": "application/json"}, slack=True)

    def send(self, item: Sent, *, wait: bool = False) -> Sent:
        with self.lock:
            self.sent.append(item)
        future = self.pool.submit(self._deliver, item)
        if wait:
            future.result()
        return item

    def _deliver(self, item: Sent) -> None:
        start = time.monotonic()
        for n in range(len(RETRY_AFTER) + 1):
            if n:
                time.sleep(max(0.0, start + RETRY_AFTER[n - 1] - time.monotonic()))
            headers = dict(item.headers)
            if item.slack:
                headers.update(self.slack.headers(item.body.decode(), retry_num=n or None))
            item.statuses.append(_post(self.dep.url + item.path, item.body, headers))
            if item.acked or 400 <= item.statuses[-1] < 500:
                return

    def drain(self) -> None:
        """Wait until every delivery got an answer or ran out of retries."""
        self.pool.shutdown(wait=True)
        self.pool = ThreadPoolExecutor(48)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    parts = urllib.parse.urlsplit(url)
    try:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        conn.request("POST", parts.path, body=body, headers=headers)
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return 0  # no answer: connection refused, reset, or timed out


def alarm_event(
    dep: Deployment, name: str, state: str = "ALARM", channel: str | None = None
) -> dict[str, Any]:
    """AWS Chatbot's post of alarm `name` in `state`, put into the channel (as the other app would)."""
    notice = AlarmNotice(
        alarm_name=name,
        metric_name="HTTPCode_Target_5XX_Count",
        namespace="AWS/ApplicationELB",
        state_change_time=datetime.now(UTC),
        new_state=state,
        old_state="OK" if state == "ALARM" else "ALARM",
        threshold=10,
        value=42,
    )
    where = channel or dep.channel
    event = chatbot_alarm_message(notice, where, f"{time.time():.6f}")
    dep.fake.add_message(where, event)
    time.sleep(0.002)  # distinct ts
    return event


def burst(sender: Sender, prefix: str, pages: int, rate: float, at_half: Callable[[], None] | None) -> None:
    """`pages` distinct alarms at `rate` per second, each also re-sent under a second event id (a duplicate
    subscription) for one in four; `at_half` runs (in its own thread) half way through."""
    hook: threading.Thread | None = None
    for i in range(pages):
        if i == pages // 2 and at_half is not None:
            hook = threading.Thread(target=at_half)
            hook.start()
        name = f"{prefix}-{i:03d}-5xx"
        event = alarm_event(sender.dep, name)
        sender.send(sender.slack_event(name, event, f"Ev{prefix.upper()}{i:05d}"))
        if i % 4 == 0:
            sender.send(sender.slack_event(name, event, f"EvDUP{prefix.upper()}{i:05d}"))
        time.sleep(1.0 / rate)
    if hook is not None:
        hook.join()
    sender.drain()


# -- measuring -----------------------------------------------------------------------------------------------------


class Db:
    """Reads the real database (not through the proxy)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return list(conn.execute(query, args).fetchall())

    def incidents(self, prefix: str) -> list[tuple[Any, ...]]:
        """(id, key, status, channel, thread_ts, recurrence_of) of the probe's incidents."""
        return self.rows(
            "SELECT id, coalesce(page->>'alarm_name', title), status, channel, thread_ts, recurrence_of "
            "FROM incidents WHERE coalesce(page->>'alarm_name', title) LIKE %s ORDER BY id",
            prefix + "-%",
        )

    def investigations(self, incident_ids: list[int]) -> list[tuple[Any, ...]]:
        """(id, incident_id, status, workflow_id) of these incidents' investigations."""
        if not incident_ids:
            return []
        return self.rows(
            "SELECT id, incident_id, status, workflow_id FROM investigations WHERE incident_id = ANY(%s) "
            "ORDER BY id",
            incident_ids,
        )

    def queued(self) -> int:
        """Workflows not finished (none may remain once everything settled)."""
        return int(
            self.rows("SELECT count(*) FROM dbos.workflow_status WHERE status IN ('PENDING','ENQUEUED')")[0][
                0
            ]
        )


def settle(db: Db, prefix: str, timeout: float = SETTLE_S) -> None:
    """Wait until no investigation of the probe is running and no workflow is queued (or progress stops)."""
    deadline, last, last_change = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        incidents = db.incidents(prefix)
        invs = db.investigations([r[0] for r in incidents])
        state = (len(incidents), tuple(r[2] for r in invs), db.queued())
        if invs and all(r[2] != "running" for r in invs) and state[2] == 0:
            return
        if state != last:
            last, last_change = state, time.monotonic()
        elif time.monotonic() - last_change > 90:
            return  # no progress in 90 s: what is left is stuck
        time.sleep(1.0)


@dataclass
class Figures:
    """What a probe shows."""

    probe: str
    acknowledged: int = 0
    stored: int = 0
    refused: int = 0
    started: int = 0
    finished: int = 0
    stuck: int = 0
    silent: int = 0
    duplicates: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.acknowledged - self.stored

    def line(self) -> str:
        extra = f"  ({'; '.join(self.notes)})" if self.notes else ""
        return (
            f"{self.probe:<12} acknowledged {self.acknowledged:>3}  stored {self.stored:>3}  lost {self.lost:>2}  "
            f"investigations started {self.started:>3} finished {self.finished:>3}  stuck {self.stuck:>2}  "
            f"silent {self.silent:>2}  duplicates {self.duplicates:>2}{extra}"
        )


def measure(
    dep: Deployment, db: Db, sender: Sender, prefix: str, episodes: Callable[[str], int] = lambda _: 1
) -> Figures:
    """Count the probe's pages, incidents, investigations and thread messages. `episodes(page)` is how many
    investigations a page calls for (1; 3 for an alarm that fired three times; 2 for a re-opened incident)."""
    fig = Figures(prefix)
    acked = {s.page for s in sender.sent if s.page and s.acked}
    fig.refused = sum(1 for s in sender.sent if s.statuses and 400 <= s.statuses[-1] < 500)
    incidents = db.incidents(prefix)
    by_page: dict[str, list[tuple[Any, ...]]] = {}
    for row in incidents:
        by_page.setdefault(row[1], []).append(row)
    fig.acknowledged = len(acked)
    fig.stored = sum(1 for p in acked if p in by_page)
    invs = db.investigations([r[0] for r in incidents])
    fig.started = len(invs)
    fig.finished = sum(1 for r in invs if r[2] in ("done", "failed"))
    fig.stuck = sum(1 for r in invs if r[2] == "running") + db.queued()
    if any(r[2] == "failed" for r in invs):
        fig.notes.append(f"{sum(1 for r in invs if r[2] == 'failed')} finished as failed")
    per_incident: dict[int, int] = {}
    for r in invs:
        per_incident[r[1]] = per_incident.get(r[1], 0) + 1
    for page, rows in by_page.items():
        want = episodes(page)
        have = sum(per_incident.get(r[0], 0) for r in rows)
        fig.duplicates += max(0, have - want) + max(0, len(rows) - want)
    fig.duplicates += thread_duplicates(dep, incidents, per_incident, fig)
    return fig


def thread_duplicates(
    dep: Deployment, incidents: list[tuple[Any, ...]], per_incident: dict[int, int], fig: Figures
) -> int:
    """Messages said more often than the investigations in their thread call for."""
    extra = 0
    threads: dict[tuple[str, str], int] = {}
    for row in incidents:
        if row[3] and row[4]:
            threads[(row[3], row[4])] = threads.get((row[3], row[4]), 0) + per_incident.get(row[0], 0)
    for (channel, ts), want in threads.items():
        replies = dep.fake.replies(channel, ts)
        on_it = sum(1 for m in replies if m["text"].startswith(":mag: On it"))
        reports = sum(1 for m in replies if m["text"].startswith("Report"))
        if on_it != want or reports != want:
            fig.notes.append(f"thread {ts}: {on_it} 'On it', {reports} reports for {want}")
        extra += max(0, on_it - want) + max(0, reports - want)
        fig.silent += max(0, want - reports)
    return extra


def announcement_duplicates(dep: Deployment, titles: list[str], fig: Figures) -> int:
    """Page announcements (webhook pages posted into the page channel) beyond one per PagerDuty incident."""
    posted = [
        m["text"] for m in dep.fake.messages(dep.page_channel) if m["text"].startswith(":rotating_light:")
    ]
    extra = 0
    for title in titles:
        n = sum(1 for t in posted if title in t)
        if n != 1:
            fig.notes.append(f"{title} announced {n} times")
        extra += max(0, n - 1)
    return extra


def status_line_duplicates(dep: Deployment, incidents: list[tuple[Any, ...]], fig: Figures) -> int:
    """Channel status lines beyond one per incident (each is posted once, then edited in place)."""
    lines = [
        m["text"]
        for ch in (dep.channel, dep.page_channel, dep.random)
        for m in dep.fake.messages(ch)
        if m.get("bot_id") == dep.fake.bot_id and not m["text"].startswith(":rotating_light:")
    ]
    per_key: dict[str, int] = {}
    for row in incidents:
        per_key[row[1]] = per_key.get(row[1], 0) + 1
    extra = 0
    for key, want in per_key.items():
        n = sum(1 for t in lines if key in t)
        if n > want:
            fig.notes.append(f"{key}: {n} status lines for {want} incidents")
        extra += max(0, n - want)
    return extra


# -- the probes ----------------------------------------------------------------------------------------------------


def restart(dep: Deployment, proc: Proc, what: str) -> Callable[[], None]:
    def kill_and_restart() -> None:
        proc.kill9()
        print(f"    kill -9 {what} (pid {proc.proc.pid if proc.proc else '?'}); restarting", flush=True)
        proc.start()
        if proc is dep.web:
            dep.wait_up()

    return kill_and_restart


def probe_kill_web(dep: Deployment, db: Db, args: argparse.Namespace) -> Figures:
    sender = Sender(dep)
    burst(sender, "killweb", args.pages, args.rate, restart(dep, dep.web, "the web process"))
    settle(db, "killweb")
    return finish(dep, db, sender, "killweb")


def children_of(pid: int) -> list[int]:
    """The process ids whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def kill_worker_child(dep: Deployment) -> None:
    """kill -9 of single serve's worker child; its serve starts another, and is ready again once it runs."""
    assert dep.web.proc is not None
    children = children_of(dep.web.proc.pid)
    if not children:
        print("    no worker child to kill", flush=True)
        return
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    print(f"    kill -9 serve's worker child (pid {', '.join(map(str, children))}); serve restarts it")
    restarted = wait_for(
        lambda: bool(set(children_of(dep.web.proc.pid) if dep.web.proc else []) - set(children)), 60
    )
    ready = restarted and wait_for(dep.ready, 180)
    print(f"    worker child {'restarted and ready' if ready else 'NOT restarted'}", flush=True)


def probe_kill_worker(dep: Deployment, db: Db, args: argparse.Namespace) -> Figures:
    sender = Sender(dep)
    proc = dep.investigator

    def when_busy() -> None:
        running = (
            "SELECT 1 FROM investigations i JOIN incidents c ON c.id = i.incident_id "
            "WHERE i.status = 'running' AND c.page->>'alarm_name' LIKE 'killworker-%%' LIMIT 1"
        )
        wait_for(lambda: bool(db.rows(running)), 30)  # investigations of this burst under way
        time.sleep(1.0)
        if dep.layout == "single":  # its investigations run in serve's worker child
            kill_worker_child(dep)
        else:
            restart(dep, proc, "the process running investigations")()

    burst(sender, "killworker", args.pages, args.rate, when_busy)
    settle(db, "killworker")
    return finish(dep, db, sender, "killworker")


def probe_db_outage(dep: Deployment, db: Db, args: argparse.Namespace) -> Figures:
    sender = Sender(dep)

    def outage() -> None:
        dep.proxy.cut()
        print(f"    database cut for {args.outage:.0f} s", flush=True)
        time.sleep(args.outage)
        dep.proxy.restore()

    burst(sender, "dbdown", args.pages, args.rate, outage)
    settle(db, "dbdown")
    return finish(dep, db, sender, "dbdown")


def probe_flapping(dep: Deployment, db: Db, args: argparse.Namespace) -> Figures:
    sender = Sender(dep)
    alarms = max(2, args.pages // 8)

    def flap(i: int) -> None:
        name = f"flap-{i:03d}-5xx"
        for n, state in enumerate(("ALARM", "ALARM", "OK", "ALARM", "OK", "ALARM")):
            event = alarm_event(dep, name, state)
            sender.send(sender.slack_event(name, event, f"EvFLAP{i:03d}{n}"), wait=True)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(flap, range(alarms)))
    sender.drain()
    settle(db, "flap")
    fig = finish(dep, db, sender, "flap", episodes=lambda _: 3)
    chains = db.rows(
        "SELECT count(*) FROM incidents a JOIN incidents b ON b.recurrence_of = a.id "
        "WHERE a.page->>'alarm_name' LIKE 'flap-%%' AND a.page->>'alarm_name' = b.page->>'alarm_name'"
    )[0][0]
    fig.notes.append(f"{chains} of {2 * alarms} recurrences linked to the incident before")
    return fig


def probe_reopened(dep: Deployment, db: Db, args: argparse.Namespace) -> Figures:
    sender = Sender(dep)
    titles = [f"reopen-{i:03d} checkout errors" for i in range(max(2, args.pages // 8))]
    replays: list[Sent] = []

    def lifecycle(title: str) -> None:
        number = 900 + titles.index(title)
        incident = PdIncident(
            number=number, title=title, service_name="checkout", created_at=datetime.now(UTC)
        )
        bodies = {}
        for n, kind in enumerate(("triggered", "resolved", "reopened")):
            at = datetime.now(UTC) + timedelta(seconds=n)
            body, headers = pagerduty_webhook(incident, PD_SECRET, f"incident.{kind}", occurred_at=at)
            bodies[kind] = (body, headers)
            sender.send(Sent(title, "/webhooks/pagerduty", body, headers, slack=False), wait=True)
        body, headers = bodies["triggered"]  # replayed, with a new X-Webhook-Id
        replays.append(
            sender.send(
                Sent(
                    "",
                    "/webhooks/pagerduty",
                    body,
                    {**headers, "X-Webhook-Id": "replay-" + secrets.token_hex(8)},
                    slack=False,
                ),
                wait=True,
            )
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lifecycle, titles))
    sender.drain()
    settle(db, "reopen")
    fig = finish(dep, db, sender, "reopen", episodes=lambda _: 2)
    fig.duplicates += announcement_duplicates(dep, titles, fig)
    fig.notes.append(
        f"{sum(1 for r in replays if r.acked)} replays answered 2xx as duplicates, nothing started"
    )
    return fig


def probe_bad_input(dep: Deployment, db: Db, args: argparse.Namespace) -> Figures:
    sender = Sender(dep)
    good = alarm_event(dep, "badinput-000-5xx")
    for event_id in ("Ev" + "X" * 300, "Ev\x00NUL"):
        sender.send(sender.slack_event("", good, event_id), wait=True)
    pd = PdIncident(number=901, title="badinput-pd", service_name="x", created_at=datetime.now(UTC))
    body, headers = pagerduty_webhook(pd, PD_SECRET)
    sender.send(
        Sent("", "/webhooks/pagerduty", body, {**headers, "X-Webhook-Id": "w" * 300}, slack=False), wait=True
    )
    nul = json.loads(body)
    nul["event"]["id"] = "evt\x00nul"
    raw = json.dumps(nul).encode()
    signed = {**headers, "X-PagerDuty-Signature": pagerduty_signature(PD_SECRET, raw)}
    sender.send(Sent("", "/webhooks/pagerduty", raw, signed, slack=False), wait=True)
    titled = alarm_event(dep, "badinput-001-\x005xx")
    sender.send(sender.slack_event("badinput-001-5xx", titled, "EvBADNULTITLE"), wait=True)
    elsewhere = alarm_event(dep, "badinput-002-5xx", channel=dep.random)
    sender.send(sender.slack_event("", elsewhere, "EvBADRANDOM"), wait=True)
    sender.drain()
    settle(db, "badinput", timeout=90)
    fig = finish(dep, db, sender, "badinput")
    unwanted = db.rows(
        "SELECT count(*) FROM inbound_deliveries WHERE delivery_id LIKE 'EvXXX%%' OR length(delivery_id) > 128 "
        "OR delivery_id = 'EvBADRANDOM'"
    )[0][0]
    stray = len([r for r in db.incidents("badinput") if r[1] in ("badinput-000-5xx", "badinput-002-5xx")])
    fig.notes.append(
        f"{fig.refused} refused with a 4xx; {unwanted + stray} rows for refused or ignored input"
    )
    fig.duplicates += unwanted + stray
    return fig


def finish(
    dep: Deployment, db: Db, sender: Sender, prefix: str, episodes: Callable[[str], int] = lambda _: 1
) -> Figures:
    fig = measure(dep, db, sender, prefix, episodes)
    fig.duplicates += status_line_duplicates(dep, db.incidents(prefix), fig)
    unanswered = sum(1 for s in sender.sent if s.statuses and not (200 <= s.statuses[0] < 500))
    if unanswered:
        fig.notes.append(f"{unanswered} deliveries got no 2xx at first and were delivered again")
    return fig


PROBES: dict[str, Callable[[Deployment, Db, argparse.Namespace], Figures]] = {
    "kill-web": probe_kill_web,
    "kill-worker": probe_kill_worker,
    "db-outage": probe_db_outage,
    "flapping": probe_flapping,
    "reopened": probe_reopened,
    "bad-input": probe_bad_input,
}


def run_layout(layout: str, args: argparse.Namespace, tmp: Path) -> list[Figures]:
    with FakeSlack() as fake, deployment(layout, fake, tmp) as dep:
        db = Db(dep.db_url)
        out: list[Figures] = []
        for name in args.probes:
            started = time.monotonic()
            print(f"  {layout}: {name}", flush=True)
            fig = PROBES[name](dep, db, args)
            fig.probe = name
            print("    " + fig.line() + f"  [{time.monotonic() - started:.0f} s]", flush=True)
            out.append(fig)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layout", choices=("single", "split", "both"), default="both")
    ap.add_argument("--pages", type=int, default=40, help="distinct pages in a burst (at most 200)")
    ap.add_argument("--rate", type=float, default=20.0, help="pages per second in a burst")
    ap.add_argument("--outage", type=float, default=4.0, help="seconds the database is cut for")
    ap.add_argument("--probes", nargs="*", default=list(PROBES), choices=list(PROBES))
    args = ap.parse_args()
    args.pages = max(4, min(args.pages, 200))
    layouts = ["single", "split"] if args.layout == "both" else [args.layout]
    results: dict[str, list[Figures]] = {}
    with tempfile.TemporaryDirectory(prefix="sre-chaos-") as tmp:
        for layout in layouts:
            name = (
                "one `sre-bot serve`"
                if layout == "single"
                else "`sre-bot serve --queue-only` + `sre-bot worker`"
            )
            print(f"layout {layout}: {name}, PostgreSQL behind a TCP proxy, the fake Slack", flush=True)
            results[layout] = run_layout(layout, args, Path(tmp))
    print()
    bad = 0
    for layout, figs in results.items():
        print(f"{layout}:")
        for fig in figs:
            print("  " + fig.line())
            bad += fig.lost + fig.stuck + fig.silent + fig.duplicates
    zero = "zero lost, zero stuck, zero silent, zero duplicates"
    print("\nverdict:", zero if bad == 0 else f"{bad} problems (see above)")
    sys.exit(0 if bad == 0 else 1)


if __name__ == "__main__":
    main()

"""The deployment the Procfile describes, as real processes: `sre-bot serve --queue-only` acks and enqueues,
`sre-bot worker` investigates and posts in the thread, and both stop cleanly on SIGTERM. And plain `sre-bot serve`,
which runs the same worker as a child it supervises: started again when it dies, gone when serve goes.

Both processes share one SQLite database (and DBOS system database) in a temporary folder and talk to the fake
Slack in this process; AWS is an endpoint that refuses connections, so the investigation ends with gaps.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.sandbox.fake_slack import FakeSlack, wait_for
from bot.sandbox.pages import AlarmNotice, chatbot_alarm_message
from bot.sandbox.signing import SlackEventSender

SECRET = "process-test-signing-secret"
SRE_BOT = str(Path(sys.executable).with_name("sre-bot"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _env(tmp_path: Path, fake: FakeSlack, port: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_", "EXECUTOR", "DYNO"))},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite'}",
        "SLACK_BOT_TOKEN": "xoxb-process-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "PORT": str(port),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
    }


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_web_and_worker_processes_investigate_a_page_and_stop_on_sigterm(tmp_path: Path) -> None:
    with FakeSlack() as fake:
        channel = fake.add_channel("inc-checkout")
        port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_", "EXECUTOR"))},
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite'}",
            "SLACK_BOT_TOKEN": "xoxb-process-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            "PORT": str(port),
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
        }
        subprocess.run([SRE_BOT, "migrate"], env=env, check=True, capture_output=True)
        logs = {name: (tmp_path / f"{name}.log").open("wb") for name in ("web", "worker")}
        web = subprocess.Popen(
            [SRE_BOT, "serve", "--queue-only"], env=env, stdout=logs["web"], stderr=subprocess.STDOUT
        )
        worker = subprocess.Popen(
            [SRE_BOT, "worker"], env=env, stdout=logs["worker"], stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"

        def output() -> str:
            return "\n".join(f"--- {n}\n{(tmp_path / f'{n}.log').read_text()[-2000:]}" for n in logs)

        try:
            assert wait_for(lambda: _healthy(url), 180), output()
            ts = f"{datetime.now(UTC).timestamp():.6f}"
            notice = AlarmNotice(
                alarm_name="checkout-5xx-high",
                metric_name="HTTPCode_Target_5XX_Count",
                namespace="AWS/ApplicationELB",
                state_change_time=datetime.now(UTC),
            )
            event = chatbot_alarm_message(notice, channel, ts)
            fake.add_message(channel, event)
            with SlackEventSender(url + "/slack/events", SECRET, bot_user_id=fake.bot_user_id) as sender:
                assert sender.event(event).status == 200
            # The worker process investigates and posts the report in the page's thread.
            assert wait_for(lambda: any("Report" in m["text"] for m in fake.replies(channel, ts)), 60), (
                output()
            )
            texts = [m["text"] for m in fake.replies(channel, ts)]
            assert texts[0].startswith(":mag: On it: looking at checkout-5xx-high")
        finally:
            for proc in (web, worker):
                proc.send_signal(signal.SIGTERM)
            codes: list[int | None] = []
            for proc in (web, worker):
                try:
                    codes.append(proc.wait(20))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    codes.append(None)
            for fh in logs.values():
                fh.close()
        assert codes == [0, 0], output()
        assert not _healthy(url)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker child through /proc")
def test_serve_runs_investigations_in_a_worker_child_it_restarts_and_stops(tmp_path: Path) -> None:
    with FakeSlack() as fake:
        channel = fake.add_channel("inc-checkout")
        port = _free_port()
        env = _env(tmp_path, fake, port)
        subprocess.run([SRE_BOT, "migrate"], env=env, check=True, capture_output=True)
        log_path = tmp_path / "serve.log"
        with log_path.open("wb") as log:
            serve = subprocess.Popen([SRE_BOT, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"

        def output() -> str:
            return log_path.read_text()[-3000:]

        try:
            # ready only once the worker child runs its queues
            assert wait_for(lambda: _ready(url), 180), output()
            (first,) = _children(serve.pid)
            os.kill(first, signal.SIGKILL)
            # serve starts another worker, and /readyz says so while it is away
            assert wait_for(lambda: bool(set(_children(serve.pid)) - {first}), 60), output()
            assert wait_for(lambda: _ready(url), 180), output()
            (second,) = _children(serve.pid)
            assert second != first

            ts = f"{datetime.now(UTC).timestamp():.6f}"
            notice = AlarmNotice(
                alarm_name="checkout-5xx-high",
                metric_name="HTTPCode_Target_5XX_Count",
                namespace="AWS/ApplicationELB",
                state_change_time=datetime.now(UTC),
            )
            event = chatbot_alarm_message(notice, channel, ts)
            fake.add_message(channel, event)
            with SlackEventSender(url + "/slack/events", SECRET, bot_user_id=fake.bot_user_id) as sender:
                assert sender.event(event).status == 200
            # the restarted child investigates and posts the report in the page's thread
            assert wait_for(lambda: any("Report" in m["text"] for m in fake.replies(channel, ts)), 90), (
                output()
            )
        finally:
            serve.send_signal(signal.SIGTERM)
            try:
                code = serve.wait(60)
            except subprocess.TimeoutExpired:
                serve.kill()
                code = None
        assert code == 0, output()
        assert not _alive(second), "the worker child outlived serve"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker child through /proc")
def test_the_worker_child_leaves_when_serve_is_killed(tmp_path: Path) -> None:
    with FakeSlack() as fake:
        port = _free_port()
        env = _env(tmp_path, fake, port)
        subprocess.run([SRE_BOT, "migrate"], env=env, check=True, capture_output=True)
        log_path = tmp_path / "serve.log"
        with log_path.open("wb") as log:
            serve = subprocess.Popen([SRE_BOT, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert wait_for(lambda: _ready(f"http://127.0.0.1:{port}"), 180), log_path.read_text()[-3000:]
            (child,) = _children(serve.pid)
        finally:
            serve.kill()  # kill -9: no chance to stop the child itself
            serve.wait(30)
        # the child sees its end of the socket pair close and leaves at once, as one process would have
        assert wait_for(lambda: not _alive(child), 30), log_path.read_text()[-3000:]

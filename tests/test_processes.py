"""The deployment the Procfile describes, as real processes: `sre-bot serve --queue-only` acks and enqueues,
`sre-bot worker` investigates and posts in the thread, and both stop cleanly on SIGTERM.

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
            assert wait_for(lambda: _healthy(url), 60), output()
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

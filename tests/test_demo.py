"""`sre-bot demo`: the real app, through the fake Slack, on the simulated estate; one JSON object with --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED

pytestmark = pytest.mark.slow

SCENARIO = SHARED / "scenarios" / "catalog-slow-queries-traffic.yaml"


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )


@pytest.mark.skipif(not SCENARIO.is_file(), reason="../shared/scenarios is not beside this checkout")
def test_demo_json_is_every_call_in_order() -> None:
    run = _demo("--json", "--scenario", str(SCENARIO))
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)  # exactly one JSON object on stdout
    calls = out["calls"]
    assert set(calls[0]) == {"method", "channel", "thread_ts", "ts", "text", "blocks", "at"}
    ats = [c["at"] for c in calls]
    assert ats == sorted(ats)
    posts = [c for c in calls if c["method"] == "chat.postMessage"]
    started = next(c for c in posts if (c["text"] or "").startswith(":mag: On it"))
    assert started["thread_ts"]
    report = next(c for c in posts if (c["text"] or "").startswith("Report:"))
    # "On it" is the thread's first word (its speed is measured by `sre-bot eval`, not asserted here).
    in_thread = [c for c in posts if c["thread_ts"] == started["thread_ts"] and c is not started]
    assert in_thread and started["at"] <= min(c["at"] for c in in_thread)
    assert report["thread_ts"] == started["thread_ts"] and report["blocks"]
    assert "catalog-db" in report["text"]
    assert any(c["method"] == "chat.update" for c in calls)
    upload = next(c for c in calls if c["method"] == "files.completeUploadExternal")
    assert upload["thread_ts"] == started["thread_ts"]
    assert "threshold dotted" in upload["text"]  # the paging alarm's own metric, read back from CloudWatch


@pytest.mark.skipif(not SCENARIO.is_file(), reason="../shared/scenarios is not beside this checkout")
def test_demo_prints_the_thread() -> None:
    run = _demo("--scenario", str(SCENARIO))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "On it: looking at web-p99-latency-high" in run.stdout
    assert "Report: web-p99-latency-high" in run.stdout

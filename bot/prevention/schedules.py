"""The nightly mining and the weekly digest as DBOS schedules.

DBOS gives each firing the workflow id `sched-<name>-<time>`, so with several workers on one system database a
firing runs once, whichever process picks it up (APScheduler with a shared job store ran the same cron twice
here, which is why it is not used). Schedules are applied after `DBOS.launch()`; applying them again from
another process replaces them rather than adding a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dbos import DBOS

from bot.prevention.digest import Digest, weekly_digest
from bot.prevention.nightly import run_nightly
from bot.storage.store import Store

log = logging.getLogger(__name__)

NIGHTLY = "prevention-nightly"
DIGEST = "prevention-digest"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass
class _Installed:
    store: Store
    post: Callable[[Digest], str] | None


_installed: _Installed | None = None


def _get() -> _Installed:
    if _installed is None:
        raise RuntimeError("the prevention schedules are not installed (call install_schedules after launch)")
    return _installed


def nightly_cron(hour: int) -> str:
    """The nightly job's 6-field cron (seconds first), at `hour`:00 UTC."""
    if not 0 <= hour <= 23:
        raise ValueError(f"nightly hour {hour} is not an hour of the day (0-23)")
    return f"0 0 {hour} * * *"


def digest_cron(day: str, hour: int) -> str:
    """The weekly digest's 6-field cron: `day` (mon..sun) at `hour`:00 UTC."""
    if day.lower()[:3] not in _DAYS:
        raise ValueError(f"digest day {day!r} is not a day of the week (mon..sun)")
    if not 0 <= hour <= 23:
        raise ValueError(f"digest hour {hour} is not an hour of the day (0-23)")
    return f"0 0 {hour} * * {day.lower()[:3]}"


@DBOS.step(name="prevention.mine", retries_allowed=True, max_attempts=4, interval_seconds=2.0)
def _mine_step(scheduled_at: datetime) -> str:
    store = _get().store
    summary = run_nightly(store).summary()
    log.info("nightly prevention: %s", summary)
    store.audit("sre-bot", "prevention:nightly", f"schedule:{scheduled_at.isoformat()}", {"run": summary})
    return summary


@DBOS.workflow(name="prevention.nightly")
def nightly_workflow(scheduled_at: datetime, context: Any) -> None:
    """Mine stored incidents into recommendations (once per firing, whichever worker runs it)."""
    _mine_step(scheduled_at)


@DBOS.step(name="prevention.post-digest")
def _post_step(scheduled_at: datetime) -> str | None:
    installed = _get()
    if installed.post is None:
        log.warning("no digest channel configured: the weekly digest was not posted")
        return None
    return installed.post(weekly_digest(installed.store, scheduled_at))


@DBOS.workflow(name="prevention.digest")
def digest_workflow(scheduled_at: datetime, context: Any) -> None:
    """Post the week's digest (once per firing)."""
    _post_step(scheduled_at)


def install_schedules(
    store: Store,
    post: Callable[[Digest], str] | None,
    *,
    nightly: str,
    digest: str,
) -> None:
    """Give the scheduled workflows their store and digest poster, and apply both schedules (call after
    `DBOS.launch()`; every worker may call it: the schedules are replaced, not duplicated)."""
    global _installed
    _installed = _Installed(store, post)
    DBOS.apply_schedules(
        [
            {"schedule_name": NIGHTLY, "workflow_fn": nightly_workflow, "schedule": nightly},
            {"schedule_name": DIGEST, "workflow_fn": digest_workflow, "schedule": digest},
        ]
    )

"""A `serve` that also runs investigations runs fewer investigation threads, unless told how many."""

from __future__ import annotations

from bot.config import Settings
from bot.slack.server import SHARED_LIMITS, beside_acks


def test_a_serve_running_investigations_runs_fewer_threads() -> None:
    settings = Settings(_env_file=None, run_investigations=True)  # type: ignore[call-arg]
    shared = beside_acks(settings)
    for name, limit in SHARED_LIMITS.items():
        assert getattr(shared, name) == min(getattr(settings, name), limit)
    assert shared.investigation_concurrency < settings.investigation_concurrency


def test_concurrency_set_explicitly_is_kept() -> None:
    settings = Settings(_env_file=None, run_investigations=True, investigation_concurrency=6)  # type: ignore[call-arg]
    shared = beside_acks(settings)
    assert shared.investigation_concurrency == 6
    assert shared.gather_concurrency == SHARED_LIMITS["gather_concurrency"]


def test_a_queue_only_serve_is_unchanged() -> None:
    settings = Settings(_env_file=None, run_investigations=False)  # type: ignore[call-arg]
    assert beside_acks(settings) == settings

"""A `serve` that also runs investigations hands them to a worker child: the HTTP process only enqueues, under an
executor id of its own, and the child resumes the settings' own executor's workflows."""

from __future__ import annotations

from bot.config import Settings
from bot.slack.health import Readiness
from bot.slack.server import ACKS_SUFFIX, split_for_child


def test_the_http_process_only_enqueues_and_the_child_takes_the_executor_id() -> None:
    settings = Settings(_env_file=None, run_investigations=True, executor_id="web")  # type: ignore[call-arg]
    acks, child_env = split_for_child(settings)
    assert not acks.run_investigations
    assert acks.executor_id == "web" + ACKS_SUFFIX
    assert child_env["EXECUTOR_ID"] == "web"
    assert acks.investigation_concurrency == settings.investigation_concurrency


class _Child:
    def __init__(self, problem: str | None) -> None:
        self._problem = problem

    def problem(self) -> str | None:
        return self._problem


def test_readyz_reports_the_worker_child() -> None:
    settings = Settings(_env_file=None, database_url="sqlite://", run_investigations=False)  # type: ignore[call-arg]
    starting = Readiness.for_settings(settings, worker=_Child("worker process starting")).report()
    assert starting.checks["workers"] == "worker process starting"
    assert not starting.ok
    running = Readiness.for_settings(settings, worker=_Child(None)).report()
    assert running.checks["workers"] == "ok"


def test_a_queue_only_serve_has_no_workers_check() -> None:
    settings = Settings(_env_file=None, database_url="sqlite://", run_investigations=False)  # type: ignore[call-arg]
    assert "workers" not in Readiness.for_settings(settings).report().checks

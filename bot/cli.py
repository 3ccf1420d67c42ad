"""The `sre-bot` command: run the bot, the offline demo, one investigation, the evaluations.

User mistakes (a bad scenario, missing credentials) end with a one-line error and exit code 2, never a
stack trace.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bot.config import MissingSettings, load_settings

app = typer.Typer(
    name="sre-bot",
    help="An on-call SRE teammate that lives in Slack. Start with `sre-bot demo`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(fn: F) -> F:
    """Turn user-facing errors into one clear line on stderr and exit code 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from bot.mitigation.audit import UnknownIncident
        from bot.sandbox.scenario import ScenarioError

        user_errors: tuple[type[Exception], ...] = (
            MissingSettings,
            ScenarioError,
            FileNotFoundError,
            UnknownIncident,
        )
        try:
            from bot.sandbox.bench import BenchInputError

            user_errors = (*user_errors, BenchInputError)
        except ImportError:
            pass
        try:
            return fn(*args, **kwargs)
        except user_errors as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@app.command()
@_friendly
def migrate() -> None:
    """Create or upgrade the database schema (SQLite by default, Postgres when DATABASE_URL says so)."""
    from bot.storage.db import migrate as run_migrations

    settings = load_settings()
    run_migrations(settings.database_url)
    typer.echo(f"database is up to date: {settings.database_url}")


@app.command()
@_friendly
def demo(
    scenario: Annotated[str | None, typer.Option(help="scenario id or file (default: the flagship)")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print every Slack call as one JSON object")
    ] = False,
    week: Annotated[
        bool, typer.Option("--week", help="a week of incidents, the nightly job and the weekly digest")
    ] = False,
) -> None:
    """Run the whole bot offline against the simulated estate and show the Slack thread it writes."""
    if week:
        import sys

        from bot.sandbox.week_demo import run_week_demo

        run_week_demo(sys.stdout)
        return
    from bot.sandbox.demo import run_demo

    result = run_demo(scenario, as_json=as_json)
    if as_json:
        typer.echo(json.dumps(result))


@app.command()
@_friendly
def investigate(
    scenario: Annotated[str, typer.Option(help="scenario id (built-in) or path to a scenario file")],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Boot the simulated estate for a scenario, investigate its page and print the report."""
    from bot.sandbox.runner import investigate_scenario

    outcome = investigate_scenario(scenario)
    if as_json:
        typer.echo(json.dumps(outcome.report.model_dump(mode="json")))
    else:
        typer.echo(outcome.text)


@app.command(name="eval")
@_friendly
def evaluate(
    paths: Annotated[list[Path], typer.Argument(help="scenario files or folders holding *.yaml")],
    as_json: Annotated[bool, typer.Option("--json", help="print exactly one JSON object")] = False,
    llm: Annotated[
        bool, typer.Option("--llm", help="add the model's second pass (needs ANTHROPIC_API_KEY; not for CI)")
    ] = False,
) -> None:
    """Run every scenario under PATHS through the sandbox and the engine, and score each report."""
    from bot.sandbox.evaluate import evaluate_paths, format_table

    if llm:
        from bot.sandbox.evaluate_llm import evaluate_llm, format_llm_table

        rows = evaluate_llm(paths, load_settings())
        typer.echo(json.dumps({"scenarios": rows}) if as_json else format_llm_table(rows))
        return
    result = evaluate_paths(paths)
    if as_json:
        result.pop("_details", None)
        typer.echo(json.dumps(result))
    else:
        typer.echo(format_table(result))


@app.command()
@_friendly
def bench(
    path: Annotated[Path, typer.Argument(help="folder of rca-case/1 cases (each with a case.json)")],
    ignore_changes: Annotated[bool, typer.Option("--ignore-changes", help="drop the change records")] = False,
    confirmed: Annotated[
        bool,
        typer.Option(
            "--confirmed",
            help="rank as when a person asked: never an empty answer while anything is anomalous",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print exactly one JSON object")] = False,
) -> None:
    """Score the root-cause ranking on recorded incident data (top-1, top-3, MRR, specificity)."""
    from bot.sandbox.bench import format_table, run_bench

    result = run_bench(path, ignore_changes=ignore_changes, confirmed=confirmed)
    typer.echo(json.dumps(result.to_json()) if as_json else format_table(result))


@app.command()
@_friendly
def serve(
    queue_only: bool = typer.Option(
        False,
        "--queue-only",
        help="only enqueue investigations and leave running them to `sre-bot worker` processes",
    ),
) -> None:
    """Run the Slack app (HTTP mode on $PORT, or Socket Mode when SLACK_APP_TOKEN is set)."""
    from bot.slack.server import serve as run_server

    settings = load_settings().for_role("web")
    if queue_only:
        settings = settings.model_copy(update={"run_investigations": False})
    settings.require(
        "slack_bot_token", "slack_signing_secret"
    ) if not settings.slack_app_token else settings.require("slack_bot_token")
    run_server(settings)


@app.command()
@_friendly
def worker() -> None:
    """Run investigations, steering and their Slack updates (DBOS queue workers) without serving HTTP."""
    import signal
    import threading

    from bot.slack.server import build_surface
    from bot.slack.supervisor import join_supervisor

    # started by a `serve` (bot.slack.supervisor): leave with it, and tell it when the queues run
    say_ready = join_supervisor()
    settings = load_settings().for_role("worker").model_copy(update={"run_investigations": True})
    settings.require("slack_bot_token")
    surface = build_surface(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    typer.echo("worker running; investigations are picked up from the queue (Ctrl-C to stop)")
    if say_ready is not None:
        say_ready()
    stop.wait()
    surface.close()


prevention = typer.Typer(help="Prevention recommendations mined from past incidents.", no_args_is_help=True)
app.add_typer(prevention, name="prevention")


def _store() -> Any:
    """The configured database, migrated, as a Store."""
    from bot.storage.db import make_engine
    from bot.storage.db import migrate as run_migrations
    from bot.storage.store import Store

    settings = load_settings()
    run_migrations(settings.database_url)
    return Store(make_engine(settings.database_url))


@prevention.command("run")
@_friendly
def prevention_run() -> None:
    """Run the nightly job now: mine stored incidents into recommendations, expire what nobody kept."""
    from bot.prevention.nightly import run_nightly
    from bot.storage.recommendations import Recommendations

    store = _store()
    typer.echo(run_nightly(store).summary())
    for rec in Recommendations(store).open():
        typer.echo(f"#{rec.id} [{rec.status}] {rec.priority:<6} {rec.kind:<14} {rec.title}")


@prevention.command("decide")
@_friendly
def prevention_decide(
    rec_id: Annotated[int, typer.Argument(help="the recommendation's number")],
    verb: Annotated[str, typer.Argument(help="keep, discard or implemented")],
    reason: Annotated[str, typer.Option(help="why (required to discard)")] = "",
    user: Annotated[str, typer.Option(help="who decides (audited)")] = "cli",
) -> None:
    """Keep, discard (with --reason) or mark implemented a recommendation."""
    from bot.prevention.lifecycle import decide

    try:
        row = decide(_store(), rec_id, verb, user, reason)
    except (ValueError, LookupError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"#{row.id} is now {row.status}: {row.title}")


@prevention.command("issue")
@_friendly
def prevention_issue(
    rec_id: Annotated[int, typer.Argument(help="the kept recommendation's number")],
    repo: Annotated[str, typer.Option(help="owner/name of the repository to open it in")],
    user: Annotated[str, typer.Option(help="who asks (audited)")] = "cli",
) -> None:
    """Open a kept recommendation as a GitHub issue (its specification as the body; once)."""
    from bot.prevention.issues import open_issue
    from bot.sources.github import GithubWriteFailed, GithubWriter

    settings = load_settings()
    settings.require("github_write_token")
    assert settings.github_write_token is not None
    writer = GithubWriter(settings.github_write_token, settings.github_api_url)
    try:
        url, opened = open_issue(_store(), rec_id, repo, writer, user)
    except (ValueError, LookupError, GithubWriteFailed) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{'opened' if opened else 'already opened'}: {url}")


@app.command()
@_friendly
def digest(
    post: Annotated[
        bool, typer.Option("--post", help="post it in DIGEST_CHANNEL instead of printing it")
    ] = False,
) -> None:
    """The weekly prevention digest of the last seven days (printed, or posted with --post)."""
    from bot.prevention.digest import weekly_digest
    from bot.slack.learning_blocks import blocks_as_text, digest_blocks

    settings = load_settings()
    if post:
        settings.require("slack_bot_token", "digest_channel")
    d = weekly_digest(_store())
    if not post:
        typer.echo(blocks_as_text(digest_blocks(d)))
        return
    from bot.slack.app import make_client
    from bot.slack.prevention_actions import digest_poster

    assert settings.digest_channel is not None
    ts = digest_poster(make_client(settings), settings.digest_channel)(d)
    typer.echo(f"posted the digest in {settings.digest_channel} (ts {ts})")


@app.command()
@_friendly
def history(
    service: Annotated[
        str | None, typer.Argument(help="only incidents paged on or caused by this service")
    ] = None,
) -> None:
    """Past incidents as remembered: root cause, confirmed or not, and how fast it was found."""
    from bot.storage.memory import memories

    rows = memories(_store(), service=service)
    if not rows:
        typer.echo("no incidents remembered" + (f" for {service}" if service else ""))
    for m in rows:
        said = {True: "confirmed", False: "corrected" if m.confirmed_cause else "wrong", None: "unconfirmed"}
        cause = m.confirmed_cause or m.root_cause or "no root cause named"
        speed = f"first finding {m.first_finding_s or 0:.1f} s, root cause {m.root_cause_s or 0:.1f} s"
        typer.echo(
            f"{m.opened_at:%Y-%m-%d %H:%M} #{m.incident_id} {m.title}\n    {cause} [{said[m.confirmed]}] ({speed})"
        )


@app.command()
@_friendly
def audit(incident: Annotated[int, typer.Argument(help="the incident id (the thread links it)")]) -> None:
    """Print an incident's audit trail: requests, approvals, rejections, expiries, API calls and results."""
    from bot.mitigation.audit import incident_audit

    lines = incident_audit(_store(), incident)
    typer.echo("\n".join(lines) if lines else f"nothing audited for incident {incident} yet")


def main() -> None:
    """Entry point for `python -m bot`."""
    app(prog_name="sre-bot")


if __name__ == "__main__":  # pragma: no cover
    main()

"""Steering facts the deterministic engine uses, on hand-built facts and steering files: an expected-load
window makes a CPU alarm with nothing a user feels a false alarm (with its headroom), a deploy principal's
change is a pipeline's deploy, and owners are shown in the report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.analysis.diagnose import diagnose
from bot.analysis.facts import Facts, LogFact, SignalState
from bot.analysis.windows import LoadWindow
from bot.config import REPO_ROOT
from bot.domain import (
    Actor,
    ActorKind,
    Category,
    Change,
    ChangeSource,
    ChangeVia,
    EvidenceKind,
    Hypothesis,
    Mitigation,
    Page,
    PageSource,
    Report,
    Service,
    ServiceKind,
    Topology,
    utc,
)
from bot.investigation.render import report_text
from bot.investigation.steering_facts import owners_of, with_steering_facts
from bot.sources.knowledge import Knowledge

#: Monday 30 November 2026, 02:00 UTC: inside the shipped nightly batch window (01:00-03:30).
NIGHT = int(datetime(2026, 11, 30, 2, 0, tzinfo=UTC).timestamp())
#: The same day at 14:00 UTC: outside it.
NOON = NIGHT + 12 * 3600
SHIPPED = Knowledge(REPO_ROOT / "skills", REPO_ROOT / "steering")
TOPOLOGY = Topology(
    services=(
        Service(name="reports", kind=ServiceKind.ECS, calls=("reports-db",)),
        Service(name="reports-db", kind=ServiceKind.RDS, calls=()),
    )
)


def sig(service: str, signal: str, at: int, base: float, peak: float) -> SignalState:
    return SignalState(service, signal, None, 40.0, at - 600, at - 600, base, peak, peak, True, False)


def cpu_page(at: int, *extra: SignalState, logs: tuple[LogFact, ...] = ()) -> tuple[Page, Facts]:
    page = Page(
        source=PageSource.CLOUDWATCH,
        title="reports-cpu-high",
        fired_at=utc(at),
        alarm_name="reports-cpu-high",
    )
    facts = Facts(
        alarm_service="reports",
        page_time=at,
        alarm_signal="cpu_pct",
        topology=TOPOLOGY,
        signals=[sig("reports", "cpu_pct", at, 35.0, 91.0), *extra],
        logs=list(logs),
    )
    return page, facts


def test_a_cpu_alarm_inside_the_batch_window_is_expected_load_with_its_headroom() -> None:
    page, facts = cpu_page(NIGHT)
    steered, findings = with_steering_facts(SHIPPED, page, facts, [])
    assert [w.source for w in steered.expected_load] == ["Nightly batch window - CPU alarms are expected"]
    (note,) = findings
    assert note.kind is EvidenceKind.NOTE and "01:00-03:30 UTC every day for cpu" in note.summary
    diag = diagnose(steered, ["reports"])
    assert diag.category is Category.FALSE_ALARM and diag.mitigation is Mitigation.NONE
    assert "expected load: reports cpu_pct is high inside the expected-load window" in diag.summary
    assert "reports cpu_pct peaks at 91%, 9 points of headroom" in diag.summary


def test_without_the_window_the_same_alarm_is_not_called_expected() -> None:
    page, facts = cpu_page(NIGHT)
    assert "expected load" not in diagnose(facts, ["reports"]).summary
    page, noon = cpu_page(NOON)
    steered, findings = with_steering_facts(SHIPPED, page, noon, [])
    assert findings == [] and "expected load" not in diagnose(steered, ["reports"]).summary


@pytest.mark.parametrize(
    ("extra", "logs"),
    [
        ((sig("reports", "error_rate", NIGHT, 0.001, 0.2),), ()),
        ((sig("reports", "latency_p99_ms", NIGHT, 120, 900),), ()),
        ((sig("reports-db", "cpu_pct", NIGHT, 30, 99),), ()),  # a resource ran out: not merely busy
        ((), (LogFact("reports", "OOM <*>", "ERROR", 40, 0, NIGHT - 300, "OOM in worker 3"),)),
    ],
)
def test_user_facing_trouble_inside_the_window_is_still_investigated(
    extra: tuple[SignalState, ...], logs: tuple[LogFact, ...]
) -> None:
    page, facts = cpu_page(NIGHT, *extra, logs=logs)
    steered, _ = with_steering_facts(SHIPPED, page, facts, [])
    assert "expected load" not in diagnose(steered, ["reports"]).summary


def test_windows_past_midnight_and_on_some_days() -> None:
    sat_night = LoadWindow("weekend backups", frozenset({5}), 23 * 60, 2 * 60, ("cpu", "traffic"))
    saturday_2330 = int(datetime(2026, 12, 5, 23, 30, tzinfo=UTC).timestamp())
    assert sat_night.covers(saturday_2330) and sat_night.covers(saturday_2330 + 3600)  # Sunday 00:30
    assert not sat_night.covers(saturday_2330 - 7 * 86400 + 86400 * 6)  # Friday 23:30
    assert sat_night.watches("requests_per_min") and not sat_night.watches("error_rate")
    assert sat_night.describe() == "23:00-02:00 UTC on sat for cpu, traffic"


def write(folder: Path, name: str, front: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.md").write_text(f"---\n{front}\n---\nbody\n", encoding="utf-8")


def console_release(actor: str, arn: str) -> Change:
    return Change(
        id="cloudtrail:1",
        at=utc(NOON - 600),
        via=ChangeVia.CONSOLE,
        summary=f"UpdateService on reports by {actor}",
        source=ChangeSource.CLOUDTRAIL,
        action="UpdateService",
        actor=Actor(name=actor, kind=ActorKind.PERSON, arn=arn),
        service="reports",
        request={"service": "reports", "taskDefinition": "reports:42"},
    )


def test_a_change_by_a_deploy_principal_is_a_pipeline_deploy(tmp_path: Path) -> None:
    write(tmp_path, "deploys", 'title: deploys\ndeploy_principals: ["release-robot"]')
    knowledge = Knowledge(None, tmp_path)
    arn = "arn:aws:sts::123456789012:assumed-role/release-robot/rollout-77"
    page = Page(source=PageSource.CLOUDWATCH, title="reports-5xx", fired_at=utc(NOON))
    facts = Facts(
        alarm_service="reports",
        page_time=NOON,
        alarm_signal="error_rate",
        topology=TOPOLOGY,
        signals=[sig("reports", "error_rate", NOON, 0.001, 0.3)],
        changes=[console_release("rollout-77", arn)],
    )
    by_hand = diagnose(facts, ["reports"])
    assert by_hand.guilty is not None and by_hand.category is Category.MANUAL_CHANGE
    steered, _ = with_steering_facts(knowledge, page, facts, [])
    (change,) = steered.changes
    assert change.via is ChangeVia.DEPLOY and change.actor is not None
    assert change.actor.kind is ActorKind.PIPELINE and change.actor.name == "rollout-77"
    deployed = diagnose(steered, ["reports"])
    assert deployed.category is Category.BAD_DEPLOYMENT and deployed.mitigation is Mitigation.ROLLBACK
    someone = console_release("alice", "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin/alice")
    (kept,) = with_steering_facts(knowledge, page, Facts("reports", NOON, changes=[someone]), [])[0].changes
    assert kept == someone  # anyone else's change stays theirs


def test_owners_are_the_most_specific_and_shown_in_the_report() -> None:
    assert owners_of(SHIPPED, "reports", "reports") == ("@data-platform",)
    assert owners_of(SHIPPED, None, "etl-cpu-high") == ("@data-platform",)
    assert owners_of(SHIPPED, "checkout") == ("@platform-oncall",)  # only the file about everything
    assert owners_of(Knowledge(None, None), "checkout") == ()
    rc = Hypothesis(service="reports", category=Category.FALSE_ALARM, confidence=0.7, summary="busy")
    text = report_text(
        Report(page_title="reports-cpu-high", impact="none", root_cause=rc, owners=("@data-platform",))
    )
    assert "  Owners: @data-platform" in text

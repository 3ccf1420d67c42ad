"""Learning from incidents: memory, confirmed causes, the nightly mining, the lifecycle and the weekly digest.

Three project scenarios are investigated once per module by the real engine in their simulated estates; each
test records them as incidents (as the bot stores them) at times a movable clock chooses, on SQLite and on
PostgreSQL, then moves the clock night after night.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from bot.cli import app
from bot.domain import Category
from bot.domain.changes import ChangeVia
from bot.domain.prevention import Priority, RecommendationKind, RecommendationStatus
from bot.investigation.hints import hints_for, seen_before_text, verdict_text
from bot.prevention.digest import weekly_digest
from bot.prevention.lifecycle import decide
from bot.prevention.nightly import run_nightly
from bot.sandbox.history import Clock, Investigated, investigate, record
from bot.slack.learning_blocks import (
    REC_DISCARD_ACTION,
    REC_IMPLEMENTED_ACTION,
    REC_KEEP_ACTION,
    cause_question,
    digest_blocks,
)
from bot.storage.db import make_engine, migrate
from bot.storage.memory import memories
from bot.storage.recommendations import EXPIRY, Recommendations
from bot.storage.store import Intent, Store
from bot.storage.tables import Verdict

T0 = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
FLAGSHIP, KMS, BLIP = "flagship-cache-deploy", "statements-kms-permission", "webhooks-cold-start-blip"


@pytest.fixture(scope="module")
def seen(moto_server: Any, estates: Any) -> dict[str, Investigated]:
    """The three scenarios, each investigated once by the real engine."""
    estates.release()  # the shared moto server is re-materialised for each scenario
    return {ref: investigate(ref, moto=moto_server) for ref in (FLAGSHIP, KMS, BLIP)}


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def mem_store(engine: Engine, clock: Clock) -> Iterator[Store]:
    yield Store(engine, clock=clock)


def _week(store: Store, clock: Clock, seen: dict[str, Investigated]) -> dict[str, list[int]]:
    """Flagship twice, KMS once, the false alarm twice, over four days; the first flagship confirmed right,
    the first false alarm confirmed by a correction (it really was nothing)."""
    plan = [
        (FLAGSHIP, 0, Verdict.UP, ""),
        (KMS, 1, None, ""),
        (BLIP, 1.5, Verdict.DOWN, "nothing was wrong: one cold start"),
        (FLAGSHIP, 2, None, ""),
        (BLIP, 3, None, ""),
    ]
    made: dict[str, list[int]] = {}
    for ref, day, verdict, note in plan:
        inc = record(store, clock, seen[ref], T0 + day * DAY, verdict=verdict, note=note)
        assert inc.id is not None
        made.setdefault(ref, []).append(inc.id)
    clock.set(T0 + 4 * DAY)
    return made


# --- memory and confirmed causes ------------------------------------------------------------------------------


def test_each_investigation_is_remembered_with_what_it_found(
    mem_store: Store, clock: Clock, seen: dict[str, Investigated]
) -> None:
    made = _week(mem_store, clock, seen)
    by_id = {m.incident_id: m for m in memories(mem_store)}
    first = by_id[made[FLAGSHIP][0]]
    outcome = seen[FLAGSHIP].outcome
    assert first.service == "mobile-bff" and first.root_cause_service == "pricing"
    assert first.category is Category.BAD_DEPLOYMENT and first.services[0] == "pricing"
    assert first.guilty_change is not None and first.guilty_change.via is ChangeVia.GITHUB_ACTIONS
    assert first.first_finding_s == pytest.approx(outcome.first_finding_s, abs=0.01)
    assert first.root_cause_s == pytest.approx(outcome.report_s, abs=0.01)
    assert first.resolved_at == T0 + timedelta(minutes=45) and first.evidence
    assert first.confirmed is True and first.confirmed_cause == outcome.report.root_cause.summary  # type: ignore[union-attr]
    blip = by_id[made[BLIP][0]]
    assert blip.confirmed is False and blip.confirmed_cause == "nothing was wrong: one cold start"
    assert by_id[made[KMS][0]].confirmed is None  # nobody answered
    only = memories(mem_store, service="statement-builder")
    assert [m.incident_id for m in only] == made[KMS]


def test_a_new_page_of_the_same_alarm_is_told_what_caused_it_before(
    mem_store: Store, clock: Clock, seen: dict[str, Investigated]
) -> None:
    past = record(mem_store, clock, seen[FLAGSHIP], T0, channel="C0INC", verdict=Verdict.UP)
    clock.set(T0 + 3 * DAY)
    page = seen[FLAGSHIP].page.model_copy(update={"fired_at": clock.now})
    taken = mem_store.take_page(page, Intent.FIRE, "test", "again")
    assert taken.incident is not None and taken.incident.recurrence_of == past.id
    hints = hints_for(mem_store, taken.incident.id or 0, "mobile-bff")
    assert [h.incident_id for h in hints] == [past.id]
    text = seen_before_text(hints) or ""
    assert text.startswith("Seen before: 2026-10-05: ") and "confirmed by a responder" in text
    assert f"channel=C0INC&message_ts={past.thread_ts}" in text and "A hint only" in text
    verdict = verdict_text(hints, seen[FLAGSHIP].outcome.report) or ""
    assert verdict.startswith("The evidence confirms the same cause") and "pricing" in verdict
    other = verdict_text(hints, seen[KMS].outcome.report) or ""
    assert other.startswith("This time the evidence points at statement-builder")
    assert hints_for(mem_store, past.id or 0, None) == []  # nothing before the first


def test_resolve_asks_once_whether_the_root_cause_was_right() -> None:
    text, blocks = cause_question(42, "pricing (bad-deployment, 93%)")
    assert "Was the root cause right?" in text
    actions = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert [a["action_id"] for a in actions] == ["feedback_up", "feedback_down"]
    assert all('"investigation":"42"' in a["value"] for a in actions)


# --- the nightly job --------------------------------------------------------------------------------------------


def _keys(store: Store) -> dict[str, Any]:
    return {r.key: r for r in Recommendations(store).all()}


def test_nightly_finds_each_pattern_once_with_its_evidence(
    mem_store: Store, clock: Clock, seen: dict[str, Investigated]
) -> None:
    made = _week(mem_store, clock, seen)
    first = run_nightly(mem_store)
    recs = _keys(mem_store)
    flag, kms = made[FLAGSHIP], made[KMS]
    assert set(recs) == {
        "recurring:pricing:bad-deployment",
        "pipeline-guard:pricing",
        "dependency-alarm:pricing",
        "manual:permissions:statement-builder",
        "noisy-alarm:webhook-edge-5xx-rate-above-5pct",
    }
    assert first.counts == {"created": 5}
    guard = recs["pipeline-guard:pricing"]
    assert guard.kind == RecommendationKind.PIPELINE and guard.priority == Priority.HIGH
    assert guard.incident_ids == flag and "canary" in guard.change and "grocerly/pricing" in guard.where
    assert "## Done when" in guard.spec and f"incident {flag[0]}" in guard.spec
    manual = recs["manual:permissions:statement-builder"]
    assert manual.kind == RecommendationKind.GOVERNANCE and manual.incident_ids == kms
    assert "statement-builder-exec" in manual.where
    # the false alarm a responder confirmed (by a correction) and the one nobody rated; the rated one's
    # bot cause was called wrong, so it is left out
    noisy = recs["noisy-alarm:webhook-edge-5xx-rate-above-5pct"]
    assert noisy.incident_ids == made[BLIP][1:] and noisy.kind == RecommendationKind.OBSERVABILITY
    assert recs["recurring:pricing:bad-deployment"].priority == Priority.MEDIUM

    for night in range(1, 8):  # a week of nights with nothing new
        clock.set(T0 + (4 + night) * DAY)
        again = run_nightly(mem_store)
        assert again.counts == {"unchanged": 5} and again.expired == []
    assert {k: r.id for k, r in _keys(mem_store).items()} == {k: r.id for k, r in recs.items()}

    record(mem_store, clock, seen[FLAGSHIP], clock.now)  # a third bad deploy of pricing
    gained = run_nightly(mem_store)
    assert gained.keys["recurring:pricing:bad-deployment"] == "gained"
    after = _keys(mem_store)["recurring:pricing:bad-deployment"]
    assert after.id == recs["recurring:pricing:bad-deployment"].id and len(after.incident_ids) == 3
    assert after.priority == Priority.HIGH and len(_keys(mem_store)) == 5


# --- lifecycle --------------------------------------------------------------------------------------------------


def test_keep_discard_implemented_expiry_and_return(
    mem_store: Store, clock: Clock, seen: dict[str, Investigated]
) -> None:
    _week(mem_store, clock, seen)
    run_nightly(mem_store)
    recs = _keys(mem_store)
    kept = decide(mem_store, recs["pipeline-guard:pricing"].id or 0, "keep", "U1")
    assert kept.status == RecommendationStatus.KEPT and kept.decided_by == "U1"
    with pytest.raises(ValueError, match="needs a reason"):
        decide(mem_store, recs["recurring:pricing:bad-deployment"].id or 0, "discard", "U1", "  ")
    with pytest.raises(ValueError, match="unknown decision"):
        decide(mem_store, 1, "archive", "U1")
    with pytest.raises(LookupError):
        decide(mem_store, 999_999, "keep", "U1")
    gone = decide(mem_store, recs["recurring:pricing:bad-deployment"].id or 0, "discard", "U2", "a one-off")
    assert gone.status == RecommendationStatus.DISCARDED and gone.reason == "a one-off"
    done = decide(mem_store, recs["dependency-alarm:pricing"].id or 0, "implemented", "U3")
    assert done.status == RecommendationStatus.IMPLEMENTED
    audit = [e.verb for e in mem_store.audit_log(limit=50)]
    assert {"recommendation:keep", "recommendation:discard", "recommendation:implemented"} <= set(audit)

    clock.set(clock.now + DAY)
    run_nightly(mem_store)  # nothing new: the discarded one stays discarded
    assert _keys(mem_store)["recurring:pricing:bad-deployment"].status == RecommendationStatus.DISCARDED

    clock.set(clock.now + EXPIRY + DAY)  # six weeks on: what nobody kept expires
    expired = run_nightly(mem_store)
    statuses = {k: r.status for k, r in _keys(mem_store).items()}
    assert statuses["manual:permissions:statement-builder"] == RecommendationStatus.EXPIRED
    assert statuses["noisy-alarm:webhook-edge-5xx-rate-above-5pct"] == RecommendationStatus.EXPIRED
    assert statuses["pipeline-guard:pricing"] == RecommendationStatus.KEPT
    assert statuses["dependency-alarm:pricing"] == RecommendationStatus.IMPLEMENTED
    assert len(expired.expired) == 2

    record(mem_store, clock, seen[FLAGSHIP], clock.now)  # new evidence
    back = run_nightly(mem_store)
    statuses = {k: r.status for k, r in _keys(mem_store).items()}
    assert back.keys["recurring:pricing:bad-deployment"] == "revived"
    assert statuses["recurring:pricing:bad-deployment"] == RecommendationStatus.NEW
    assert statuses["dependency-alarm:pricing"] == RecommendationStatus.IMPLEMENTED  # stays done
    assert statuses["manual:permissions:statement-builder"] == RecommendationStatus.EXPIRED  # no new evidence


# --- the weekly digest ------------------------------------------------------------------------------------------


def _texts(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(str((b.get("text") or {}).get("text", "")) for b in blocks)


def test_weekly_digest_content_and_buttons(
    mem_store: Store, clock: Clock, seen: dict[str, Investigated]
) -> None:
    made = _week(mem_store, clock, seen)
    run_nightly(mem_store)
    d = weekly_digest(mem_store)
    assert len(d.incidents) == 5 and (d.confirmed_right, d.confirmed_total) == (1, 2)
    assert d.median_first_finding_s is not None and d.median_root_cause_s is not None
    assert ("pricing · bad-deployment", 2) in d.recurring
    assert len(d.new) == 5 and len(d.open) == 5
    assert [p.incidents for p in d.trend][-1] == 5 and sum(p.incidents for p in d.trend) == 5
    blocks = digest_blocks(d)
    assert len(blocks) <= 50
    assert all(len(str((b.get("text") or {}).get("text", ""))) <= 3000 for b in blocks)
    text = _texts(blocks)
    assert "*5 incidents*" in text and "1/2 confirmed causes right (50%)" in text
    assert "Recurring causes" in text and "incidents      " in text  # the trend chart
    assert "Deploys of pricing reach all of production unguarded" in text
    actions = [b for b in blocks if b["type"] == "actions"]
    assert len(actions) == 5
    assert {e["action_id"] for a in actions for e in a["elements"]} == {
        REC_KEEP_ACTION,
        REC_DISCARD_ACTION,
        REC_IMPLEMENTED_ACTION,
    }
    assert len(made[FLAGSHIP]) == 2

    clock.set(clock.now + 10 * 7 * DAY)  # ten weeks later: nothing happened, everything expired
    run_nightly(mem_store)
    quiet = weekly_digest(mem_store)
    assert quiet.empty and len(digest_blocks(quiet)) == 1
    assert "a quiet week" in _texts(digest_blocks(quiet)) and "\n" not in _texts(digest_blocks(quiet))


# --- by hand ----------------------------------------------------------------------------------------------------


def test_the_commands_run_mine_print_and_decide(
    tmp_path: Path, seen: dict[str, Investigated], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite'}"
    migrate(url)
    clock = Clock(datetime.now(UTC) - 3 * DAY)
    store = Store(make_engine(url), clock=clock)
    record(store, clock, seen[FLAGSHIP], clock.now, verdict=Verdict.UP)
    record(store, clock, seen[KMS], clock.now + DAY)
    store.engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()

    ran = runner.invoke(app, ["prevention", "run"])
    assert ran.exit_code == 0, ran.output
    assert ran.output.startswith("2 incidents mined: 3 created; 0 expired")
    assert "Deploys of pricing reach all of production unguarded" in ran.output
    again = runner.invoke(app, ["prevention", "run"])
    assert again.output.startswith("2 incidents mined: 3 unchanged; 0 expired")

    hist = runner.invoke(app, ["history", "statement-builder"])
    assert (
        hist.exit_code == 0 and "statement-builder-errors" in hist.output and "[unconfirmed]" in hist.output
    )
    assert "mobile-bff" not in hist.output
    assert "[confirmed]" in runner.invoke(app, ["history"]).output

    shown = runner.invoke(app, ["digest"])
    assert (
        shown.exit_code == 0
        and "*2 incidents*" in shown.output
        and "[Keep] [Discard] [Implemented]" in shown.output
    )

    rec_id = Recommendations(Store(make_engine(url))).open()[0].id
    refused = runner.invoke(app, ["prevention", "decide", str(rec_id), "discard"])
    assert refused.exit_code == 2 and "needs a reason" in refused.output
    done = runner.invoke(
        app, ["prevention", "decide", str(rec_id), "discard", "--reason", "we have canaries now"]
    )
    assert done.exit_code == 0 and "is now discarded" in done.output
    missing = runner.invoke(app, ["digest", "--post"])
    assert missing.exit_code == 2 and "SLACK_BOT_TOKEN" in missing.output

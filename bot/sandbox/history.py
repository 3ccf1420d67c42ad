"""A history of incidents for the prevention work: scenarios investigated by the real engine, then recorded
as the bot records them (the page taken, its findings and report stored, the incident resolved, the
responders' feedback), at times a movable clock chooses. Used by `sre-bot demo --week` and the tests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.domain import Evidence, Page
from bot.investigation.engine import Investigator, Outcome
from bot.sandbox.aws.materialise import MotoServer
from bot.sandbox.runner import sandbox
from bot.sandbox.scenario import load_scenario, resolve_scenario
from bot.storage.memory import note_service
from bot.storage.store import Intent, Store
from bot.storage.tables import Incident, InvestigationStatus, Verdict

#: The scenarios a demo week is made of, with how often each happened.
WEEK_SCENARIOS: tuple[tuple[str, int], ...] = (
    ("flagship-cache-deploy", 2),
    ("statements-kms-permission", 1),
    ("webhooks-cold-start-blip", 2),
)


class Clock:
    """A clock tests and the demo move by hand (pass it to `Store(clock=...)`)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, at: datetime) -> None:
        """Move the clock to `at`."""
        self.now = at


@dataclass
class Collected:
    """A listener that keeps every finding in the order it was found."""

    found: list[Evidence] = field(default_factory=list)

    def finding(self, evidence: Evidence) -> None:
        self.found.append(evidence)


@dataclass(frozen=True)
class Investigated:
    """One scenario's page, the engine's outcome and the findings in the order they were found."""

    scenario: str
    page: Page
    outcome: Outcome
    findings: tuple[Evidence, ...]


def investigate(ref: str, moto: MotoServer | None = None) -> Investigated:
    """Investigate one scenario with the real engine in its own estate."""
    sc = load_scenario(resolve_scenario(ref))
    with sandbox(sc, moto=moto) as box:
        found = Collected()
        outcome = Investigator(box.deps()).investigate(box.page, found)
        return Investigated(sc.id, box.page, outcome, tuple(found.found))


def record(
    store: Store,
    clock: Clock,
    inv: Investigated,
    at: datetime,
    *,
    channel: str = "C0INCIDENTS",
    verdict: Verdict | None = None,
    note: str = "",
    lasted: timedelta = timedelta(minutes=45),
) -> Incident:
    """Record `inv` as an incident paged at `at`: taken, investigated (findings and report at the offsets the
    engine took), resolved `lasted` later, and rated when `verdict` is given."""
    clock.set(at)
    ts = f"{at.timestamp():.6f}"
    page = inv.page.model_copy(update={"fired_at": at, "channel": channel, "message_ts": ts})
    taken = store.take_page(page, Intent.FIRE, "history", uuid.uuid4().hex)
    assert taken.incident is not None and taken.investigation is not None, taken.outcome
    inc_id, inv_id = taken.incident.id, taken.investigation.id
    assert inc_id is not None and inv_id is not None
    note_service(store, inc_id, inv.outcome.facts.alarm_service)
    clock.set(at + timedelta(seconds=inv.outcome.first_finding_s or 0.0))
    for ev in inv.findings:
        store.add_finding(inv_id, kind=ev.kind.value, summary=ev.summary, service=ev.service)
    clock.set(at + timedelta(seconds=inv.outcome.report_s))
    store.save_report(inv_id, 1, inv.outcome.report.model_dump(mode="json"))
    store.finish_investigation(inv_id, InvestigationStatus.DONE)
    clock.set(at + lasted)
    store.take_page(page.model_copy(update={"state": "OK"}), Intent.RESOLVE, "history", uuid.uuid4().hex)
    if verdict is not None:
        store.add_feedback(inv_id, "U0RESPONDER", verdict, note)
    found = store.get_incident(inc_id)
    assert found is not None
    return found


def seed_week(
    store: Store, clock: Clock, end: datetime, scenarios: Sequence[tuple[str, int]] = WEEK_SCENARIOS
) -> list[Incident]:
    """A week of incidents ending at `end`: each scenario investigated once and recorded as often as it
    happened, spread over the week; the first of each confirmed right by a responder."""
    made: list[Incident] = []
    slots = sum(n for _, n in scenarios)
    step = timedelta(days=6) / max(slots, 1)
    at = end - timedelta(days=6, hours=12)
    for ref, times in scenarios:
        inv = investigate(ref)
        for i in range(times):
            made.append(record(store, clock, inv, at, verdict=Verdict.UP if i == 0 else None))
            at += step
    clock.set(end)
    return made

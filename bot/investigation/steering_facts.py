"""The organisation's facts from its steering files' front matter, handed to the deterministic engine:
expected-load windows (as facts and as a finding), deploy principals (their changes are a pipeline's
deploys), and the owners shown in the report. The analysis stays pure: it is given these, it reads no file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.analysis.changes import by_deploy_principal
from bot.analysis.facts import Facts
from bot.analysis.windows import DAYS, LoadWindow
from bot.domain import Evidence, EvidenceKind, Page, utc
from bot.sources.knowledge import Knowledge, SteeringFile


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def load_windows(files: Sequence[SteeringFile]) -> tuple[LoadWindow, ...]:
    """Every `expected_load` window of `files` (already checked by the loader)."""
    return tuple(
        LoadWindow(
            source=f.title,
            days=frozenset(DAYS.index(d) for d in w["days"]),
            start=_minutes(w["from"]),
            end=_minutes(w["to"]),
            signals=tuple(w["signals"]),
        )
        for f in files
        for w in f.facts.get("expected_load", [])
    )


def with_steering_facts(
    knowledge: Knowledge, page: Page, facts: Facts, findings: Sequence[Evidence]
) -> tuple[Facts, list[Evidence]]:
    """`facts` with the windows that apply to the paged service or alarm, and its changes read with the deploy
    principals of the steering files about their services; `findings` plus one per window the page fell in."""
    files = knowledge.steering()
    windows = load_windows([f for f in files if f.applies(facts.alarm_service, page.alarm_name)])
    changes = [
        by_deploy_principal(
            c, [p for f in files if f.applies(c.service) for p in f.facts.get("deploy_principals", [])]
        )
        for c in facts.changes
    ]
    seen = [
        Evidence(
            kind=EvidenceKind.NOTE,
            service=facts.alarm_service or None,
            summary=f"steering: high load is expected {w.describe()} ({w.source}); the page fell inside it",
            at=utc(facts.page_time),
            source="steering",
        )
        for w in windows
        if w.covers(facts.page_time)
    ]
    return replace(facts, expected_load=windows, changes=changes), [*findings, *seen]


def owners_of(knowledge: Knowledge, *subjects: str | None) -> tuple[str, ...]:
    """The owners of the first of `subjects` (services, an alarm name) a steering file names in `applies_to`;
    else those of the files about everything."""
    files = [f for f in knowledge.steering() if f.facts.get("owners")]
    for subject in subjects:
        named = [o for f in files if f.applies_to and f.applies(subject) for o in f.facts["owners"]]
        if subject and named:
            return tuple(dict.fromkeys(named))
    return tuple(dict.fromkeys(o for f in files if not f.applies_to for o in f.facts["owners"]))

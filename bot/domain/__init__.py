"""The domain: the one vocabulary every layer speaks. No I/O.

Event times are timezone-aware UTC datetimes; metric series are indexed by unix seconds (`epoch`). Every
model serialises to JSON (`model_dump(mode="json")`) so it can be stored, sent between processes and rendered.
"""

from bot.domain.base import Model, epoch, utc
from bot.domain.changes import Actor, ActorKind, Change, ChangeSource, ChangeVia
from bot.domain.estate import Resource, Service, ServiceKind, Topology, reachable
from bot.domain.evidence import Evidence, EvidenceKind, Gap, SignalKey
from bot.domain.pages import Page, PageSource
from bot.domain.plan import Action, Mitigation, Phase, Plan, PlanStep
from bot.domain.report import (
    Category,
    ChartSeries,
    Hypothesis,
    InvestigationStatus,
    Report,
    RuledOut,
    Runbook,
    TimelineEntry,
)

__all__ = [
    "Action",
    "Actor",
    "ActorKind",
    "Category",
    "Change",
    "ChangeSource",
    "ChangeVia",
    "ChartSeries",
    "Evidence",
    "EvidenceKind",
    "Gap",
    "Hypothesis",
    "InvestigationStatus",
    "Mitigation",
    "Model",
    "Page",
    "PageSource",
    "Phase",
    "Plan",
    "PlanStep",
    "Report",
    "Resource",
    "RuledOut",
    "Runbook",
    "Service",
    "ServiceKind",
    "SignalKey",
    "TimelineEntry",
    "Topology",
    "epoch",
    "reachable",
    "utc",
]

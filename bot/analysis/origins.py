"""Where the failure starts: candidate origins ordered by the metric ranking, then corrected by what the
errors say and by who failed first."""

from __future__ import annotations

from collections.abc import Sequence

from bot.analysis.errors import ErrorFamily, families
from bot.analysis.facts import Facts
from bot.analysis.logs import mentions
from bot.analysis.symptoms import (
    CLEARLY_LATER,
    bad_status,
    log_text,
    only_backlog,
    only_given_work,
    reaches_nothing,
    went_on_without,
)
from bot.domain import (
    ServiceKind,
)


def _metric_origin(ranking: Sequence[str], affected: dict[str, int], facts: Facts) -> list[str]:
    """Candidate origins: the metric ranking first, then any other failing service by earliest onset."""
    order = [s for s in ranking if s not in facts.ignored_services]
    rest = sorted((s for s in affected if s not in order), key=lambda s: (affected[s], s))
    order += rest
    if facts.focus_services:
        order = sorted(order, key=lambda s: (s not in facts.focus_services, order.index(s)))
    return order


def origins(facts: Facts, metric_ranking: Sequence[str], affected: dict[str, int]) -> list[str]:
    """Candidate origins, best first: a third party whose status page reports trouble while its callers
    fail leads; then the metric ranking."""
    order = _metric_origin(metric_ranking, affected, facts)
    order = _named_dependencies_first(facts, _earlier_callers_first(facts, order, affected), affected)
    order = _backlogs_after_their_clients(facts, order, affected)
    order = _given_work_after_their_callers(facts, order, affected)
    order = _cut_off_first(facts, order, affected)
    order = _recovered_after_what_went_on(facts, order, affected)
    for svc in sorted(bad_status(facts)):
        callers = [c for c in facts.callers(svc) if c in affected]
        if svc in facts.ignored_services or not callers:
            continue
        seen_failing = svc in affected
        named = mentions(log_text(facts, callers), svc)
        if seen_failing or named:
            return [svc, *[o for o in order if o != svc]]
    return order


def _earlier_callers_first(facts: Facts, order: list[str], affected: dict[str, int]) -> list[str]:
    """A candidate that a failing caller reaches only after that caller was already failing is not where
    the failure starts: put the earliest such caller first."""
    if not order or order[0] not in affected:
        return order
    lead = order[0]
    earlier = [
        a
        for a in affected
        if a != lead and lead in facts.downstream(a)[1:] and affected[a] + CLEARLY_LATER < affected[lead]
    ]
    if not earlier:
        return order
    first = min(earlier, key=lambda a: (affected[a], a))
    return [first, *[o for o in order if o != first]]


def _named_dependencies_first(facts: Facts, order: list[str], affected: dict[str, int]) -> list[str]:
    """What an error says: a failing service whose new errors name a dependency it calls that is failing
    too (or is a third party, or whose certificate they reject) is that dependency's victim, so the
    dependency goes before it."""
    out = list(order)
    for caller in list(out):
        text = log_text(facts, [caller])
        rejects_certificate = ErrorFamily.TLS in families(text)
        for dep in facts.callees(caller):
            if dep not in out or out.index(dep) < out.index(caller):
                continue
            failing = dep in affected and affected[dep] <= affected.get(caller, affected[dep]) + CLEARLY_LATER
            if (failing or rejects_certificate or facts.kind(dep) is ServiceKind.EXTERNAL) and mentions(
                text, dep
            ):
                out.remove(dep)
                out.insert(out.index(caller), dep)
    return out


def _cut_off_first(facts: Facts, order: list[str], affected: dict[str, int]) -> list[str]:
    """A failing service that can reach none of what it calls, while those fail nothing of their own, is
    where the failure starts: it goes before what it calls."""
    out = list(order)
    for svc in [o for o in order if o in affected and reaches_nothing(facts, o)]:
        deps = [d for d in facts.callees(svc) if d in out and out.index(d) < out.index(svc)]
        if deps:
            out.remove(svc)
            out.insert(min(out.index(d) for d in deps), svc)
    return out


def _backlogs_after_their_clients(facts: Facts, order: list[str], affected: dict[str, int]) -> list[str]:
    """Symptom or cause: a queue whose only trouble is a backlog is a symptom of the failing service that
    works on it, so that service goes before the queue."""
    out = list(order)
    for queue in [o for o in order if facts.kind(o) is ServiceKind.SQS]:
        clients = sorted((c for c in facts.callers(queue) if c in affected), key=lambda c: (affected[c], c))
        if not only_backlog(facts, queue) or not clients:
            continue
        first = clients[0]
        if out.index(first) > out.index(queue):
            out.remove(first)
            out.insert(out.index(queue), first)
    return out


def _given_work_after_their_callers(facts: Facts, order: list[str], affected: dict[str, int]) -> list[str]:
    """Symptom or cause: a dependency whose only trouble is more connections opened to it, from callers that
    began failing no later, was sent that work by them (a caller pointed at it, a bigger pool): the earliest
    such caller goes before it."""
    out = list(order)
    for dep in [o for o in order if o in affected and only_given_work(facts, o)]:
        callers = sorted(
            (c for c in facts.callers(dep) if c in affected and affected[c] <= affected[dep] + CLEARLY_LATER),
            key=lambda c: (affected[c], c),
        )
        if callers and out.index(callers[0]) > out.index(dep):
            out.remove(callers[0])
            out.insert(out.index(dep), callers[0])
    return out


def _recovered_after_what_went_on(facts: Facts, order: list[str], affected: dict[str, int]) -> list[str]:
    """A service whose trouble is over (a blip) while a failing service that does not call it goes on
    failing is not where the incident starts: it goes after every service still failing."""
    over = [o for o in order if o in affected and went_on_without(facts, o, affected) is not None]
    return [o for o in order if o not in over] + over

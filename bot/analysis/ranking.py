"""Rank the nodes of a service graph as root causes of an alarm, most likely first.

The rule, in order:
1. Gate: something must be wrong. The alarm node shows a user-facing symptom (the alarm's own metric, or
   another latency or error metric of that node, departs from its baseline for more than one datapoint), or
   some node is plainly in trouble: it departs in two different kinds of its own signals at once (busy and
   slow, slow and failing: one noisy graph among hundreds is not an incident), or a resource of its own is
   held at its ceiling (a CPU at 100 % of its limit). Otherwise the answer is empty: a false alarm. An
   investigation a person asked for (`confirmed`) skips the gate: it is never answered with nothing while
   anything is anomalous.
2. Scope: the alarm node and the nodes it calls, directly or not (all nodes when the graph has no edges).
   Series of pods or instances count for the node they belong to.
3. Evidence, read for what each metric means (`anomaly.classify_metric`): a node's own latency, errors and
   saturation count in full; its traffic (which moves with its callers) and what it sees of others
   (client-side calls, its host's load) count `indirect_weight` as much. How a departure ties a node to
   this incident depends on where the reference period lies:
   - right before the incident (`dated`): a departure from it dates from the incident, so a node's
     strength is its strongest weighted departure; broader departures break ties;
   - at another time (another day, another week): levels differ for reasons of their own, so a series
     counts only as far as its badness follows the alarm's inside the incident window (`relevance`).
4. Graph: callers are victims. A candidate whose latency or errors a candidate below it explains (the
   same trouble, at least `explain_share` as large) is a victim of it and ranks after the unexplained.
5. Within each group: a candidate named by a change that landed shortly before its onset comes first; then
   strength, breadth, earliest onset, and the node name, so the order never depends on hashing.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

from bot.analysis.anomaly import (
    SCORE_CAP,
    Direction,
    MetricKind,
    Scope,
    SeriesAnomaly,
    SeriesData,
    Window,
    detect_anomalies,
    pearson,
)
from bot.domain import Change, Topology, epoch

_SYMPTOMS = (MetricKind.LATENCY, MetricKind.ERRORS)


@dataclass(frozen=True)
class Alarm:
    node: str
    metric: str
    time: int


@dataclass(frozen=True)
class RankedCause:
    node: str
    score: float
    reasons: list[str]


@dataclass(frozen=True)
class RankingConfig:
    threshold: float = 5.0
    """Robust z (badness) at or above which a series counts as anomalous; the gate uses it too."""
    quantity_floor: float = 0.0
    """A quantity's baseline spread is at least this share of its level (see `anomaly.robust_baseline`).
    Cross-validation (scripts/bench_folds.py) found no floor better than none."""
    indirect_weight: float = 0.5
    """Weight of traffic and of what a node sees of others (client side, host) against its own signals."""
    explain_share: float = 0.5
    """A dependency explains a caller's symptom when it departs in kind by at least this share of it."""
    min_relevance: float = 0.5
    """Undated reference: lowest correlation with the alarm for an anomalous node to be a candidate."""
    explain_margin: float = 0.2
    """Undated reference: a callee explains its caller when its relevance is at least the caller's minus this."""
    change_lookback: int = 86400
    """A change counts for a node when it lands at most this long before the node's onset (and not after)."""


@dataclass(frozen=True)
class _Evidence:
    node: str
    strength: float
    """Relevance to the alarm (undated reference) or weighted badness (dated)."""
    series: SeriesAnomaly
    """The series that carries the strength."""
    breadth: float = 0.0
    """Dated: the weighted badness of the node's unexplained departures, the strongest of each kind."""
    victim_of: str | None = None
    """The candidate below this node that explains it."""


def rank_from_series(
    graph: Topology,
    series: Mapping[tuple[str, str], SeriesData],
    reference: Window,
    incident: Window,
    alarm: Alarm,
    changes: Sequence[Change] = (),
    config: RankingConfig | None = None,
    *,
    confirmed: bool = False,
) -> list[RankedCause]:
    """Detect anomalies in raw (node, metric) series against the reference period, then rank."""
    cfg = config or RankingConfig()
    anomalies = detect_anomalies(series, reference, incident, cfg.threshold, cfg.quantity_floor)
    return rank_root_causes(
        graph, anomalies, alarm, changes, cfg, confirmed=confirmed, dated=is_dated(reference, incident)
    )


def is_dated(reference: Window, incident: Window) -> bool:
    """The reference period ends right before the incident (no later than the incident window is long):
    a departure from it dates from the incident. A reference from another day or week does not."""
    return 0 <= incident.start - reference.end <= max(incident.end - incident.start, 0)


def rank_root_causes(
    graph: Topology,
    anomalies: Sequence[SeriesAnomaly],
    alarm: Alarm,
    changes: Sequence[Change] = (),
    config: RankingConfig | None = None,
    *,
    confirmed: bool = False,
    dated: bool = True,
) -> list[RankedCause]:
    """Order the graph's nodes as root causes of `alarm`; empty when nothing is anomalous enough.

    `dated`: the reference period ends right before the incident window (see the module's rule 3).
    """
    cfg = config or RankingConfig()
    found = on_graph(anomalies, graph)
    anchor = _anchor(found, alarm, cfg.threshold)
    if anchor is None and not confirmed and not _in_plain_trouble(found, cfg.threshold):
        return []
    scope = set(graph.downstream(alarm.node)) if graph.edges and alarm.node in graph else None
    pool = [a for a in found if scope is None or a.node in scope]
    if anchor is not None and not dated:
        evidence = _coupled(graph, pool, anchor, cfg)
    else:
        evidence = _departed(graph, pool, cfg)
    named = _recent_changes(changed_nodes(graph, changes), evidence, cfg.change_lookback)
    ranked = sorted(evidence.values(), key=lambda e: _sort_key(e, named))
    out: list[RankedCause] = []
    for ev in ranked:
        cause = _describe(ev, named, scale=1.0 if anchor is not None and not dated else SCORE_CAP)
        if out and cause.score > out[-1].score:  # keep scores in rank order (ties broke on later keys)
            cause = RankedCause(cause.node, out[-1].score, cause.reasons)
        out.append(cause)
    return out


def on_graph(anomalies: Sequence[SeriesAnomaly], graph: Topology) -> list[SeriesAnomaly]:
    """Series of pods or instances moved onto the graph node they belong to, strongest instance per metric.

    A series whose node is not in the graph belongs to the graph node whose whole name begins its name
    ('checkout-7d9f6-x2kq' to 'checkout'); the longest such name wins, and none leaves it as it is.
    """
    names = sorted(graph.names(), key=lambda n: (-len(n), n))
    best: dict[tuple[str, str], SeriesAnomaly] = {}
    for a in anomalies:
        owner = a.node if a.node in graph else _owner(a.node, names)
        if owner != a.node:
            a = replace(a, node=owner, instance=a.node)
        held = best.get(a.key)
        if held is None or (a.peak, held.instance or "") > (held.peak, a.instance or ""):
            best[a.key] = a
    return [best[k] for k in sorted(best)]


def _owner(name: str, names: Sequence[str]) -> str:
    for candidate in names:
        if name.startswith(candidate) and len(name) > len(candidate) and not name[len(candidate)].isalnum():
            return candidate
    return name


def _anchor(anomalies: Sequence[SeriesAnomaly], alarm: Alarm, threshold: float) -> SeriesAnomaly | None:
    """What the page is about: the alarm's own series when it departed, else the alarm node's strongest
    departed user-facing symptom (its own latency or errors); None when the alarm node shows nothing."""
    own = [a for a in anomalies if a.key == (alarm.node, alarm.metric) and a.peak >= threshold]
    if own:
        return own[0]
    symptoms = [
        a
        for a in anomalies
        if a.node == alarm.node and a.kind in _SYMPTOMS and a.scope is Scope.OWN and a.peak >= threshold
    ]
    return max(symptoms, key=lambda a: (a.peak, a.metric), default=None)


def _in_plain_trouble(anomalies: Sequence[SeriesAnomaly], threshold: float) -> bool:
    """Some node is plainly in trouble: it departed in two kinds of its own signals at once (latency,
    errors, saturation), or one of its resources was held at its ceiling (a CPU at 100 % of its limit)."""
    kinds: dict[str, set[MetricKind]] = {}
    for a in anomalies:
        if a.peak >= threshold and a.scope is Scope.OWN and a.kind in (*_SYMPTOMS, MetricKind.SATURATION):
            if a.exhausted:
                return True
            kinds.setdefault(a.node, set()).add(a.kind)
    return any(len(k) >= 2 for k in kinds.values())


def weight(series: SeriesAnomaly, indirect_weight: float) -> float:
    """How much a departure of this series says about its own node (see the module's rule 3)."""
    w = indirect_weight if series.direction is Direction.BOTH else 1.0
    return w * (indirect_weight if series.scope is not Scope.OWN else 1.0)


# --- dated reference: departures ---------------------------------------------------------------------------


def _departed(graph: Topology, pool: Sequence[SeriesAnomaly], cfg: RankingConfig) -> dict[str, _Evidence]:
    """Each candidate's strongest weighted departure that nothing below it explains (see rule 4)."""
    by_node: dict[str, list[SeriesAnomaly]] = {}
    for a in pool:
        by_node.setdefault(a.node, []).append(a)

    def weighted(a: SeriesAnomaly) -> float:
        return a.peak * weight(a, cfg.indirect_weight)

    candidates = {n for n, ss in by_node.items() if max(weighted(a) for a in ss) >= cfg.threshold}
    healthy = {n for n, ss in by_node.items() if n not in candidates and any(a.kind in _SYMPTOMS for a in ss)}
    out: dict[str, _Evidence] = {}
    for node in sorted(candidates):
        below = _candidate_callees(node, graph, candidates, healthy)
        kept, victim_of = [], None
        for a in sorted(by_node[node], key=lambda a: (-weighted(a), a.metric)):
            if weighted(a) < cfg.threshold:
                continue
            cause = next((c for c in below if a.kind in _SYMPTOMS and _covers(by_node[c], a, cfg)), None)
            if cause is None:
                kept.append(a)
            victim_of = victim_of or cause
        top = kept[0] if kept else max(by_node[node], key=lambda a: (weighted(a), a.metric))
        kinds = {(a.kind, a.scope): weighted(a) for a in reversed(kept)}  # the strongest of each kind
        out[node] = _Evidence(
            node, weighted(top), top, breadth=sum(kinds.values()), victim_of=None if kept else victim_of
        )
    return out


def _covers(below: Sequence[SeriesAnomaly], symptom: SeriesAnomaly, cfg: RankingConfig) -> bool:
    """A dependency explains a caller's symptom when it shows the same kind of trouble (in its own work or
    in its own calls) at least `explain_share` as large, in the metric's own units where both report the
    metric; or when it reports nothing of that kind at all, since its own departure may then be the cause."""
    same = [b for b in below if b.kind is symptom.kind and b.scope is not Scope.HOST]
    if not same:
        return True
    twin = next((b for b in same if b.metric == symptom.metric), None)
    if twin is not None and symptom.excess != 0:
        return twin.excess / symptom.excess >= cfg.explain_share
    return max(b.peak for b in same) >= cfg.explain_share * symptom.peak


# --- reference at another time: co-movement with the alarm ------------------------------------------------


def _coupled(
    graph: Topology, pool: Sequence[SeriesAnomaly], anchor: SeriesAnomaly, cfg: RankingConfig
) -> dict[str, _Evidence]:
    """Each node's best relevance to the alarm over its anomalous series; callers of an equally relevant
    candidate are its victims."""
    best: dict[str, _Evidence] = {}
    for a in pool:
        if a.peak < cfg.threshold:
            continue
        ev = _Evidence(a.node, relevance(a, anchor, cfg.indirect_weight), a)
        if ev.strength >= cfg.min_relevance and _stronger(ev, best.get(a.node)):
            best[a.node] = ev
    by_key = {a.key: a for a in pool}
    out = dict(best)
    for node in sorted(best):
        cause = next(
            (c for c in _candidate_callees(node, graph, best) if _follows(best[c], best[node], by_key, cfg)),
            None,
        )
        if cause is not None:
            out[node] = replace(best[node], victim_of=cause)
    return out


def relevance(series: SeriesAnomaly, alarm_series: SeriesAnomaly, indirect_weight: float = 0.5) -> float:
    """How closely a series' badness follows the alarm's (0 to 1).

    Pearson correlation over the alarm's timestamps (each matched to the series' point within half a step,
    so series sampled a second apart still pair up; negative counts as zero), times the share of the
    alarm's timestamps the series covers (missing data is no evidence), times its `weight`.
    """
    if series.key == alarm_series.key:
        return 1.0
    pairs = _aligned(series, alarm_series)
    corr = max(0.0, pearson([p[0] for p in pairs], [p[1] for p in pairs]))
    coverage = len(pairs) / len(alarm_series.times) if alarm_series.times else 0.0
    return corr * coverage * weight(series, indirect_weight)


def _aligned(series: SeriesAnomaly, alarm: SeriesAnomaly) -> list[tuple[float, float]]:
    times = alarm.times
    steps = [b - a for a, b in pairwise(times)]
    half = (sorted(steps)[len(steps) // 2] if steps else 1) / 2
    pairs: list[tuple[float, float]] = []
    for t, score in zip(series.times, series.scores, strict=True):
        i = bisect_left(times, t)
        near = min(
            (j for j in (i - 1, i) if 0 <= j < len(times)), key=lambda j: abs(times[j] - t), default=None
        )
        if near is not None and abs(times[near] - t) <= half:
            pairs.append((score, alarm.scores[near]))
    return pairs


def _stronger(new: _Evidence, old: _Evidence | None) -> bool:
    if old is None:
        return True
    return (new.strength, new.series.peak, old.series.metric) > (
        old.strength,
        old.series.peak,
        new.series.metric,
    )


def _follows(
    callee: _Evidence, caller: _Evidence, by_key: Mapping[tuple[str, str], SeriesAnomaly], cfg: RankingConfig
) -> bool:
    """A callee explains a caller when it follows the alarm about as well, and, where it reports the
    caller's metric, departs in it by at least `explain_share` as much (a dependency that added 9 ms cannot
    explain a caller's extra 400 ms)."""
    if callee.strength < caller.strength - cfg.explain_margin:
        return False
    same = by_key.get((callee.node, caller.series.metric))
    if same is None or caller.series.excess == 0:
        return True
    return same.excess / caller.series.excess >= cfg.explain_share


# --- shared ----------------------------------------------------------------------------------------------


def _candidate_callees(
    node: str, graph: Topology, candidates: Mapping[str, object] | set[str], healthy: set[str] | None = None
) -> list[str]:
    """The nearest candidates below `node`: walk callees, stopping at each candidate found, and at each
    node in `healthy` (observed and well: trouble further down would have shown in it first)."""
    found: list[str] = []
    seen, stack = {node}, list(reversed(graph.callees(node)))
    while stack:
        nxt = stack.pop()
        if nxt in seen:
            continue
        seen.add(nxt)
        if nxt in candidates:
            found.append(nxt)
        elif healthy is None or nxt not in healthy:
            stack.extend(reversed(graph.callees(nxt)))
    return found


def changed_nodes(graph: Topology, changes: Sequence[Change]) -> dict[str, list[Change]]:
    """Nodes a change names: its `service` field, or the node's whole name written in its summary.

    A name is written in a text when the name's words (split on anything but letters and digits, lower
    case) appear there one after another: 'kubectl rollout restart deploy/payments' names `payments`,
    'payments-api v2' names `payments-api`, and a word two names share ('api') names neither by itself.
    """
    names = graph.names()
    phrases = {n: _words(n) for n in names}
    found: dict[str, list[Change]] = {}
    for change in sorted(changes, key=lambda c: (c.at, c.summary, c.id)):
        words = _words(change.summary)
        for node in names:
            if node == change.service or _contains_phrase(words, phrases[node]):
                found.setdefault(node, []).append(change)
    return found


def _contains_phrase(words: Sequence[str], phrase: Sequence[str]) -> bool:
    n = len(phrase)
    return n > 0 and any(list(words[i : i + n]) == list(phrase) for i in range(len(words) - n + 1))


def _recent_changes(
    named: Mapping[str, list[Change]], evidence: Mapping[str, _Evidence], lookback: int
) -> dict[str, Change]:
    """The latest change naming each candidate that landed within `lookback` before its onset."""
    out: dict[str, Change] = {}
    for node, ev in evidence.items():
        onset = ev.series.onset if ev.series.onset is not None else max(ev.series.times)
        fitting = [c for c in named.get(node, []) if onset - lookback <= epoch(c.at) <= onset]
        if fitting:
            out[node] = fitting[-1]
    return out


_SortKey = tuple[bool, bool, float, float, float, float, str]


def _sort_key(ev: _Evidence, named: Mapping[str, Change]) -> _SortKey:
    onset = ev.series.onset if ev.series.onset is not None else float("inf")
    victim = ev.victim_of is not None
    return (
        victim,
        ev.node not in named,
        -round(ev.strength, 2),
        -ev.breadth,
        onset,
        -ev.series.peak,
        ev.node,
    )


def _describe(ev: _Evidence, named: Mapping[str, Change], scale: float) -> RankedCause:
    s = ev.series
    where = f" on {s.instance}" if s.instance else ""
    reasons = [
        f"{s.metric}{where} went {'up' if s.excess > 0 else 'down'} by {abs(s.excess):.4g} "
        f"(badness {s.peak:.1f}, onset {s.onset}); strength {ev.strength:.2f}"
    ]
    if ev.victim_of is not None:
        reasons.append(f"probably a victim: it calls {ev.victim_of}, which is failing the same way")
    else:
        reasons.append("no failing dependency explains it")
    if ev.node in named:
        reasons.append(f"a change names it: {named[ev.node].summary[:120]}")
    score = min(1.0, ev.strength / scale) * (0.5 if ev.victim_of is not None else 1.0)
    return RankedCause(ev.node, round(score, 4), reasons)


def _words(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]

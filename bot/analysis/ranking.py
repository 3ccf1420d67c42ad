"""Rank the nodes of a service graph as root causes of an alarm, most likely first.

The rule, in order:
1. Gate: the alarmed metric must itself be anomalous against its own baseline in the incident window, for
   more than a single datapoint (see `anomaly.persistent`); otherwise the answer is an empty ranking
   (a false alarm: nothing here is a root cause).
2. Scope: the alarm node and the nodes it calls, directly or not (all nodes when the graph has no edges).
3. Evidence: a node's relevance is the best, over its anomalous series, of how closely the series' badness
   follows the alarm's badness in the incident window (Pearson correlation, negative counts as zero).
   Nodes whose relevance stays under `min_relevance` are not candidates; none left means an empty ranking.
4. Graph: a candidate that calls a relevant candidate is probably a victim of it ("explained"); unexplained
   candidates (the deepest failing nodes) rank before explained ones.
5. Within each group: a candidate named by a change that landed shortly before its onset comes first; then
   relevance (to two decimals), earliest onset, anomaly strength, and the node name, so the order never
   depends on hashing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.analysis.anomaly import Direction, SeriesAnomaly, SeriesData, Window, detect_anomalies, pearson
from bot.domain import Change, Topology, epoch


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
    min_relevance: float = 0.5
    """Lowest correlation with the alarm for an anomalous node to be a candidate."""
    ambiguous_weight: float = 0.5
    """Relevance multiplier for metrics whose bad direction is unknown (requests, counts)."""
    explain_margin: float = 0.1
    """A callee explains its caller when its relevance is at least the caller's minus this margin."""
    change_lookback: int = 86400
    """A change counts for a node when it lands at most this long before the node's onset (and not after)."""


@dataclass(frozen=True)
class _Evidence:
    node: str
    relevance: float
    series: SeriesAnomaly


def rank_root_causes(
    graph: Topology,
    anomalies: Sequence[SeriesAnomaly],
    alarm: Alarm,
    changes: Sequence[Change] = (),
    config: RankingConfig | None = None,
    *,
    confirmed: bool = False,
) -> list[RankedCause]:
    """Order the graph's nodes as root causes of `alarm`; empty when nothing is anomalous enough.

    `confirmed`: a person asked for this investigation, so a quiet alarm metric is no reason to answer
    nothing; the strongest anomalous series (the alarm node's first) stands in for it.
    """
    cfg = config or RankingConfig()
    alarm_series = next((a for a in anomalies if a.key == (alarm.node, alarm.metric)), None)
    if confirmed and (alarm_series is None or alarm_series.peak < cfg.threshold):
        anomalous = [a for a in anomalies if a.peak >= cfg.threshold]
        alarm_series = max(anomalous, key=lambda a: (a.node == alarm.node, a.peak, a.key), default=None)
    if alarm_series is None or alarm_series.peak < cfg.threshold:
        return []
    scope = set(graph.downstream(alarm.node)) if graph.edges and alarm.node in graph else None
    evidence = _node_evidence(anomalies, alarm_series, scope, cfg)
    if not evidence:
        return []
    explained = _explained(graph, evidence, anomalies, cfg.explain_margin)
    named = _recent_changes(changed_nodes(graph, changes), evidence, cfg.change_lookback)
    ranked = sorted(evidence.values(), key=lambda e: _sort_key(e, explained, named))
    out: list[RankedCause] = []
    for ev in ranked:
        cause = _describe(ev, explained, named)
        if out and cause.score > out[-1].score:  # keep scores in rank order (ties broke on later keys)
            cause = RankedCause(cause.node, out[-1].score, cause.reasons)
        out.append(cause)
    return out


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
    anomalies = detect_anomalies(series, reference, incident, cfg.threshold)
    return rank_root_causes(graph, anomalies, alarm, changes, cfg, confirmed=confirmed)


def relevance(series: SeriesAnomaly, alarm_series: SeriesAnomaly, ambiguous_weight: float = 0.5) -> float:
    """How closely a series' badness follows the alarm's (0 to 1).

    Pearson correlation over shared timestamps (negative counts as zero), times the share of the alarm's
    timestamps the series covers (missing data is no evidence), times `ambiguous_weight` when the metric's
    bad direction is unknown (a drop in a callee's traffic is more often an effect than a cause).
    """
    if series.key == alarm_series.key:
        return 1.0
    alarm_by_time = alarm_series.scores_by_time()
    pairs = [
        (s, alarm_by_time[t]) for t, s in zip(series.times, series.scores, strict=True) if t in alarm_by_time
    ]
    corr = max(0.0, pearson([p[0] for p in pairs], [p[1] for p in pairs]))
    coverage = len(pairs) / len(alarm_by_time) if alarm_by_time else 0.0
    weight = ambiguous_weight if series.direction is Direction.BOTH else 1.0
    return corr * coverage * weight


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


def _node_evidence(
    anomalies: Sequence[SeriesAnomaly],
    alarm_series: SeriesAnomaly,
    scope: set[str] | None,
    cfg: RankingConfig,
) -> dict[str, _Evidence]:
    best: dict[str, _Evidence] = {}
    for series in anomalies:
        if series.peak < cfg.threshold or (scope is not None and series.node not in scope):
            continue
        ev = _Evidence(series.node, relevance(series, alarm_series, cfg.ambiguous_weight), series)
        if ev.relevance >= cfg.min_relevance and _stronger(ev, best.get(series.node)):
            best[series.node] = ev
    return best


def _stronger(new: _Evidence, old: _Evidence | None) -> bool:
    if old is None:
        return True
    return (new.relevance, new.series.peak, old.series.metric) > (
        old.relevance,
        old.series.peak,
        new.series.metric,
    )


def _explained(
    graph: Topology, evidence: Mapping[str, _Evidence], anomalies: Sequence[SeriesAnomaly], margin: float
) -> dict[str, str]:
    """Candidates with a callee candidate that explains them (see `_explains`), mapped to that callee."""
    by_key = {a.key: a for a in anomalies}
    out: dict[str, str] = {}
    for node in sorted(evidence):
        for callee in _candidate_callees(node, graph, evidence):
            if _explains(evidence[callee], evidence[node], by_key, margin):
                out[node] = callee
                break
    return out


def _explains(
    callee: _Evidence, caller: _Evidence, by_key: Mapping[tuple[str, str], SeriesAnomaly], margin: float
) -> bool:
    """A callee explains a caller when it follows the alarm about as well, and, where it reports the
    caller's metric, departs in it by at least half as much (a dependency that added 9 ms cannot explain
    a caller's extra 400 ms)."""
    if callee.relevance < caller.relevance - margin:
        return False
    same = by_key.get((callee.node, caller.series.metric))
    if same is None or caller.series.excess == 0:
        return True
    return same.excess / caller.series.excess >= 0.5


def _candidate_callees(node: str, graph: Topology, evidence: Mapping[str, _Evidence]) -> list[str]:
    """The nearest candidates below `node`: walk callees, stopping at each candidate found."""
    found: list[str] = []
    seen, stack = {node}, list(reversed(graph.callees(node)))
    while stack:
        nxt = stack.pop()
        if nxt in seen:
            continue
        seen.add(nxt)
        if nxt in evidence:
            found.append(nxt)
        else:
            stack.extend(reversed(graph.callees(nxt)))
    return found


def _sort_key(
    ev: _Evidence, explained: Mapping[str, str], named: Mapping[str, Change]
) -> tuple[bool, bool, float, float, float, str]:
    onset = ev.series.onset if ev.series.onset is not None else math.inf
    return (
        ev.node in explained,
        ev.node not in named,
        -round(ev.relevance, 2),
        onset,
        -ev.series.peak,
        ev.node,
    )


def _describe(ev: _Evidence, explained: Mapping[str, str], named: Mapping[str, Change]) -> RankedCause:
    s = ev.series
    reasons = [
        f"{s.metric} went {'up' if s.excess > 0 else 'down'} by {abs(s.excess):.4g} "
        f"(badness {s.peak:.1f}, onset {s.onset}); follows the alarm with correlation {ev.relevance:.2f}"
    ]
    if ev.node in explained:
        reasons.append(f"probably a victim: it calls {explained[ev.node]}, which is failing the same way")
    else:
        reasons.append("no failing dependency explains it")
    if ev.node in named:
        reasons.append(f"a change names it: {named[ev.node].summary[:120]}")
    score = ev.relevance * (0.5 if ev.node in explained else 1.0)
    return RankedCause(ev.node, round(score, 4), reasons)


def _words(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]

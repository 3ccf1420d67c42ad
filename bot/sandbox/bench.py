"""Measure the root-cause ranking on folders of recorded incidents in the `rca-case/1` format.

Each case folder holds case.json, graph.json, metrics files and truth.json (see the bench's FORMAT.md). The
ranking sees only case.json, graph.json and the metrics; truth.json is read afterwards, for scoring.
An evaluation harness, like `evaluate.py`: the cli wires it, production code never imports it.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.analysis.anomaly import SeriesData, Window
from bot.analysis.ranking import Alarm, RankedCause, RankingConfig, rank_from_series
from bot.domain import Change, ChangeSource, ChangeVia, Topology, utc

CASE_FORMAT = "rca-case/1"

MetricsCache = dict[Path, dict[tuple[str, str], SeriesData]]
"""Parsed metrics files by resolved path, shared by the cases of one run (many cite one normal-period file)."""


class BenchInputError(Exception):
    """A case folder that cannot be read; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Case:
    """One incident, adapted to the ranking's inputs."""

    id: str
    folder: Path
    graph: Topology
    series: dict[tuple[str, str], SeriesData]
    baseline: Window
    incident: Window
    alarm: Alarm
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class CaseResult:
    id: str
    ranking: list[RankedCause]
    truth: str | None


@dataclass
class BenchResult:
    """Scores over a folder of cases (see `to_json` for the shape)."""

    cases: list[CaseResult] = field(default_factory=list)
    ignore_changes: bool = False
    confirmed: bool = False
    seconds: float = 0.0

    def _with_truth(self) -> list[CaseResult]:
        return [c for c in self.cases if c.truth is not None]

    def _ranks(self) -> list[int | None]:
        return [_rank_of(c) for c in self._with_truth()]

    @property
    def top1(self) -> float:
        return _share([r == 1 for r in self._ranks()])

    @property
    def top3(self) -> float:
        return _share([r is not None and r <= 3 for r in self._ranks()])

    @property
    def mrr(self) -> float:
        ranks = self._ranks()
        return sum(1.0 / r for r in ranks if r is not None) / len(ranks) if ranks else 0.0

    @property
    def empty(self) -> float:
        return _share([not c.ranking for c in self._with_truth()])

    @property
    def specificity(self) -> float:
        return _share([not c.ranking for c in self.cases if c.truth is None])

    def to_json(self) -> dict[str, Any]:
        return {
            "cases": len(self.cases),
            "top1": self.top1,
            "top3": self.top3,
            "mrr": self.mrr,
            "empty": self.empty,
            "specificity": self.specificity,
            "per_case": [
                {"id": c.id, "ranking": [r.node for r in c.ranking], "truth": c.truth} for c in self.cases
            ],
        }


def run_bench(path: Path, ignore_changes: bool, confirmed: bool = False) -> BenchResult:
    """Rank every case under `path` (a case folder or a folder of them) and score against truth.json.

    `confirmed` ranks as for an investigation a person asked for: never empty while anything is anomalous.
    """
    started = time.monotonic()
    folders = find_cases(Path(path))
    if not folders:
        raise BenchInputError(f"{path}: no case.json found")
    cache: MetricsCache = {}
    result = BenchResult(ignore_changes=ignore_changes, confirmed=confirmed)
    for folder in folders:
        case = load_case(folder, cache)
        ranking = rank_case(case, ignore_changes, confirmed=confirmed)
        result.cases.append(CaseResult(case.id, ranking, _load_truth(folder)))
    result.seconds = time.monotonic() - started
    return result


def find_cases(path: Path) -> list[Path]:
    """Every folder holding a case.json under `path`, following symlinked folders (each real one once)."""
    found: list[Path] = []
    seen: set[str] = set()
    for top, dirs, files in os.walk(path, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:  # a link back up the tree, or two links to one folder
            dirs.clear()
            continue
        seen.add(real)
        dirs.sort()
        if "case.json" in files:
            found.append(Path(top))
    return sorted(found)


def rank_case(
    case: Case, ignore_changes: bool, config: RankingConfig | None = None, confirmed: bool = False
) -> list[RankedCause]:
    """Run anomaly detection and the ranking on one case (never looking at its truth)."""
    changes = () if ignore_changes else case.changes
    return rank_from_series(
        case.graph,
        case.series,
        case.baseline,
        case.incident,
        case.alarm,
        changes,
        config,
        confirmed=confirmed,
    )


def format_table(result: BenchResult) -> str:
    """A human-readable summary: one line per case, then the scores."""
    lines = [f"{'case':<58} {'truth':<44} rank  top-3 answer"]
    for c in result.cases:
        rank = _rank_of(c)
        shown = "-" if rank is None else str(rank)
        answer = ", ".join(r.node for r in c.ranking[:3]) or "(empty)"
        lines.append(f"{c.id:<58} {c.truth or '(none)':<44} {shown:>4}  {answer}")
    changes = "ignored" if result.ignore_changes else "used"
    mode = "  confirmed" if result.confirmed else ""
    lines.append("")
    lines.append(
        f"cases {len(result.cases)}  changes {changes}{mode}  top-1 {result.top1:.3f}  top-3 {result.top3:.3f}  "
        f"MRR {result.mrr:.3f}  empty {result.empty:.3f}  specificity {result.specificity:.3f}  "
        f"({result.seconds:.1f}s)"
    )
    return "\n".join(lines)


# --- loading -------------------------------------------------------------------------------------------------


def load_case(folder: Path, cache: MetricsCache | None = None) -> Case:
    """Read one case folder into the ranking's inputs; `cache` shares parsed metrics files between cases."""
    case_file = folder / "case.json"
    doc = _read_json(case_file)
    if doc.get("format") != CASE_FORMAT:
        raise BenchInputError(f"{case_file}: key 'format' must be {CASE_FORMAT!r}, got {doc.get('format')!r}")
    alarm = _get(doc, "alarm", case_file, dict)
    changes = _get(doc, "changes", case_file, list) if "changes" in doc else []
    series: dict[tuple[str, str], SeriesData] = {}
    for name in _get(doc, "metrics_files", case_file, list):
        for key, data in _read_metrics(
            (folder / str(name)).resolve(), {} if cache is None else cache
        ).items():
            series[key] = series[key].merged(data) if key in series else data
    return Case(
        id=str(_get(doc, "id", case_file, str)),
        folder=folder,
        graph=_load_graph(folder / "graph.json"),
        series=series,
        baseline=_window(doc, "normal", case_file),
        incident=_window(doc, "abnormal", case_file),
        alarm=Alarm(
            node=str(_get(alarm, "node", case_file, str, "alarm.")),
            metric=str(_get(alarm, "metric", case_file, str, "alarm.")),
            time=int(_get(alarm, "time", case_file, (int, float), "alarm.")),
        ),
        changes=tuple(_change(c, i, case_file) for i, c in enumerate(changes)),
    )


def _change(doc: Any, i: int, path: Path) -> Change:
    """A dataset's change record: a time and a free-text description, nothing typed."""
    at = int(_get(doc, "time", path, (int, float), f"changes[{i}]."))
    text = str(_get(doc, "description", path, str, f"changes[{i}]."))
    return Change(
        id=f"{path.parent.name}#{i}",
        at=utc(at),
        via=ChangeVia.API,
        source=ChangeSource.RECORD,
        summary=text,
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchInputError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchInputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise BenchInputError(f"{path}: expected a JSON object at the top level")
    return doc


def _get(doc: Any, key: str, path: Path, kind: type | tuple[type, ...], prefix: str = "") -> Any:
    if not isinstance(doc, dict) or key not in doc:
        raise BenchInputError(f"{path}: missing key '{prefix}{key}'")
    value = doc[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BenchInputError(f"{path}: key '{prefix}{key}' has the wrong type ({type(value).__name__})")
    return value


def _window(doc: dict[str, Any], key: str, path: Path) -> Window:
    span = _get(doc, key, path, dict)
    start = int(_get(span, "start", path, (int, float), f"{key}."))
    end = int(_get(span, "end", path, (int, float), f"{key}."))
    return Window(start, end)


def _load_graph(path: Path) -> Topology:
    doc = _read_json(path)
    nodes = _get(doc, "nodes", path, list)
    edges = _get(doc, "edges", path, list) if "edges" in doc else []
    return Topology.of(
        [str(n) for n in nodes],
        [
            (
                str(_get(e, "caller", path, str, f"edges[{i}].")),
                str(_get(e, "callee", path, str, f"edges[{i}].")),
            )
            for i, e in enumerate(edges)
        ],
    )


def _read_metrics(path: Path, cache: MetricsCache) -> dict[tuple[str, str], SeriesData]:
    """Parse a long-format metrics CSV into one series per (node, metric); each path is read once per cache."""
    if path in cache:
        return cache[path]
    points: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            missing = [c for c in ("timestamp", "node", "metric", "value") if c not in header]
            if missing:
                raise BenchInputError(f"{path}: missing column(s) {', '.join(missing)}")
            it, inode, imetric, ivalue = (header.index(c) for c in ("timestamp", "node", "metric", "value"))
            for line, row in enumerate(reader, start=2):
                try:
                    points[(row[inode], row[imetric])][int(float(row[it]))] = float(row[ivalue])
                except (IndexError, ValueError):
                    raise BenchInputError(
                        f"{path}:{line}: bad row (timestamp, node, metric, value)"
                    ) from None
    except FileNotFoundError:
        raise BenchInputError(f"{path}: metrics file not found") from None
    cache[path] = {key: SeriesData.from_points(p) for key, p in points.items()}
    return cache[path]


def _load_truth(folder: Path) -> str | None:
    path = folder / "truth.json"
    doc = _read_json(path)
    if "root_cause" not in doc:
        raise BenchInputError(f"{path}: missing key 'root_cause'")
    value = doc["root_cause"]
    return None if value is None else str(value)


def _rank_of(case: CaseResult) -> int | None:
    names = [r.node for r in case.ranking]
    return names.index(case.truth) + 1 if case.truth in names else None


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0

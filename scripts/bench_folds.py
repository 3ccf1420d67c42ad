"""Cross-validate the ranking's parameters on the rca-case/1 benches and print per-fold and whole-set figures.

    .venv/bin/python scripts/bench_folds.py [--bench ../shared/bench] [--confirmed]

Folds (each held-out group is ranked with the parameters that scored best on the other groups):
- PetShop, leave one root cause out (the specificity cases, with no root cause, are one more group);
- Nezha, leave one application out, and leave one fault type out (both applications together);
- all benches, leave one dataset out (PetShop, online-boutique, train-ticket): one parameter set for all.
Changes are ignored (the metric analysis alone, as `sre-bot bench --ignore-changes`). The score a candidate
parameter set must maximise on the training groups is the mean over their cases of (top-1 + top-3) / 2, with
a specificity case counting 1 when answered with an empty ranking. Ties go to the defaults' neighbourhood
(fewest parameters changed), so an uninformative fold keeps the defaults.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.analysis.anomaly import SeriesAnomaly, detect_anomalies  # noqa: E402
from bot.analysis.ranking import RankingConfig, is_dated, rank_root_causes  # noqa: E402
from bot.sandbox.bench import Case, MetricsCache, find_cases, load_case  # noqa: E402

GRID: dict[str, tuple[float, ...]] = {
    "quantity_floor": (0.0, 0.02, 0.05, 0.1),
    "indirect_weight": (0.25, 0.5, 1.0),
    "explain_share": (0.25, 0.5, 0.75),
    "min_relevance": (0.3, 0.5, 0.7),
    "explain_margin": (0.05, 0.1, 0.2),
}


@dataclass(frozen=True)
class Item:
    dataset: str
    case: Case
    truth: str | None
    fault: str | None
    dated: bool


def load(bench: Path) -> list[Item]:
    """Every case of the three benches, with its truth and fault type (for grouping and scoring only)."""
    items: list[Item] = []
    for dataset, folder in (
        ("petshop", bench / "petshop"),
        ("online-boutique", bench / "nezha" / "online-boutique"),
        ("train-ticket", bench / "nezha" / "train-ticket"),
    ):
        cache: MetricsCache = {}
        for path in find_cases(folder):
            case = load_case(path, cache)
            truth = json.loads((path / "truth.json").read_text())
            dated = is_dated(case.baseline, case.incident)
            items.append(Item(dataset, case, truth.get("root_cause"), truth.get("fault"), dated))
    return items


class Scorer:
    """Ranks each case under a parameter set; detection is cached per (case, floor, threshold)."""

    def __init__(self, items: Sequence[Item], confirmed: bool) -> None:
        self.items, self.confirmed = items, confirmed
        self._found: dict[tuple[int, float, float], list[SeriesAnomaly]] = {}
        self._ranks: dict[tuple[int, RankingConfig], int | None] = {}
        self._answered: dict[tuple[int, RankingConfig], bool] = {}

    def rank(self, i: int, cfg: RankingConfig) -> int | None:
        """1-based rank of the truth (0 for a correct empty answer on a specificity case), None if missed."""
        if (i, cfg) not in self._ranks:
            item = self.items[i]
            key = (i, cfg.quantity_floor, cfg.threshold)
            if key not in self._found:
                c = item.case
                self._found[key] = detect_anomalies(
                    c.series, c.baseline, c.incident, cfg.threshold, cfg.quantity_floor
                )
            ranking = rank_root_causes(
                item.case.graph,
                self._found[key],
                item.case.alarm,
                (),
                cfg,
                confirmed=self.confirmed,
                dated=item.dated,
            )
            names = [r.node for r in ranking]
            self._answered[(i, cfg)] = bool(names)
            if item.truth is None:
                self._ranks[(i, cfg)] = 0 if not names else None
            else:
                self._ranks[(i, cfg)] = names.index(item.truth) + 1 if item.truth in names else None
        return self._ranks[(i, cfg)]

    def answered(self, i: int, cfg: RankingConfig) -> bool:
        """Whether the ranking of case `i` named anything."""
        self.rank(i, cfg)
        return self._answered[(i, cfg)]

    def objective(self, cases: Sequence[int], cfg: RankingConfig) -> float:
        total = 0.0
        for i in cases:
            r = self.rank(i, cfg)
            total += 1.0 if r == 0 else ((r == 1) + (r is not None and 1 <= r <= 3)) / 2
        return total / len(cases) if cases else 0.0


def configs() -> list[RankingConfig]:
    base = RankingConfig()
    out = []
    for values in itertools.product(*GRID.values()):
        settings: dict[str, Any] = dict(zip(GRID, values, strict=True))
        out.append(replace(base, **settings))
    return out


def changed(cfg: RankingConfig) -> int:
    base = RankingConfig()
    return sum(getattr(cfg, f.name) != getattr(base, f.name) for f in fields(cfg))


def choose(scorer: Scorer, train: Sequence[int], candidates: Sequence[RankingConfig]) -> RankingConfig:
    """The parameter set with the best training objective; ties to the one closest to the defaults."""
    return max(candidates, key=lambda c: (round(scorer.objective(train, c), 9), -changed(c)))


def figures(scorer: Scorer, cases: Sequence[int], cfg: RankingConfig | Callable[[int], RankingConfig]) -> str:
    pick = cfg if callable(cfg) else (lambda _i: cfg)
    ranks = [(i, scorer.rank(i, pick(i))) for i in cases]
    faults = [r for i, r in ranks if scorer.items[i].truth is not None]
    nulls = [r for i, r in ranks if scorer.items[i].truth is None]
    parts = []
    if faults:
        top1 = sum(r == 1 for r in faults) / len(faults)
        top3 = sum(r is not None and 1 <= r <= 3 for r in faults) / len(faults)
        empty = sum(r is None and not scorer.answered(i, pick(i)) for i, r in ranks if scorer.items[i].truth)
        parts.append(
            f"top-1 {top1:.3f}  top-3 {top3:.3f}  empty {empty / len(faults):.3f}  (n={len(faults)})"
        )
    if nulls:
        parts.append(f"specificity {sum(r == 0 for r in nulls) / len(nulls):.3f} (n={len(nulls)})")
    return "  ".join(parts)


def cross_validate(
    scorer: Scorer, name: str, groups: dict[str, list[int]], candidates: Sequence[RankingConfig]
) -> None:
    print(f"\n== {name}")
    chosen: dict[int, RankingConfig] = {}
    for group, held in sorted(groups.items()):
        train = [i for g, idx in groups.items() if g != group for i in idx]
        cfg = choose(scorer, train, candidates)
        chosen.update({i: cfg for i in held})
        print(f"  held out {group:<26} {figures(scorer, held, cfg):<52} with {describe(cfg)}")
    every = [i for idx in groups.values() for i in idx]
    print(f"  all held-out folds together  {figures(scorer, every, lambda i: chosen[i])}")
    print(f"  whole set, defaults          {figures(scorer, every, RankingConfig())}")


def describe(cfg: RankingConfig) -> str:
    base = RankingConfig()
    diff = [f"{n}={getattr(cfg, n)}" for n in GRID if getattr(cfg, n) != getattr(base, n)]
    return ", ".join(diff) or "the defaults"


def group_by(items: Sequence[Item], idx: Sequence[int], key: Callable[[Item], str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i in idx:
        out.setdefault(key(items[i]), []).append(i)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    parser.add_argument(
        "--confirmed", action="store_true", help="rank as for an investigation a person asked for"
    )
    args = parser.parse_args()
    items = load(args.bench)
    scorer = Scorer(items, args.confirmed)
    candidates = configs()
    print(f"{len(items)} cases, {len(candidates)} parameter sets; defaults: {RankingConfig()}")
    petshop = [i for i, it in enumerate(items) if it.dataset == "petshop"]
    nezha = [i for i, it in enumerate(items) if it.dataset != "petshop"]
    every = list(range(len(items)))
    cross_validate(
        scorer,
        "PetShop, leave one root cause out",
        group_by(items, petshop, lambda it: it.truth or "(none)"),
        candidates,
    )
    cross_validate(
        scorer, "Nezha, leave one application out", group_by(items, nezha, lambda it: it.dataset), candidates
    )
    cross_validate(
        scorer,
        "Nezha, leave one fault type out",
        group_by(items, nezha, lambda it: it.fault or "?"),
        candidates,
    )
    cross_validate(
        scorer,
        "All benches, leave one dataset out",
        group_by(items, every, lambda it: it.dataset),
        candidates,
    )
    best = choose(scorer, every, candidates)
    print(f"\n== Chosen on every case: {describe(best)}")
    for dataset, idx in sorted(group_by(items, every, lambda it: it.dataset).items()):
        print(f"  {dataset:<28} {figures(scorer, idx, best)}")


if __name__ == "__main__":
    main()

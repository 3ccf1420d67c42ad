"""How well the engine overlaps its calls: every AWS and GitHub call is slowed by 100 ms, and the wall time of an
investigation at the default concurrency is compared with its critical path.

The critical path is measured, not guessed: the same investigation with unbounded concurrency (every independent
call in flight at once) takes as long as its longest chain of dependent calls plus compute. The ratio
`wall(default) / wall(unbounded)` says how close the bounded pool gets to that; the target is ≤ 1.5.

    .venv/bin/python scripts/bench_latency.py [SCENARIO.yaml ...]
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path

from bot.investigation.engine import Investigator
from bot.sandbox.runner import sandbox
from bot.sandbox.scenario import load_scenario

LATENCY = 0.100
DEFAULT_CONCURRENCY = 8
UNBOUNDED = 256


def _run(path: Path, latency: float, concurrency: int) -> float:
    sc = load_scenario(path)
    with sandbox(sc, latency=latency) as box:
        start = time.monotonic()
        Investigator(box.deps(concurrency=concurrency)).investigate(box.page)
        return time.monotonic() - start


def main(argv: list[str]) -> int:
    warnings.simplefilter("ignore")
    shared = Path(__file__).resolve().parents[2] / "shared" / "scenarios"
    paths = (
        [Path(a) for a in argv]
        or sorted(shared.glob("*.yaml"))
        or sorted(Path("bot/sandbox/scenarios").glob("*.yaml"))
    )
    _run(paths[0], 0.0, DEFAULT_CONCURRENCY)  # warm up moto once, outside the measurements
    print(f"{'scenario':36} {'no-lat s':>9} {'crit s':>8} {'wall s':>8} {'ratio':>6}")
    ratios = []
    for path in paths:
        base = _run(path, 0.0, DEFAULT_CONCURRENCY)
        crit = _run(path, LATENCY, UNBOUNDED)
        wall = _run(path, LATENCY, DEFAULT_CONCURRENCY)
        ratio = wall / crit
        ratios.append(ratio)
        print(f"{path.stem[:36]:36} {base:>9.2f} {crit:>8.2f} {wall:>8.2f} {ratio:>6.2f}")
    print(
        f"median ratio {statistics.median(ratios):.2f}, max {max(ratios):.2f} (target ≤ 1.5); latency {LATENCY * 1000:.0f} ms per call"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

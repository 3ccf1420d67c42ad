"""Time simulate + materialise for each public scenario (and any YAML paths given), on one moto server.

    .venv/bin/python scripts/bench_materialise.py [more.yaml ...]

Prints seconds per scenario, then the median and the max. The moto server is started (and warmed up) once
before timing, as the tests and the demo do; its start-up is printed separately.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

from bot.sandbox.aws import MotoServer, materialise_aws
from bot.sandbox.scenario import load_scenario
from bot.sandbox.world import simulate

SCENARIOS = Path(__file__).resolve().parents[2] / "shared" / "scenarios"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def main(argv: list[str]) -> int:
    warnings.simplefilter("ignore")
    paths = sorted(SCENARIOS.glob("*.yaml")) if SCENARIOS.is_dir() else []
    paths += [Path(a) for a in argv]
    if not paths:
        print(f"no scenarios: {SCENARIOS} is absent and no paths were given", file=sys.stderr)
        return 2
    started = time.perf_counter()
    server = MotoServer()
    server.warm_up("us-east-1")
    print(f"{'moto start + warm-up':40s} {time.perf_counter() - started:6.2f} s")
    times: list[float] = []
    try:
        for path in paths:
            began = time.perf_counter()
            world = simulate(load_scenario(path), T0)
            estate = materialise_aws(world, moto=server)
            elapsed = time.perf_counter() - began
            estate.stop()
            times.append(elapsed)
            print(
                f"{path.stem:40s} {elapsed:6.2f} s  ({len(world.logs)} log lines, {len(world.series)} series)"
            )
    finally:
        server.stop()
    print(f"{'median':40s} {statistics.median(times):6.2f} s")
    print(f"{'max':40s} {max(times):6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

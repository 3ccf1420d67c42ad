"""Time the nightly prevention job and the weekly digest over a long history.

    .venv/bin/python scripts/bench_prevention.py [incidents] [database-url]

Three scenarios are investigated once by the real engine, then recorded again and again (as the bot stores an
incident: page, findings, report, resolve, a rating on one in three) over the weeks before now, `incidents`
in all (default 600), in a SQLite file (or the database URL given, emptied first: use a scratch database).
Prints the seconds to seed, then for the first night (everything created), a second night (nothing new) and
the digest.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.prevention.digest import weekly_digest
from bot.prevention.nightly import run_nightly
from bot.sandbox.history import Clock, investigate, record
from bot.slack.learning_blocks import digest_blocks
from bot.storage.db import make_engine, migrate
from bot.storage.store import Store
from bot.storage.tables import Verdict

SCENARIOS = ("flagship-cache-deploy", "statements-kms-permission", "webhooks-cold-start-blip")


def main(argv: list[str]) -> int:
    warnings.simplefilter("ignore")
    total = int(argv[0]) if argv else 600
    with tempfile.TemporaryDirectory() as tmp:
        url = argv[1] if len(argv) > 1 else f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        migrate(url)
        end = datetime.now(UTC).replace(microsecond=0)
        clock = Clock(end)
        store = Store(make_engine(url), clock=clock)
        t = time.perf_counter()
        seen = [investigate(ref) for ref in SCENARIOS]
        print(f"investigated {len(seen)} scenarios with the engine: {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        step = timedelta(weeks=12) / total
        for n in range(total):
            verdict = Verdict.UP if n % 3 == 0 else None
            record(store, clock, seen[n % len(seen)], end - timedelta(weeks=12) + n * step, verdict=verdict)
        print(f"recorded {total} incidents: {time.perf_counter() - t:.1f} s")
        clock.set(end)
        for night in ("first night", "second night"):
            t = time.perf_counter()
            result = run_nightly(store)
            print(f"{night}: {time.perf_counter() - t:.2f} s ({result.summary()})")
        t = time.perf_counter()
        blocks = digest_blocks(weekly_digest(store))
        print(f"weekly digest: {time.perf_counter() - t:.2f} s ({len(blocks)} blocks)")
        store.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

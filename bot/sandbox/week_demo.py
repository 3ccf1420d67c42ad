"""`sre-bot demo --week`: a week of incidents investigated by the real engine, the nightly mining, and the
weekly digest posted through the Slack Web API (to the fake Slack) and printed as it reads."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.config import Settings
from bot.prevention.digest import weekly_digest
from bot.prevention.nightly import run_nightly
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.history import Clock, seed_week
from bot.slack.app import make_client
from bot.slack.learning_blocks import blocks_as_text
from bot.slack.prevention_actions import digest_poster
from bot.storage.db import make_engine, migrate
from bot.storage.store import Store


def run_week_demo(out: TextIO) -> dict[str, object]:
    """Seed a week, run the nightly job, post the digest; returns what was posted (and prints it)."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as fake:
        url = f"sqlite:///{Path(tmp) / 'bot.sqlite'}"
        migrate(url)
        clock = Clock(end)
        store = Store(make_engine(url), clock=clock)
        print("investigating a week of incidents in the simulated estate...", file=out)
        made = seed_week(store, clock, end)
        for inc in made:
            print(f"  {inc.opened_at:%a %H:%M}  {inc.title}", file=out)
        night = run_nightly(store)
        print(f"nightly job: {night.summary()}", file=out)
        channel = fake.add_channel("sre-digest")
        client = make_client(Settings(slack_bot_token="xoxb-demo-token", slack_api_url=fake.api_url))
        ts = digest_poster(client, channel)(weekly_digest(store))
        posted = fake.message(channel, ts) or {}
        print("\nthe digest, as posted in #sre-digest:\n", file=out)
        print(blocks_as_text(posted.get("blocks") or []), file=out)
        store.engine.dispose()
        return {"incidents": len(made), "nightly": night.summary(), "blocks": posted.get("blocks") or []}

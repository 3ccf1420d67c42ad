"""Seed the fake GitHub from a World: each service's repository, its history, and for every
`via: github-actions` change the commit with its diff, a successful `deploy` workflow run and a deployment."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from bot.sandbox.fake_github import FakeGitHub
from bot.sandbox.world import World

#: Ordinary earlier commits each repository gets, so a deploy is not the only thing in history.
HISTORY = (
    ("Bump dependencies", "renovate[bot]", "requirements.txt", 4 * 24 * 60),
    ("Add request id to access logs", "lee", "app/logging.py", 3 * 24 * 60),
    ("Tidy README", "mo", "README.md", 2 * 24 * 60),
)


def _sha(*parts: str) -> str:
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


def _patch(text: str) -> str:
    """A file's change as a unified diff (kept as-is when it already is one)."""
    if text.lstrip().startswith("@@"):
        return text
    lines = text.splitlines() or [text]
    body = "\n".join(f"+{ln}" for ln in lines)
    return f"@@ -1,0 +1,{len(lines)} @@\n{body}"


def seed_github(fake: FakeGitHub, world: World) -> None:
    """Create every repository, its history and its deploys in the fake, deterministically."""
    sc = world.scenario
    for spec in sorted(sc.services, key=lambda s: s.name):
        if not spec.repo:
            continue
        if spec.repo not in fake.repos:
            fake.add_repo(spec.repo, description=f"{spec.name} service")
            fake.add_workflow(spec.repo, name="deploy", path=".github/workflows/deploy.yml")
        for message, author, path, minutes in HISTORY:
            at = world.time(-minutes)
            sha = _sha(spec.repo, message)
            fake.add_commit(
                spec.repo,
                sha,
                message,
                at,
                author_name=author,
                author_login=author,
                files=[{"filename": path, "status": "modified", "patch": "@@ -1 +1 @@\n-old\n+new"}],
            )
            fake.add_run(spec.repo, sha, at + timedelta(minutes=2), updated_at=at + timedelta(minutes=6))
            fake.add_deployment(
                spec.repo, sha, at + timedelta(minutes=6), statuses=[("success", at + timedelta(minutes=6))]
            )
    for ev in world.changes():
        change = ev.change
        if change is None or change.via != "github-actions" or change.commit is None:
            continue
        spec = sc.service(change.service)
        if not spec.repo:
            continue
        commit = change.commit
        deployed = world.time(ev.at)
        authored = deployed - timedelta(minutes=9)
        files = [
            {"filename": path, "status": "modified", "patch": _patch(text)}
            for path, text in sorted(commit.files.items())
        ]
        fake.add_commit(
            spec.repo,
            commit.sha,
            commit.message,
            authored,
            author_name=commit.author,
            author_login=commit.author,
            files=files,
        )
        fake.add_run(
            spec.repo,
            commit.sha,
            deployed - timedelta(minutes=6),
            run_started_at=deployed - timedelta(minutes=6),
            updated_at=deployed,
            actor_login=commit.author,
        )
        fake.add_deployment(
            spec.repo, commit.sha, deployed, creator_login=commit.author, statuses=[("success", deployed)]
        )

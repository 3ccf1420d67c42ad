"""The fake GitHub's write side: issues, git commits and refs, pull requests (what the fix buttons use).

Shaped after GitHub's REST responses for the fields PyGithub reads. A git commit's tree is a stand-in sha
derived from the commit (the fake keeps no trees): a revert commit carries its parent's tree, and the fake
records which commit's content a tree is, so a test can check that a revert restores the parent's content.
Nothing is ever merged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.fake_github import FakeGitHub, GhCommit, GhRepo
from bot.sandbox.httpserver import Request, Response


@dataclass
class GhIssue:
    """An issue opened through the API."""

    number: int
    title: str
    body: str
    labels: list[str] = field(default_factory=list)


@dataclass
class GhPull:
    """A pull request opened through the API (never merged here)."""

    number: int
    title: str
    body: str
    head: str
    base: str


def tree_of(sha: str) -> str:
    """The stand-in tree sha of a commit's content."""
    return hashlib.sha1(f"tree:{sha}".encode()).hexdigest()


class GithubWrites:
    """Adds the write routes to a `FakeGitHub`; `issues` / `pulls` per repository hold what was opened."""

    def __init__(self, gh: FakeGitHub) -> None:
        self.gh = gh
        self.issues: dict[str, list[GhIssue]] = {}
        self.pulls: dict[str, list[GhPull]] = {}
        self.trees: dict[str, str] = {}  # tree sha -> the commit whose content it is
        r = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        gh.add_route("POST", r + r"/issues", gh._wrap(self._issue))
        gh.add_route("GET", r + r"/git/commits/(?P<sha>[0-9a-f]+)", gh._wrap(self._git_commit))
        gh.add_route("POST", r + r"/git/commits", gh._wrap(self._new_commit))
        gh.add_route("POST", r + r"/git/refs", gh._wrap(self._new_ref))
        gh.add_route("POST", r + r"/pulls", gh._wrap(self._pull))

    def _repo(self, req: Request) -> GhRepo:
        return self.gh._get_repo(req)

    def _issue(self, req: Request, base: str) -> Response:
        r, p = self._repo(req), req.json() or {}
        if not p.get("title"):
            return self.gh._error(422, "Validation Failed: title is missing")
        issues = self.issues.setdefault(r.full_name, [])
        issue = GhIssue(
            len(issues) + 1, str(p["title"]), str(p.get("body") or ""), list(p.get("labels") or [])
        )
        issues.append(issue)
        url = f"https://github.com/{r.full_name}/issues/{issue.number}"
        out = {"id": self.gh._new_id(), "number": issue.number, "title": issue.title, "body": issue.body}
        out |= {"state": "open", "html_url": url, "url": f"{base}/repos/{r.full_name}/issues/{issue.number}"}
        return Response.json(out, 201)

    def _git_commit_json(self, base: str, r: GhRepo, c: GhCommit) -> dict[str, Any]:
        tree = tree_of(c.sha)
        self.trees.setdefault(tree, c.sha)
        return {
            "sha": c.sha,
            "url": f"{base}/repos/{r.full_name}/git/commits/{c.sha}",
            "message": c.message,
            "tree": {"sha": tree, "url": f"{base}/repos/{r.full_name}/git/trees/{tree}"},
            "parents": [{"sha": p, "url": f"{base}/repos/{r.full_name}/git/commits/{p}"} for p in c.parents],
            "author": {"name": c.author_name, "email": c.author_email, "date": c.date.isoformat()},
            "committer": {"name": c.author_name, "email": c.author_email, "date": c.date.isoformat()},
        }

    def _git_commit(self, req: Request, base: str) -> Response:
        r = self._repo(req)
        c = self.gh._find_commit(r, req.path_params["sha"])
        if c is None:
            return self.gh._error(404, "Not Found")
        return Response.json(self._git_commit_json(base, r, c))

    def _new_commit(self, req: Request, base: str) -> Response:
        r, p = self._repo(req), req.json() or {}
        tree, parents = str(p.get("tree") or ""), [str(x) for x in p.get("parents") or []]
        if tree not in self.trees or not parents or any(self.gh._find_commit(r, x) is None for x in parents):
            return self.gh._error(422, "Validation Failed: tree or parents unknown")
        sha = hashlib.sha1(f"{tree}:{parents}:{p.get('message')}".encode()).hexdigest()
        c = GhCommit(
            sha,
            str(p.get("message") or ""),
            datetime.now(UTC),
            "sre-bot",
            "sre-bot",
            "sre-bot@example.com",
            parents,
        )
        r.commits.append(c)
        self.trees[tree_of(sha)] = self.trees[tree]  # the new commit's content is the tree it was given
        return Response.json(self._git_commit_json(base, r, c), 201)

    def _new_ref(self, req: Request, base: str) -> Response:
        r, p = self._repo(req), req.json() or {}
        ref, sha = str(p.get("ref") or ""), str(p.get("sha") or "")
        if not ref.startswith("refs/heads/") or self.gh._find_commit(r, sha) is None:
            return self.gh._error(422, "Validation Failed: ref or sha invalid")
        branch = ref.removeprefix("refs/heads/")
        if branch in r.branches:
            return self.gh._error(422, "Reference already exists")
        r.branches[branch] = sha
        obj = {"sha": sha, "type": "commit", "url": f"{base}/repos/{r.full_name}/git/commits/{sha}"}
        return Response.json({"ref": ref, "url": f"{base}/repos/{r.full_name}/git/{ref}", "object": obj}, 201)

    def _pull(self, req: Request, base: str) -> Response:
        r, p = self._repo(req), req.json() or {}
        head, target = str(p.get("head") or ""), str(p.get("base") or "")
        if head not in r.branches or target not in r.branches:
            return self.gh._error(422, "Validation Failed: head or base branch unknown")
        pulls = self.pulls.setdefault(r.full_name, [])
        pr = GhPull(len(pulls) + 1, str(p.get("title") or ""), str(p.get("body") or ""), head, target)
        pulls.append(pr)
        url = f"https://github.com/{r.full_name}/pull/{pr.number}"
        out = {
            "id": self.gh._new_id(),
            "number": pr.number,
            "title": pr.title,
            "body": pr.body,
            "state": "open",
        }
        out |= {"merged": False, "html_url": url, "url": f"{base}/repos/{r.full_name}/pulls/{pr.number}"}
        out |= {
            "head": {"ref": head, "sha": r.branches[head]},
            "base": {"ref": target, "sha": r.branches[target]},
        }
        return Response.json(out, 201)

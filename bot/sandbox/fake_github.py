"""A stateful fake of the GitHub REST API, for PyGithub ``Github(base_url=fake.base_url, auth=Auth.Token(...))``.

State is plain dataclasses filled by the caller through :class:`FakeGitHub`'s ``add_*`` methods: repositories,
commits (with files and patches), workflows and their runs, deployments and their statuses. Endpoints are those
PyGithub calls for ``get_repo``, ``get_commits``, ``get_commit``, ``compare``, ``get_branch``, ``get_workflows``,
``get_workflow``/``get_runs``, ``get_workflow_runs``/``get_workflow_run``, ``get_deployments``/``get_statuses``,
users' and organisations' repository listings, and ``/rate_limit``. Bodies carry the fields PyGithub 2.10 reads
(shaped after GitHub's OpenAPI examples); every ``url`` field and every ``Link`` header is built from the
request's ``Host`` header, so PyGithub's pagination stays on loopback.

Choices: commit listings are newest first by date; ``since``/``until`` compare the commit date; ``sha=`` takes a
branch (the default branch is every commit) or a sha (its ancestry); short shas given to ``add_commit`` are
expanded deterministically to 40 hex characters keeping the prefix (:func:`expand_sha`) and any unique prefix of
4+ characters finds a commit, but the ``head_sha``/``sha`` *filters* of runs and deployments need the full sha,
as on GitHub.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.sandbox.httpserver import LoopbackServer, Request, Response

_HEX = re.compile(r"[0-9a-f]+")


def expand_sha(sha: str) -> str:
    """A 40-hex sha from `sha`: kept if full, else its hex prefix padded with a hash of it (deterministic)."""
    s = sha.lower()
    if len(s) == 40 and _HEX.fullmatch(s):
        return s
    if not _HEX.fullmatch(s) or len(s) > 40:
        return hashlib.sha1(sha.encode()).hexdigest()
    return s + hashlib.sha1(s.encode()).hexdigest()[: 40 - len(s)]


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(s: str) -> datetime:
    s = s.strip()
    if len(s) == 10:
        return datetime.fromisoformat(s).replace(tzinfo=UTC)
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


# -- state ----------------------------------------------------------------------------------------------------------


@dataclass
class GhFile:
    """One file changed by a commit."""

    filename: str
    status: str = "modified"
    additions: int = 0
    deletions: int = 0
    patch: str | None = None
    previous_filename: str | None = None


@dataclass
class GhCommit:
    """A commit. ``sha`` is always the full 40-hex sha once added."""

    sha: str
    message: str
    date: datetime
    author_name: str = "Dev Eloper"
    author_login: str | None = "dev"
    author_email: str = "dev@example.com"
    parents: list[str] = field(default_factory=list)
    files: list[GhFile] = field(default_factory=list)


@dataclass
class GhWorkflow:
    """A workflow file of a repository."""

    id: int
    name: str = "deploy"
    path: str = ".github/workflows/deploy.yml"
    state: str = "active"
    created_at: datetime = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class GhWorkflowRun:
    """One run of a workflow."""

    id: int
    head_sha: str
    created_at: datetime
    workflow_id: int
    name: str = "deploy"
    path: str = ".github/workflows/deploy.yml"
    event: str = "push"
    status: str = "completed"
    conclusion: str | None = "success"
    head_branch: str = "main"
    run_number: int = 1
    run_attempt: int = 1
    updated_at: datetime | None = None
    run_started_at: datetime | None = None
    actor_login: str = "dev"
    display_title: str = ""
    html_url: str = ""


@dataclass
class GhDeploymentStatus:
    """One status of a deployment."""

    id: int
    state: str
    created_at: datetime
    description: str = ""
    environment: str = "production"
    creator_login: str = "deploy-bot"
    log_url: str = ""
    environment_url: str = ""


@dataclass
class GhDeployment:
    """A deployment of a sha to an environment, with its statuses oldest first."""

    id: int
    sha: str
    created_at: datetime
    ref: str = "main"
    environment: str = "production"
    task: str = "deploy"
    description: str = ""
    creator_login: str = "deploy-bot"
    payload: dict[str, Any] = field(default_factory=dict)
    statuses: list[GhDeploymentStatus] = field(default_factory=list)


@dataclass
class GhRepo:
    """A repository and everything in it."""

    id: int
    full_name: str
    default_branch: str = "main"
    private: bool = False
    description: str = ""
    created_at: datetime = datetime(2023, 1, 1, tzinfo=UTC)
    branches: dict[str, str] = field(default_factory=dict)  # name -> head sha
    commits: list[GhCommit] = field(default_factory=list)
    workflows: list[GhWorkflow] = field(default_factory=list)
    runs: list[GhWorkflowRun] = field(default_factory=list)
    deployments: list[GhDeployment] = field(default_factory=list)

    @property
    def owner(self) -> str:
        """The owner's login."""
        return self.full_name.split("/")[0]

    @property
    def name(self) -> str:
        """The repository's name without the owner."""
        return self.full_name.split("/")[1]


@dataclass(frozen=True)
class GhRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float
    status: int


@dataclass
class GhFault:
    """A scripted failure for the next `times` requests whose path matches `path` (regex search)."""

    path: str
    status: int
    times: int
    message: str
    headers: dict[str, str]


class _NotFound(Exception):
    pass


# -- the server -------------------------------------------------------------------------------------------------------


class FakeGitHub(LoopbackServer):
    """The fake GitHub REST API."""

    def __init__(
        self, *, latency: float = 0.0, require_auth: bool = True, user_login: str = "sre-bot"
    ) -> None:
        super().__init__(latency=latency)
        self.require_auth = require_auth
        self.user_login = user_login
        self._state_lock = threading.RLock()
        self._init_state()
        r = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        routes: list[tuple[str, Callable[[Request, str], Response]]] = [
            (r"/rate_limit", self._rate_limit),
            (r"/user", self._auth_user),
            (r"/users/(?P<login>[^/]+)", self._user),
            (r"/orgs/(?P<login>[^/]+)", self._user),
            (r"/users/(?P<login>[^/]+)/repos", self._owner_repos),
            (r"/orgs/(?P<login>[^/]+)/repos", self._owner_repos),
            (r"/user/repos", self._my_repos),
            (r, self._repo),
            (r + r"/commits", self._commits),
            (r + r"/commits/(?P<ref>.+)", self._commit),
            (r + r"/compare/(?P<basehead>.+)", self._compare),
            (r + r"/branches/(?P<branch>.+)", self._branch),
            (r + r"/actions/workflows", self._workflows),
            (r + r"/actions/workflows/(?P<wf>[^/]+)", self._workflow),
            (r + r"/actions/workflows/(?P<wf>[^/]+)/runs", self._workflow_runs),
            (r + r"/actions/runs", self._runs),
            (r + r"/actions/runs/(?P<run>\d+)", self._run),
            (r + r"/deployments", self._deployments),
            (r + r"/deployments/(?P<dep>\d+)", self._deployment),
            (r + r"/deployments/(?P<dep>\d+)/statuses", self._statuses),
        ]
        for pattern, fn in routes:
            self.add_route("GET", pattern, self._wrap(fn))
        self.add_route("POST", r + r"/actions/runs/(?P<run>\d+)/rerun", self._wrap(self._rerun))

    def _init_state(self) -> None:
        self.repos: dict[str, GhRepo] = {}
        self.gh_requests: list[GhRequest] = []
        self.faults: list[GhFault] = []
        self._next_id = 1000
        #: Called with (repository, run) after a run is re-run: the sandbox's estate reacts to the deploy.
        self.on_rerun: Callable[[str, GhWorkflowRun], None] | None = None

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- state setters ------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every repository, request and fault."""
        with self._state_lock:
            self.requests.clear()
            self._init_state()

    def add_repo(
        self, full_name: str, *, default_branch: str = "main", private: bool = False, description: str = ""
    ) -> GhRepo:
        """Create a repository (``owner/name``); returns it (existing one if already there)."""
        with self._state_lock:
            if full_name in self.repos:
                return self.repos[full_name]
            repo = GhRepo(self._new_id(), full_name, default_branch, private, description)
            self.repos[full_name] = repo
            return repo

    def add_commit(
        self,
        repo: str,
        sha: str,
        message: str,
        date: datetime,
        *,
        author_name: str = "Dev Eloper",
        author_login: str | None = "dev",
        author_email: str | None = None,
        parents: Sequence[str] | None = None,
        files: Iterable[GhFile | Mapping[str, Any]] = (),
        branch: str | None = None,
    ) -> GhCommit:
        """Add a commit on `branch` (default branch by default) and move the branch head to it.

        `parents` default to the branch's current head (linear history). `files` are :class:`GhFile` or dicts
        with its fields. Short shas are expanded with :func:`expand_sha`.
        """
        with self._state_lock:
            r = self._repo_or_raise(repo)
            branch = branch or r.default_branch
            full = expand_sha(sha)
            if parents is None:
                head = r.branches.get(branch)
                parent_shas = [head] if head else []
            else:
                parent_shas = [self._resolve_sha(r, p) or expand_sha(p) for p in parents]
            fs = [f if isinstance(f, GhFile) else GhFile(**f) for f in files]
            c = GhCommit(
                full,
                message,
                _aware(date),
                author_name,
                author_login,
                author_email or f"{(author_login or 'dev')}@example.com",
                parent_shas,
                fs,
            )
            r.commits.append(c)
            r.branches[branch] = full
            return c

    def add_workflow(
        self, repo: str, *, name: str = "deploy", path: str = ".github/workflows/deploy.yml"
    ) -> GhWorkflow:
        """Add (or return) the workflow at `path`."""
        with self._state_lock:
            r = self._repo_or_raise(repo)
            for wf in r.workflows:
                if wf.path == path:
                    return wf
            wf = GhWorkflow(self._new_id(), name, path)
            r.workflows.append(wf)
            return wf

    def add_run(
        self,
        repo: str,
        head_sha: str,
        created_at: datetime,
        *,
        conclusion: str | None = "success",
        status: str = "completed",
        event: str = "push",
        workflow: str = "deploy",
        path: str | None = None,
        head_branch: str | None = None,
        updated_at: datetime | None = None,
        run_started_at: datetime | None = None,
        actor_login: str = "dev",
        run_id: int | None = None,
    ) -> GhWorkflowRun:
        """Add a workflow run (creating the workflow if needed). `updated_at` defaults to created + 4 min."""
        with self._state_lock:
            r = self._repo_or_raise(repo)
            wf = self.add_workflow(repo, name=workflow, path=path or f".github/workflows/{workflow}.yml")
            full = self._resolve_sha(r, head_sha) or expand_sha(head_sha)
            created = _aware(created_at)
            number = sum(1 for x in r.runs if x.workflow_id == wf.id) + 1
            commit = self._find_commit(r, full)
            run = GhWorkflowRun(
                id=run_id or self._new_id() * 1000,
                head_sha=full,
                created_at=created,
                workflow_id=wf.id,
                name=wf.name,
                path=wf.path,
                event=event,
                status=status,
                conclusion=conclusion if status == "completed" else None,
                head_branch=head_branch or r.default_branch,
                run_number=number,
                updated_at=_aware(updated_at) if updated_at else created + timedelta(minutes=4),
                run_started_at=_aware(run_started_at) if run_started_at else created + timedelta(seconds=5),
                actor_login=actor_login,
                display_title=commit.message.splitlines()[0] if commit else wf.name,
            )
            run.html_url = f"https://github.com/{r.full_name}/actions/runs/{run.id}"
            r.runs.append(run)
            return run

    def add_deployment(
        self,
        repo: str,
        sha: str,
        created_at: datetime,
        *,
        environment: str = "production",
        ref: str | None = None,
        creator_login: str = "deploy-bot",
        description: str = "",
        statuses: Iterable[tuple[str, datetime] | GhDeploymentStatus] = (),
    ) -> GhDeployment:
        """Add a deployment with statuses given as ``(state, created_at)`` pairs or objects, oldest first."""
        with self._state_lock:
            r = self._repo_or_raise(repo)
            full = self._resolve_sha(r, sha) or expand_sha(sha)
            dep = GhDeployment(
                self._new_id(),
                full,
                _aware(created_at),
                ref=ref or r.default_branch,
                environment=environment,
                creator_login=creator_login,
                description=description,
            )
            for s in statuses:
                if isinstance(s, tuple):
                    self.add_deployment_status(dep, *s)
                else:
                    dep.statuses.append(s)
            r.deployments.append(dep)
            return dep

    def add_deployment_status(
        self, deployment: GhDeployment, state: str, created_at: datetime, *, description: str = ""
    ) -> GhDeploymentStatus:
        """Append a status (``queued``, ``in_progress``, ``success``, ``failure``, ``error``, ...)."""
        with self._state_lock:
            st = GhDeploymentStatus(
                self._new_id(),
                state,
                _aware(created_at),
                description,
                deployment.environment,
                deployment.creator_login,
            )
            deployment.statuses.append(st)
            return st

    def fail_next(
        self, path: str = "", *, status: int = 500, times: int = 1, message: str | None = None
    ) -> None:
        """Make the next `times` requests whose path matches the regex `path` fail with `status`."""
        msg = message or {404: "Not Found", 500: "Server Error", 502: "Bad Gateway"}.get(status, "Error")
        with self._state_lock:
            self.faults.append(GhFault(path, status, times, msg, {}))

    def rate_limit_next(self, path: str = "", *, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` matching requests with GitHub's primary rate-limit 403."""
        reset = int(time.time()) + retry_after
        headers = {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Used": "5000",
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Resource": "core",
            "Retry-After": str(retry_after),
        }
        msg = "API rate limit exceeded for user ID 1."
        with self._state_lock:
            self.faults.append(GhFault(path, 403, times, msg, headers))

    def requests_to(self, path_regex: str) -> list[GhRequest]:
        """Recorded requests whose path matches `path_regex` (search)."""
        with self._state_lock:
            return [r for r in self.gh_requests if re.search(path_regex, r.path)]

    # -- lookups --------------------------------------------------------------------------------------------------

    def _repo_or_raise(self, full_name: str) -> GhRepo:
        try:
            return self.repos[full_name]
        except KeyError:
            raise KeyError(f"no repository {full_name!r}; add_repo() first") from None

    @staticmethod
    def _find_commit(r: GhRepo, sha: str) -> GhCommit | None:
        return next((c for c in r.commits if c.sha == sha), None)

    def _resolve_sha(self, r: GhRepo, ref: str) -> str | None:
        """Full sha for a branch name, a full sha or a unique prefix of 4+ hex characters."""
        if ref in r.branches:
            return r.branches[ref]
        low = ref.lower()
        if len(low) >= 4 and _HEX.fullmatch(low):
            found = [c.sha for c in r.commits if c.sha.startswith(low)]
            if len(found) == 1:
                return found[0]
        return None

    def _ancestry(self, r: GhRepo, sha: str) -> list[GhCommit]:
        seen: set[str] = set()
        out: list[GhCommit] = []
        stack = [sha]
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen.add(s)
            c = self._find_commit(r, s)
            if c is not None:
                out.append(c)
                stack.extend(c.parents)
        return out

    # -- HTTP plumbing ---------------------------------------------------------------------------------------------

    def _wrap(self, fn: Callable[[Request, str], Response]) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            base = f"http://{req.header('host') or f'127.0.0.1:{self.port}'}"
            with self._state_lock:
                resp = self._guard(req) or self._call(fn, req, base)
                self.gh_requests.append(
                    GhRequest(req.method, req.path, dict(req.query), req.headers, req.at, resp.status)
                )
            return resp

        return handler

    def _call(self, fn: Callable[[Request, str], Response], req: Request, base: str) -> Response:
        try:
            return fn(req, base)
        except _NotFound:
            return self._error(404, "Not Found")

    def _guard(self, req: Request) -> Response | None:
        auth = req.header("authorization") or ""
        if self.require_auth and not auth:
            return self._error(401, "Requires authentication")
        for f in self.faults:
            if f.times > 0 and re.search(f.path, req.path):
                f.times -= 1
                if f.times == 0:
                    self.faults.remove(f)
                return self._error(f.status, f.message, f.headers)
        return None

    @staticmethod
    def _rate_headers() -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Used": "1",
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Resource": "core",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
        }

    def _error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
        h = {**self._rate_headers(), **(headers or {})}
        body = {
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": str(status),
        }
        return Response.json(body, status=status, headers=h)

    def _ok(self, obj: Any, headers: Mapping[str, str] | None = None) -> Response:
        return Response.json(obj, headers={**self._rate_headers(), **(headers or {})})

    def _paged(
        self, req: Request, base: str, items: list[Any], wrap: Callable[[list[Any]], Any] | None = None
    ) -> Response:
        per_page = max(1, min(100, int(req.query.get("per_page") or 30)))
        page = max(1, int(req.query.get("page") or 1))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]

        def link(n: int) -> str:
            q = {**req.query, "per_page": str(per_page), "page": str(n)}
            return f"<{base}{urllib.parse.quote(req.path)}?{urllib.parse.urlencode(q)}>"

        rels = []
        if page < last:
            rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        if page > 1:
            rels += [f'{link(page - 1)}; rel="prev"', f'{link(1)}; rel="first"']
        headers = {"Link": ", ".join(rels)} if rels else {}
        return self._ok(wrap(chunk) if wrap else chunk, headers)

    def _get_repo(self, req: Request) -> GhRepo:
        r = self.repos.get(f"{req.path_params['owner']}/{req.path_params['repo']}")
        if r is None:
            raise _NotFound
        return r

    # -- JSON shapes --------------------------------------------------------------------------------------------------

    def _user_json(self, base: str, login: str, kind: str = "User") -> dict[str, Any]:
        uid = int(hashlib.sha1(login.encode()).hexdigest()[:7], 16)
        path = "orgs" if kind == "Organization" else "users"
        return {
            "login": login,
            "id": uid,
            "node_id": f"U_{uid}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
            "url": f"{base}/{path}/{login}",
            "html_url": f"https://github.com/{login}",
            "repos_url": f"{base}/{path}/{login}/repos",
            "type": kind,
            "site_admin": False,
        }

    def _owner_kind(self, login: str) -> str:
        return "Organization" if login.lower() != self.user_login.lower() else "User"

    def _repo_json(self, base: str, r: GhRepo) -> dict[str, Any]:
        api = f"{base}/repos/{r.full_name}"
        return {
            "id": r.id,
            "node_id": f"R_{r.id}",
            "name": r.name,
            "full_name": r.full_name,
            "private": r.private,
            "owner": self._user_json(base, r.owner, self._owner_kind(r.owner)),
            "html_url": f"https://github.com/{r.full_name}",
            "description": r.description or None,
            "fork": False,
            "url": api,
            "commits_url": api + "/commits{/sha}",
            "compare_url": api + "/compare/{base}...{head}",
            "deployments_url": api + "/deployments",
            "default_branch": r.default_branch,
            "visibility": "private" if r.private else "public",
            "archived": False,
            "disabled": False,
            "created_at": _iso(r.created_at),
            "updated_at": _iso(max([c.date for c in r.commits], default=r.created_at)),
            "pushed_at": _iso(max([c.date for c in r.commits], default=r.created_at)),
        }

    def _commit_json(self, base: str, r: GhRepo, c: GhCommit, *, full: bool) -> dict[str, Any]:
        api = f"{base}/repos/{r.full_name}"
        person = {"name": c.author_name, "email": c.author_email, "date": _iso(c.date)}
        user = self._user_json(base, c.author_login) if c.author_login else None
        out: dict[str, Any] = {
            "sha": c.sha,
            "node_id": f"C_{c.sha[:12]}",
            "commit": {
                "author": person,
                "committer": person,
                "message": c.message,
                "tree": {
                    "sha": expand_sha(c.sha[:8] + "ee"),
                    "url": f"{api}/git/trees/{expand_sha(c.sha[:8] + 'ee')}",
                },
                "url": f"{api}/git/commits/{c.sha}",
                "comment_count": 0,
                "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None},
            },
            "url": f"{api}/commits/{c.sha}",
            "html_url": f"https://github.com/{r.full_name}/commit/{c.sha}",
            "comments_url": f"{api}/commits/{c.sha}/comments",
            "author": user,
            "committer": user,
            "parents": [
                {
                    "sha": p,
                    "url": f"{api}/commits/{p}",
                    "html_url": f"https://github.com/{r.full_name}/commit/{p}",
                }
                for p in c.parents
            ],
        }
        if full:
            adds = sum(f.additions for f in c.files)
            dels = sum(f.deletions for f in c.files)
            out["stats"] = {"total": adds + dels, "additions": adds, "deletions": dels}
            out["files"] = [self._file_json(r, c.sha, f) for f in c.files]
        return out

    @staticmethod
    def _file_json(r: GhRepo, sha: str, f: GhFile) -> dict[str, Any]:
        path = urllib.parse.quote(f.filename)
        out: dict[str, Any] = {
            "sha": hashlib.sha1(f"{sha}:{f.filename}".encode()).hexdigest(),
            "filename": f.filename,
            "status": f.status,
            "additions": f.additions,
            "deletions": f.deletions,
            "changes": f.additions + f.deletions,
            "blob_url": f"https://github.com/{r.full_name}/blob/{sha}/{path}",
            "raw_url": f"https://github.com/{r.full_name}/raw/{sha}/{path}",
            "contents_url": f"https://api.github.com/repos/{r.full_name}/contents/{path}?ref={sha}",
        }
        if f.patch is not None:
            out["patch"] = f.patch
        if f.previous_filename:
            out["previous_filename"] = f.previous_filename
        return out

    def _workflow_json(self, base: str, r: GhRepo, wf: GhWorkflow) -> dict[str, Any]:
        return {
            "id": wf.id,
            "node_id": f"W_{wf.id}",
            "name": wf.name,
            "path": wf.path,
            "state": wf.state,
            "created_at": _iso(wf.created_at),
            "updated_at": _iso(wf.created_at),
            "url": f"{base}/repos/{r.full_name}/actions/workflows/{wf.id}",
            "html_url": f"https://github.com/{r.full_name}/blob/{r.default_branch}/{wf.path}",
            "badge_url": f"https://github.com/{r.full_name}/workflows/{urllib.parse.quote(wf.name)}/badge.svg",
        }

    def _run_json(self, base: str, r: GhRepo, run: GhWorkflowRun) -> dict[str, Any]:
        api = f"{base}/repos/{r.full_name}"
        url = f"{api}/actions/runs/{run.id}"
        c = self._find_commit(r, run.head_sha)
        actor = self._user_json(base, run.actor_login)
        return {
            "id": run.id,
            "name": run.name,
            "node_id": f"WFR_{run.id}",
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "path": run.path,
            "display_title": run.display_title or run.name,
            "run_number": run.run_number,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": run.workflow_id,
            "check_suite_id": run.id + 1,
            "url": url,
            "html_url": run.html_url,
            "pull_requests": [],
            "created_at": _iso(run.created_at),
            "updated_at": _iso(run.updated_at or run.created_at),
            "run_started_at": _iso(run.run_started_at or run.created_at),
            "run_attempt": run.run_attempt,
            "actor": actor,
            "triggering_actor": actor,
            "jobs_url": url + "/jobs",
            "logs_url": url + "/logs",
            "artifacts_url": url + "/artifacts",
            "cancel_url": url + "/cancel",
            "rerun_url": url + "/rerun",
            "workflow_url": f"{api}/actions/workflows/{run.workflow_id}",
            "head_commit": (
                {
                    "id": c.sha,
                    "tree_id": expand_sha(c.sha[:8] + "ee"),
                    "message": c.message,
                    "timestamp": _iso(c.date),
                    "author": {"name": c.author_name, "email": c.author_email},
                    "committer": {"name": c.author_name, "email": c.author_email},
                }
                if c
                else None
            ),
            "repository": {"id": r.id, "name": r.name, "full_name": r.full_name, "url": api},
            "head_repository": {"id": r.id, "name": r.name, "full_name": r.full_name, "url": api},
        }

    def _deployment_json(self, base: str, r: GhRepo, d: GhDeployment) -> dict[str, Any]:
        api = f"{base}/repos/{r.full_name}"
        return {
            "url": f"{api}/deployments/{d.id}",
            "id": d.id,
            "node_id": f"DE_{d.id}",
            "sha": d.sha,
            "ref": d.ref,
            "task": d.task,
            "payload": d.payload,
            "original_environment": d.environment,
            "environment": d.environment,
            "description": d.description or None,
            "creator": self._user_json(base, d.creator_login),
            "created_at": _iso(d.created_at),
            "updated_at": _iso(d.statuses[-1].created_at if d.statuses else d.created_at),
            "statuses_url": f"{api}/deployments/{d.id}/statuses",
            "repository_url": api,
            "transient_environment": False,
            "production_environment": d.environment == "production",
        }

    def _status_json(self, base: str, r: GhRepo, d: GhDeployment, s: GhDeploymentStatus) -> dict[str, Any]:
        api = f"{base}/repos/{r.full_name}"
        return {
            "url": f"{api}/deployments/{d.id}/statuses/{s.id}",
            "id": s.id,
            "node_id": f"DES_{s.id}",
            "state": s.state,
            "creator": self._user_json(base, s.creator_login),
            "description": s.description,
            "environment": s.environment,
            "target_url": s.log_url,
            "log_url": s.log_url,
            "environment_url": s.environment_url,
            "created_at": _iso(s.created_at),
            "updated_at": _iso(s.created_at),
            "deployment_url": f"{api}/deployments/{d.id}",
            "repository_url": api,
        }

    # -- endpoints ------------------------------------------------------------------------------------------------

    def _rate_limit(self, req: Request, base: str) -> Response:
        core = {"limit": 5000, "remaining": 4999, "reset": int(time.time()) + 3600, "used": 1}
        return self._ok({"resources": {"core": core, "search": core}, "rate": core})

    def _auth_user(self, req: Request, base: str) -> Response:
        return self._ok(self._user_json(base, self.user_login))

    def _user(self, req: Request, base: str) -> Response:
        login = req.path_params["login"]
        kind = "Organization" if req.path.startswith("/orgs/") else self._owner_kind(login)
        if not any(r.owner == login for r in self.repos.values()) and login != self.user_login:
            raise _NotFound
        return self._ok(self._user_json(base, login, kind))

    def _owner_repos(self, req: Request, base: str) -> Response:
        login = req.path_params["login"]
        repos = [r for r in self.repos.values() if r.owner.lower() == login.lower()]
        if not repos and login != self.user_login:
            raise _NotFound
        return self._paged(
            req, base, [self._repo_json(base, r) for r in sorted(repos, key=lambda r: r.full_name)]
        )

    def _my_repos(self, req: Request, base: str) -> Response:
        repos = sorted(self.repos.values(), key=lambda r: r.full_name)
        return self._paged(req, base, [self._repo_json(base, r) for r in repos])

    def _repo(self, req: Request, base: str) -> Response:
        return self._ok(self._repo_json(base, self._get_repo(req)))

    def _commits(self, req: Request, base: str) -> Response:
        r = self._get_repo(req)
        q = req.query
        if q.get("sha") and q["sha"] != r.default_branch:
            head = self._resolve_sha(r, q["sha"])
            if head is None:
                raise _NotFound
            commits = self._ancestry(r, head)
        else:
            head = r.branches.get(r.default_branch)
            commits = self._ancestry(r, head) if head else []
        if "since" in q:
            since = _parse_time(q["since"])
            commits = [c for c in commits if c.date >= since]
        if "until" in q:
            until = _parse_time(q["until"])
            commits = [c for c in commits if c.date <= until]
        if q.get("path"):
            p = q["path"].rstrip("/")
            commits = [
                c for c in commits if any(f.filename == p or f.filename.startswith(p + "/") for f in c.files)
            ]
        if q.get("author"):
            a = q["author"].lower()
            commits = [c for c in commits if a in ((c.author_login or "").lower(), c.author_email.lower())]
        commits.sort(key=lambda c: c.date, reverse=True)
        return self._paged(req, base, [self._commit_json(base, r, c, full=False) for c in commits])

    def _commit(self, req: Request, base: str) -> Response:
        r = self._get_repo(req)
        sha = self._resolve_sha(r, req.path_params["ref"])
        c = self._find_commit(r, sha) if sha else None
        if c is None:
            return self._error(422, f"No commit found for SHA: {req.path_params['ref']}")
        body = self._commit_json(base, r, c, full=True)
        per_page = int(req.query.get("per_page") or 300)
        page = int(req.query.get("page") or 1)
        files = body["files"]
        body["files"] = files[(page - 1) * per_page : page * per_page]
        return self._ok(body)

    def _compare(self, req: Request, base: str) -> Response:
        r = self._get_repo(req)
        base_ref, sep, head_ref = req.path_params["basehead"].partition("...")
        if not sep:
            raise _NotFound
        b, h = self._resolve_sha(r, base_ref), self._resolve_sha(r, head_ref)
        if b is None or h is None:
            raise _NotFound
        base_anc = {c.sha for c in self._ancestry(r, b)}
        head_anc = {c.sha for c in self._ancestry(r, h)}
        ahead = sorted((c for c in self._ancestry(r, h) if c.sha not in base_anc), key=lambda c: c.date)
        behind = [c for c in self._ancestry(r, b) if c.sha not in head_anc]
        merge_base = next(
            (
                c
                for c in sorted(self._ancestry(r, h), key=lambda c: c.date, reverse=True)
                if c.sha in base_anc
            ),
            None,
        )
        status = (
            "identical"
            if not ahead and not behind
            else "ahead"
            if not behind
            else "behind"
            if not ahead
            else "diverged"
        )
        files: dict[str, GhFile] = {}
        last_sha: dict[str, str] = {}
        for c in ahead:
            for f in c.files:
                prev = files.get(f.filename)
                patch = (
                    f.patch if prev is None or prev.patch is None else (prev.patch + "\n" + (f.patch or ""))
                )
                files[f.filename] = GhFile(
                    f.filename,
                    f.status if prev is None else ("added" if prev.status == "added" else f.status),
                    (prev.additions if prev else 0) + f.additions,
                    (prev.deletions if prev else 0) + f.deletions,
                    patch,
                    f.previous_filename,
                )
                last_sha[f.filename] = c.sha
        per_page = int(req.query.get("per_page") or 250)
        page = int(req.query.get("page") or 1)
        commits_page = ahead[(page - 1) * per_page : page * per_page]
        base_c = self._find_commit(r, b)
        body = {
            "url": f"{base}/repos/{r.full_name}/compare/{base_ref}...{head_ref}",
            "html_url": f"https://github.com/{r.full_name}/compare/{base_ref}...{head_ref}",
            "permalink_url": f"https://github.com/{r.full_name}/compare/{b[:7]}...{h[:7]}",
            "diff_url": f"https://github.com/{r.full_name}/compare/{base_ref}...{head_ref}.diff",
            "patch_url": f"https://github.com/{r.full_name}/compare/{base_ref}...{head_ref}.patch",
            "base_commit": self._commit_json(base, r, base_c, full=False) if base_c else None,
            "merge_base_commit": self._commit_json(base, r, merge_base, full=False) if merge_base else None,
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": len(behind),
            "total_commits": len(ahead),
            "commits": [self._commit_json(base, r, c, full=False) for c in commits_page],
            "files": [self._file_json(r, last_sha[name], f) for name, f in files.items()],
        }
        return self._ok(body)

    def _branch(self, req: Request, base: str) -> Response:
        r = self._get_repo(req)
        name = req.path_params["branch"]
        sha = r.branches.get(name)
        c = self._find_commit(r, sha) if sha else None
        if c is None:
            raise _NotFound
        return self._ok(
            {
                "name": name,
                "commit": self._commit_json(base, r, c, full=False),
                "protected": name == r.default_branch,
                "_links": {
                    "self": f"{base}/repos/{r.full_name}/branches/{name}",
                    "html": f"https://github.com/{r.full_name}/tree/{name}",
                },
            }
        )

    def _workflows(self, req: Request, base: str) -> Response:
        r = self._get_repo(req)
        items = [self._workflow_json(base, r, wf) for wf in r.workflows]
        return self._paged(req, base, items, lambda chunk: {"total_count": len(items), "workflows": chunk})

    def _find_workflow(self, r: GhRepo, ref: str) -> GhWorkflow:
        for wf in r.workflows:
            if str(wf.id) == ref or wf.path.rsplit("/", 1)[-1] == ref:
                return wf
        raise _NotFound

    def _workflow(self, req: Request, base: str) -> Response:
        r = self._get_repo(req)
        return self._ok(self._workflow_json(base, r, self._find_workflow(r, req.path_params["wf"])))

    def _filter_runs(self, req: Request, r: GhRepo, runs: list[GhWorkflowRun]) -> list[GhWorkflowRun]:
        q = req.query
        if q.get("event"):
            runs = [x for x in runs if x.event == q["event"]]
        if q.get("status"):
            s = q["status"]
            runs = [x for x in runs if x.status == s or x.conclusion == s]
        if q.get("head_sha"):
            runs = [x for x in runs if x.head_sha == q["head_sha"]]
        if q.get("branch"):
            runs = [x for x in runs if x.head_branch == q["branch"]]
        if q.get("actor"):
            runs = [x for x in runs if x.actor_login == q["actor"]]
        if q.get("created"):
            runs = [x for x in runs if _in_created(x.created_at, q["created"])]
        return sorted(runs, key=lambda x: (x.created_at, x.id), reverse=True)

    def _runs_page(self, req: Request, base: str, r: GhRepo, runs: list[GhWorkflowRun]) -> Response:
        items = [self._run_json(base, r, x) for x in self._filter_runs(req, r, runs)]
        return self._paged(
            req, base, items, lambda chunk: {"total_count": len(items), "workflow_runs": chunk}
        )

    def _runs(self, req: Request, base: str) -> Response:
        r = self._get_repo(req)
        return self._runs_page(req, base, r, list(r.runs))

    def _workflow_runs(self, req: Request, base: str) -> Response:
        r = self._get_repo(req)
        wf = self._find_workflow(r, req.path_params["wf"])
        return self._runs_page(req, base, r, [x for x in r.runs if x.workflow_id == wf.id])

    def _run(self, req: Request, base: str) -> Response:
        r = self._get_repo(req)
        run = next((x for x in r.runs if x.id == int(req.path_params["run"])), None)
        if run is None:
            raise _NotFound
        return self._ok(self._run_json(base, r, run))

    def _rerun(self, req: Request, base: str) -> Response:
        """``POST .../actions/runs/{id}/rerun``: the run starts again (a new attempt at the same commit); here it
        completes at once, successfully. 201 with an empty object, as GitHub answers."""
        r = self._get_repo(req)
        run = next((x for x in r.runs if x.id == int(req.path_params["run"])), None)
        if run is None:
            raise _NotFound
        now = datetime.now(UTC)
        run.run_attempt += 1
        run.run_started_at = run.updated_at = now
        run.status, run.conclusion = "completed", "success"
        if self.on_rerun is not None:
            self.on_rerun(r.full_name, run)
        return Response.json({}, 201)

    def _deployments(self, req: Request, base: str) -> Response:
        r = self._get_repo(req)
        q = req.query
        deps = list(r.deployments)
        for key in ("sha", "ref", "environment", "task"):
            if q.get(key):
                deps = [d for d in deps if getattr(d, key) == q[key]]
        deps.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        return self._paged(req, base, [self._deployment_json(base, r, d) for d in deps])

    def _get_deployment(self, req: Request, r: GhRepo) -> GhDeployment:
        d = next((d for d in r.deployments if d.id == int(req.path_params["dep"])), None)
        if d is None:
            raise _NotFound
        return d

    def _deployment(self, req: Request, base: str) -> Response:
        r = self._get_repo(req)
        return self._ok(self._deployment_json(base, r, self._get_deployment(req, r)))

    def _statuses(self, req: Request, base: str) -> Response:
        r = self._get_repo(req)
        d = self._get_deployment(req, r)
        items = [self._status_json(base, r, d, s) for s in reversed(d.statuses)]  # newest first, as GitHub
        return self._paged(req, base, items)

    def not_found(self, req: Request) -> Response:
        return self._error(404, "Not Found")


def _in_created(t: datetime, spec: str) -> bool:
    """GitHub's ``created`` qualifier: ``a..b``, ``>=a``, ``>a``, ``<=b``, ``<b`` or a date/time."""
    spec = spec.strip()
    if ".." in spec:
        lo, hi = spec.split("..", 1)
        return (lo in ("", "*") or t >= _parse_time(lo)) and (hi in ("", "*") or t <= _end_of(hi))
    for op in (">=", "<=", ">", "<"):
        if spec.startswith(op):
            v = spec[len(op) :]
            if op == ">=":
                return t >= _parse_time(v)
            if op == "<=":
                return t <= _end_of(v)
            if op == ">":
                return t > _end_of(v)
            return t < _parse_time(v)
    return _parse_time(spec) <= t <= _end_of(spec)


def _end_of(s: str) -> datetime:
    """The last instant a date or date-time names (a bare date covers its whole day)."""
    t = _parse_time(s)
    return t + timedelta(days=1) - timedelta(microseconds=1) if len(s.strip()) == 10 else t

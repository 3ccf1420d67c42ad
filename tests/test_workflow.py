"""The durable investigation workflow on DBOS, against the simulated estate of a public scenario.

One estate per module (booting it takes seconds); each test launches its own DBOS runtime on a fresh system
database. Crash recovery is real: a child process is SIGKILLed mid-workflow and a second one, with the same
executor id and system database, finishes the workflow without re-running the finished steps.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from sqlalchemy.engine import make_url

from bot.config import Settings
from bot.domain import Evidence, InvestigationStatus, Page, Report
from bot.investigation.engine import Deps
from bot.investigation.ports import InvestigationRef
from bot.investigation.service import InvestigationService
from bot.investigation.workflow import Runtime, launch_runtime, workflow_id_for
from bot.storage.db import make_engine, migrate
from bot.storage.store import Store

SCENARIO = "forge-cache-serialization"
ROOT = Path(__file__).resolve().parents[1]


# --- fixtures ------------------------------------------------------------------------------------------------


@dataclass
class Estate:
    """What a test (or a child process) needs of the running sandbox."""

    page: Page
    deps: Callable[[], Deps]
    wiring: dict[str, Any]


@pytest.fixture(scope="module")
def estate(shared_dir: Path, moto_server: object, estates: Any) -> Iterator[Estate]:
    """The forge-cache-serialization estate, live for the module."""
    from bot.sandbox.runner import sandbox
    from bot.sandbox.scenario import load_scenario
    from tests.fixtures_estate import T0

    estates.release()  # one live estate per moto server: ours replaces any cached one
    sc = load_scenario(shared_dir / "scenarios" / f"{SCENARIO}.yaml")
    with sandbox(sc, t0=T0, moto=moto_server) as box:  # type: ignore[arg-type]
        box.deps()  # sets the AWS_* variables the SDK reads
        wiring = {
            "env": {k: v for k, v in box.aws.env().items() if k.startswith("AWS_")},
            "region": box.aws.region,
            "endpoint_url": box.aws.endpoint_url,
            "github_url": box.github.base_url,
            "page": box.page.model_dump(mode="json"),
        }
        yield Estate(box.page, box.deps, wiring)


@dataclass
class Recorder:
    """A notifier that records every call, and checks that a finding was stored before it was told."""

    store: Store
    calls: list[tuple[float, str, tuple[Any, ...]]] = field(default_factory=list)
    unstored: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _add(self, name: str, *args: Any) -> None:
        with self.lock:
            self.calls.append((time.monotonic(), name, args))

    def started(self, ref: InvestigationRef, page: Page, looking_at: str) -> None:
        self._add("started", looking_at)

    def finding(self, ref: InvestigationRef, finding_id: int, evidence: Evidence) -> None:
        if finding_id not in {f.id for f in self.store.findings(ref.investigation_id)}:
            self.unstored.append(finding_id)
        self._add("finding", finding_id, evidence)

    def report(self, ref: InvestigationRef, report: Report) -> None:
        self._add("report", report)

    def status(
        self, ref: InvestigationRef, status: InvestigationStatus, page: Page, root_cause: str | None
    ) -> None:
        self._add("status", status, root_cause)

    def reply(self, ref: InvestigationRef, text: str) -> None:
        self._add("reply", text)

    def post_page(
        self, ref: InvestigationRef, page: Page, channel: str, *, maybe_posted: bool = False
    ) -> tuple[str, str] | None:
        return None  # pages without a thread stay without one: the calls above are what is checked

    def names(self) -> list[str]:
        return [c[1] for c in self.calls]

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [c[2] for c in self.calls if c[1] == name]


@dataclass
class Harness:
    runtime: Runtime
    service: InvestigationService
    store: Store
    notifier: Recorder


def _launch(db_url: str, system_url: str, deps: Callable[[], Deps], **settings_: Any) -> Harness:
    migrate(db_url)
    store = Store(make_engine(db_url))
    notifier = Recorder(store)
    settings = Settings(
        database_url=db_url, dbos_system_database_url=system_url, executor_id="test", **settings_
    )
    runtime = launch_runtime(settings, deps, store, notifier, polling_interval_s=0.05)
    return Harness(runtime, InvestigationService(runtime, store), store, notifier)


@pytest.fixture
def system_db(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A fresh DBOS system database beside `db_url`: a SQLite file, or a throwaway PostgreSQL database."""
    if make_url(db_url).get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'dbos.sqlite'}"
        return
    from psycopg import sql

    from tests.fixtures_db import POSTGRES_ADMIN_URL, _connect

    name = f"sre_bot_dbos_{os.getpid()}_{secrets.token_hex(4)}"
    with _connect(POSTGRES_ADMIN_URL) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with _connect(POSTGRES_ADMIN_URL) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def harness(db_url: str, system_db: str, estate: Estate) -> Iterator[Callable[..., Harness]]:
    """Launch a runtime (one per test), with settings overridden by keyword."""
    made: list[Harness] = []

    def make(**settings: Any) -> Harness:
        made.append(_launch(db_url, system_db, estate.deps, **settings))
        return made[-1]

    yield make
    for h in made:
        h.runtime.shutdown()
        h.store.engine.dispose()


def _wait(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)


# --- tests ---------------------------------------------------------------------------------------------------


def test_investigation_end_to_end(harness: Callable[..., Harness], estate: Estate) -> None:
    h = harness()
    ref = h.service.open(estate.page)
    assert h.notifier.of("report") == [], "open() returns before the investigation is done"
    again = h.service.open(estate.page)  # the same page again joins the same investigation
    assert again == ref and ref.workflow_id == workflow_id_for(estate.page)

    result = h.runtime.result(ref.workflow_id, timeout_s=60)
    assert result["version"] == 1 and result["root_cause"].startswith("forge")

    names = h.notifier.names()
    assert names[0] == "started", names  # said before any finding (how soon: `sre-bot eval` prints it)
    assert "checking metrics, changes, logs" in h.notifier.of("started")[0][0]
    assert not h.notifier.unstored, "a finding was told before it was stored"
    rows = h.store.findings(ref.investigation_id)
    told = [args[0] for args in h.notifier.of("finding")]
    assert len(rows) >= 5 and sorted(told) == [r.id for r in rows]  # each stored finding told once
    assert names.index("report") > max(i for i, n in enumerate(names) if n == "finding")
    statuses = [args[0] for args in h.notifier.of("status")]
    assert statuses == [InvestigationStatus.INVESTIGATING, InvestigationStatus.MITIGATION_PROPOSED]

    saved = h.store.report_versions(ref.investigation_id)
    assert [r.version for r in saved] == [1]
    assert saved[0].body["root_cause"]["service"] == "forge"
    assert h.store.get_investigation(ref.investigation_id).status == "done"  # type: ignore[union-attr]
    assert len(h.store.investigations_of(ref.incident_id)) == 1
    assert len(h.store.recent_incidents()) == 1

    listed = h.service.open_investigations()
    assert [o.ref for o in listed] == [ref] and listed[0].status == "mitigation_proposed"
    h.store.set_incident_messages(ref.incident_id, channel="C1", thread_ts="111.222")
    assert h.service.find_by_thread("C1", "111.222") == InvestigationRef(
        ref.investigation_id, ref.incident_id, ref.workflow_id, "C1", "111.222"
    )
    assert h.service.find_by_thread("C1", "999.000") is None


def _follow_up_steps(h: Harness, ref: InvestigationRef) -> list[str]:
    ids = [w.workflow_id for w in DBOS.list_workflows(name="steering", load_input=False, load_output=False)]
    return [
        step["function_name"]
        for wid in sorted(ids)
        if wid.startswith(f"steer-{ref.investigation_id}-")
        for step in DBOS.list_workflow_steps(wid)
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_steering_reissues_the_report(harness: Callable[..., Harness], estate: Estate) -> None:
    h = harness()
    ref = h.service.open(estate.page)
    h.runtime.result(ref.workflow_id, timeout_s=60)  # the investigation has finished: follow-ups answer
    h.service.steer(ref, "U1", "ignore forge, it's fine")
    h.service.steer(ref, "U2", "what's the weather like")
    _wait(lambda: len(h.notifier.of("reply")) == 2 and len(h.notifier.of("report")) == 2)

    versions = h.store.report_versions(ref.investigation_id)
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].body["root_cause"]["service"] == "forge"
    assert versions[1].body["root_cause"]["service"] not in (None, "forge")
    first, second = (args[0] for args in h.notifier.of("reply"))
    assert first.startswith("Ignoring forge. Root cause now: ") and first.endswith("— was forge.")
    assert second == "Noted — I'll keep it in mind; I understood nothing to change."
    steering = h.store.steering_messages(ref.investigation_id)
    assert [(m.user, m.understood) for m in steering] == [("U1", True), ("U2", False)]
    assert steering[0].directive is not None and steering[0].directive["ignore"] == ["forge"]
    # The follow-up re-concluded from what the investigation gathered: it did not read the estate again.
    assert "inv.gather" not in _follow_up_steps(h, ref) and "inv.scope" not in _follow_up_steps(h, ref)

    # Later steering builds on the earlier: forge stays ignored. A window reaching back before the gathered
    # one makes the follow-up gather again, once.
    h.service.steer(ref, "U1", "look at the last 30 hours")
    _wait(lambda: len(h.store.report_versions(ref.investigation_id)) == 3)
    h.runtime.settle(10)
    assert h.store.report_versions(ref.investigation_id)[2].body["root_cause"]["service"] != "forge"
    steps = _follow_up_steps(h, ref)
    assert steps.count("inv.gather") == 1 and steps.count("inv.conclude") == 2

    # The alarm clears: the incident is resolved and the notifier told.
    ok = estate.page.model_copy(update={"state": "OK", "title": "OK: gateway-5xx-rate-high"})
    assert h.service.open(ok) == ref
    _wait(
        lambda: (
            bool(h.notifier.of("status")) and h.notifier.of("status")[-1][0] == InvestigationStatus.RESOLVED
        )
    )
    assert h.store.get_incident(ref.incident_id).status == "resolved"  # type: ignore[union-attr]
    assert h.service.open_investigations() == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_steering_reply_is_lost_while_the_investigation_finishes(
    harness: Callable[..., Harness], estate: Estate
) -> None:
    # Replies arrive every 30 ms from before the investigation starts until after it has finished: each is
    # answered exactly once, whether the investigation read it between phases or a follow-up did.
    h = harness()
    ref = h.service.open(estate.page)
    sent: list[str] = []
    stop = threading.Event()

    def chatter() -> None:
        while not stop.is_set():
            sent.append(f"anyone seen the weather {len(sent)}?")
            h.service.steer(ref, "U1", sent[-1])
            time.sleep(0.03)

    talker = threading.Thread(target=chatter)
    talker.start()
    try:
        h.runtime.result(ref.workflow_id, timeout_s=60)
        time.sleep(0.5)
    finally:
        stop.set()
        talker.join()
    h.runtime.settle(30)
    rows = h.store.steering_messages(ref.investigation_id)
    assert len(rows) == len(sent) > 20
    assert all(r.claimed_by for r in rows)
    assert len(h.notifier.of("reply")) == len(sent)
    assert {r.claimed_by.split("#")[0] for r in rows if r.claimed_by} >= {ref.workflow_id}  # some read inline
    assert any(r.claimed_by and r.claimed_by.startswith("steer-") for r in rows)  # and some by follow-ups


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_steering_before_the_report_shapes_the_first_one(
    harness: Callable[..., Harness], estate: Estate
) -> None:
    h = harness()
    ref = h.service.open(estate.page)
    h.service.steer(ref, "U1", "forge is fine")  # arrives while the workflow is still scoping
    result = h.runtime.result(ref.workflow_id, timeout_s=60)
    assert result["version"] == 1 and not result["root_cause"].startswith("forge")
    assert h.notifier.of("reply")[0][0] == "Ignoring forge. I'll take that into account in the report."


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_page_hears_at_once_while_the_workers_are_busy(
    harness: Callable[..., Harness], estate: Estate
) -> None:
    h = harness(investigation_concurrency=1)
    for i in range(3):
        h.service.open(estate.page.model_copy(update={"incident_id": f"BUSY{i}"}))
    h.runtime.settle(180)
    names = h.notifier.names()
    assert names.count("report") == 3
    # every page heard "started" (said by the page workflows, not the workers) before the first investigation,
    # running one at a time, reported
    assert max(i for i, n in enumerate(names) if n == "started") < names.index("report"), names


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_resolved_page_without_open_incident_opens_nothing(
    harness: Callable[..., Harness], estate: Estate
) -> None:
    h = harness()
    ref = h.service.open(estate.page.model_copy(update={"state": "OK"}))
    assert ref.investigation_id == 0 and ref.workflow_id == ""
    assert h.store.recent_incidents() == []


# --- crash recovery ------------------------------------------------------------------------------------------


class _FileNotifier:
    """A notifier for the child process: one JSON line per call; optionally hangs on `report`."""

    def __init__(self, path: Path, hang_on_report: Path | None) -> None:
        self.path = path
        self.hang = hang_on_report
        self.lock = threading.Lock()

    def _log(self, name: str, **data: Any) -> None:
        with self.lock, self.path.open("a") as fh:
            fh.write(json.dumps({"pid": os.getpid(), "call": name, **data}) + "\n")

    def started(self, ref: InvestigationRef, page: Page, looking_at: str) -> None:
        self._log("started")

    def finding(self, ref: InvestigationRef, finding_id: int, evidence: Evidence) -> None:
        self._log("finding", id=finding_id)

    def report(self, ref: InvestigationRef, report: Report) -> None:
        self._log("report", version=report.version)
        if self.hang is not None:
            self.hang.write_text("in the publish step")
            time.sleep(3600)

    def status(
        self, ref: InvestigationRef, status: InvestigationStatus, page: Page, root_cause: str | None
    ) -> None:
        self._log("status", status=status.value)

    def reply(self, ref: InvestigationRef, text: str) -> None:
        self._log("reply", text=text)

    def post_page(
        self, ref: InvestigationRef, page: Page, channel: str, *, maybe_posted: bool = False
    ) -> tuple[str, str] | None:
        return None


def child(mode: str, work: str) -> None:
    """Run in a child process: `first` starts the investigation and hangs publishing; `second` recovers it."""
    from dbos import DBOS

    from bot.sources.aws.clients import AwsClients
    from bot.sources.github import GithubSource

    w = Path(work)
    wiring = json.loads((w / "wiring.json").read_text())
    os.environ.update(wiring["env"])
    db_url = f"sqlite:///{w / 'app.sqlite'}"
    store = Store(make_engine(db_url))

    def deps() -> Deps:
        with (w / "deps-built").open("a") as fh:
            fh.write(f"{mode}\n")
        if mode == "second":
            raise RuntimeError("the recovered workflow must not read the estate again")
        return Deps(
            aws=AwsClients(wiring["region"], endpoint_url=wiring["endpoint_url"]),
            github=GithubSource(token="sandbox-token", base_url=wiring["github_url"]),
        )

    notifier = _FileNotifier(w / "calls.jsonl", w / "hanging" if mode == "first" else None)
    settings = Settings(
        database_url=db_url, dbos_system_database_url=f"sqlite:///{w / 'dbos.sqlite'}", executor_id="crash"
    )
    runtime = launch_runtime(settings, deps, store, notifier, polling_interval_s=0.05)
    page = Page.model_validate(wiring["page"])
    if mode == "first":
        InvestigationService(runtime, store).open(page)
        time.sleep(3600)
    wf = workflow_id_for(page)
    result = runtime.result(wf, timeout_s=60)
    steps = [s["function_name"] for s in DBOS.list_workflow_steps(wf)]
    print(json.dumps({"result": result, "steps": steps}))
    runtime.shutdown()


def _spawn(mode: str, work: Path) -> subprocess.Popen[str]:
    code = f"import sys; from tests.test_workflow import child; child({mode!r}, {str(work)!r})"
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_killed_process_resumes_without_rerunning_finished_steps(tmp_path: Path, estate: Estate) -> None:
    work = tmp_path / "crash"
    work.mkdir()
    (work / "wiring.json").write_text(json.dumps(estate.wiring))
    migrate(f"sqlite:///{work / 'app.sqlite'}")

    first = _spawn("first", work)
    try:
        _wait(lambda: (work / "hanging").exists() or first.poll() is not None, timeout=120)
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    store = Store(make_engine(f"sqlite:///{work / 'app.sqlite'}"))
    inv = store.open_investigations()[0]
    assert inv.id is not None
    found_before = [f.id for f in store.findings(inv.id)]
    assert found_before and [r.version for r in store.report_versions(inv.id)] == [1]

    second = _spawn("second", work)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err[-3000:]
    done = json.loads(out.strip().splitlines()[-1])
    assert done["result"]["version"] == 1 and done["result"]["root_cause"].startswith("forge")

    # Scope, gather and conclude ran once, in the first process: the second never built its dependencies.
    assert (work / "deps-built").read_text().split() == ["first"]
    # The page was triaged once, by the enqueuer; the workflow did not triage it again.
    assert "inv.open" not in done["steps"], done["steps"]
    for step in ("inv.scope", "inv.gather", "inv.conclude", "inv.publish"):
        assert done["steps"].count(step) == 1, done["steps"]
    calls = [json.loads(line) for line in (work / "calls.jsonl").read_text().splitlines()]
    pids = {c["pid"] for c in calls}
    assert len(pids) == 2
    by = {p: [c["call"] for c in calls if c["pid"] == p] for p in pids}
    first_pid = next(p for p, names in by.items() if "started" in names)
    second_calls = next(names for p, names in by.items() if p != first_pid)
    assert by[first_pid].count("started") == 1 and "finding" in by[first_pid]
    assert second_calls == ["report", "status"]  # only the interrupted publish step ran again
    # No duplicate findings or reports: the re-run publish step found its version already saved.
    assert [f.id for f in store.findings(inv.id)] == found_before
    assert [r.version for r in store.report_versions(inv.id)] == [1]
    assert store.get_investigation(inv.id).status == "done"  # type: ignore[union-attr]
    store.engine.dispose()


# --- the model's second pass ---------------------------------------------------------------------------------


def _first_run(h: Harness, estate: Estate) -> tuple[Report, list[str]]:
    ref = h.service.open(estate.page)
    h.runtime.result(ref.workflow_id, timeout_s=90)
    report = h.notifier.of("report")[0][0]
    return report, [args[0] for args in h.notifier.of("reply")]


def test_model_second_opinion_follows_the_report(
    harness: Callable[..., Harness], estate: Estate, fake_anthropic: Any
) -> None:
    from bot.investigation.second_pass import MODEL_NOTE
    from bot.sandbox.fake_anthropic import call, say, tool_use

    fake_anthropic.script(
        call(tool_use("recorded_evidence", {"service": "forge"}, "t1")),
        say("Verdict: agree — `forge` is where it starts.\nDisagreements: `ledger-db` at 99% first."),
    )
    h = harness(anthropic_api_key="sk-test", anthropic_base_url=fake_anthropic.base_url)
    report, replies = _first_run(h, estate)
    assert report.model_note == MODEL_NOTE
    names = h.notifier.names()
    assert names.index("reply") > names.index("report")  # the deterministic report comes first
    opinion = replies[-1]
    assert opinion.startswith("*Second opinion (model)*") and "`forge` is where it starts" in opinion
    assert "ledger-db" in opinion.split("Dropped", 1)[1]  # unsupported: dropped and listed, not asserted
    assert "2 turns" in opinion and "1 tool calls" in opinion
    assert fake_anthropic.remaining == 0


def test_model_failure_leaves_the_report_standing(
    harness: Callable[..., Harness], estate: Estate, fake_anthropic: Any
) -> None:
    from bot.sandbox.fake_anthropic import fail

    fake_anthropic.script(*[fail(529, "overloaded_error")] * 3)
    h = harness(anthropic_api_key="sk-test", anthropic_base_url=fake_anthropic.base_url)
    report, replies = _first_run(h, estate)
    assert report.root_cause is not None and report.root_cause.service == "forge"
    assert replies[-1].startswith("Model pass unavailable (the Messages API answered 529: overloaded_error)")


def test_without_a_key_the_report_says_no_model_pass(harness: Callable[..., Harness], estate: Estate) -> None:
    from bot.investigation.second_pass import NO_KEY_NOTE

    report, replies = _first_run(harness(), estate)
    assert report.model_note == NO_KEY_NOTE and not any("Model pass" in r for r in replies)

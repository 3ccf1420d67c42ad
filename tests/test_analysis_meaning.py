"""Diagnosis rules that read what evidence means, on hand-built facts: a dependency that fails for an unchanged
caller too, the account's shared Lambda concurrency, a producer that changed what it sends, a queue's backlog as
a symptom, a full disk as exhaustion, and an honest "inconclusive" with the check that settles each hypothesis."""

from __future__ import annotations

from bot.analysis.diagnose import Diagnosis, diagnose
from bot.analysis.facts import Facts, InstanceFact, LogFact
from bot.analysis.logs import Frame
from bot.domain import Actor, ActorKind, Category, ChangeVia, Mitigation
from tests.test_analysis_diagnose import chg, estate, facts, m, sig


def _log(
    service: str, text: str, at: float, *, frames: tuple[Frame, ...] = (), level: str = "ERROR"
) -> LogFact:
    return LogFact(service, text, level, 400, 0, m(at), text, None, frames)


def test_a_deploy_is_cleared_when_an_unchanged_caller_of_the_same_dependency_fails_alike() -> None:
    topo = estate(
        ("web", "ecs", ("quotes", "labels")),
        ("quotes", "ecs", ("carrier",)),
        ("labels", "ecs", ("carrier",)),
        ("carrier", "external", ()),
    )
    deploy = chg("d1", -13, "github-actions", "quotes: deploy of banner text", service="quotes")
    f = facts(
        topology=topo,
        alarm_service="web",
        signals=[
            sig("carrier", "error_rate", -10, 0.0, 0.4),
            sig("quotes", "error_rate", -10, 0.002, 0.36),
            sig("labels", "error_rate", -10, 0.0, 0.37),
            sig("web", "error_rate", -9, 0.002, 0.08),
        ],
        changes=[deploy],
        logs=[
            _log("quotes", "carrier rates request timed out: POST https://api.carrier.example/v3/rates", -10),
            _log("labels", "ReadTimeoutError: host='api.carrier.example' read timed out", -10),
        ],
    )
    d = diagnose(f, ["quotes", "carrier", "labels", "web"])
    assert d.guilty is None and d.root_service == "carrier", d.summary
    assert d.category is Category.DEPENDENCY_FAILURE
    assert any("labels, which also calls carrier and had no change" in r for r in _reasons(d, "d1"))


def _reasons(d: Diagnosis, change_id: str) -> tuple[str, ...]:
    return next(v.reasons for v in d.change_verdicts if v.change.id == change_id)


def test_raising_one_functions_reserved_concurrency_starves_the_others() -> None:
    topo = estate(
        ("edge", "ecs", ("pricer", "stock")),
        ("pricer", "lambda", ()),
        ("stock", "lambda", ()),
        ("indexer", "lambda", ()),
    )
    reserve = chg(
        "cfn1",
        -12,
        "cloudformation",
        "ExecuteChangeSet on stack/indexer",
        service="indexer",
        action="ExecuteChangeSet",
        changed=("AWS::Lambda::Function IndexFn ReservedConcurrentExecutions 50 → 900",),
        ships_code=False,
    )
    own = chg("d2", -20, "github-actions", "pricer: deploy of rounding", service="pricer")
    f = facts(
        topology=topo,
        alarm_service="pricer",
        signals=[
            sig("pricer", "throttles_per_min", -11, 0, 1200),
            sig("stock", "throttles_per_min", -11, 0, 900),
            sig("edge", "error_rate", -11, 0.003, 0.2),
        ],
        changes=[reserve, own],
        logs=[
            _log("edge", "pricer invoke: TooManyRequestsException (ConcurrentInvocationLimitExceeded)", -11)
        ],
    )
    d = diagnose(f, ["pricer", "stock", "edge"])
    assert d.guilty is not None and d.guilty.id == "cfn1" and d.root_service == "indexer"
    assert (d.category, d.mitigation) == (Category.CONFIG_CHANGE, Mitigation.REVERT_CONFIG)
    lowered = reserve.model_copy(
        update={"changed": ("AWS::Lambda::Function IndexFn ReservedConcurrentExecutions 900 → 50",)}
    )
    d2 = diagnose(facts(**{**_fields(f), "changes": [lowered, own]}), ["pricer", "stock", "edge"])
    assert d2.guilty is None or d2.guilty.id != "cfn1"  # giving concurrency back starves nobody


def _fields(f: Facts) -> dict[str, object]:
    return {k: getattr(f, k) for k in ("topology", "alarm_service", "signals", "logs")}


def test_a_consumer_whose_unchanged_code_throws_blames_the_producer_that_just_shipped() -> None:
    topo = estate(
        ("intake", "ecs", ("stream",)),
        ("allocator", "lambda", ("stream",)),
        ("stream", "sqs", ()),
    )
    deploy = chg("d1", -12, "github-actions", "intake: publish events in schema v2", service="intake")
    throws = _log(
        "allocator",
        "KeyError: 'room_type' while allocating booking",
        -10,
        frames=(Frame("allocator/handler.py", 44),),
    )
    f = facts(
        topology=topo,
        alarm_service="allocator",
        signals=[
            sig("stream", "oldest_message_age_s", -11, 6, 1400, ramp=True),
            sig("allocator", "error_rate", -10, 0.0, 1.0),
        ],
        changes=[deploy],
        logs=[throws],
    )
    d = diagnose(f, ["stream", "allocator"])
    assert d.guilty is not None and d.guilty.id == "d1" and d.root_service == "intake"
    assert d.category is Category.BAD_DEPLOYMENT
    assert d.key_logs and d.key_logs[0].service == "allocator"  # the victim's errors are the evidence
    timeout = _log("allocator", "connection timed out reading the stream", -10, frames=(Frame("a.py", 1),))
    d2 = diagnose(facts(**{**_fields(f), "logs": [timeout], "changes": [deploy]}), ["stream", "allocator"])
    assert d2.guilty is None  # an infrastructure error says nothing about what the producer sent


def test_a_queue_whose_only_trouble_is_a_backlog_is_a_symptom_of_its_busy_consumer() -> None:
    topo = estate(("gateway", "ecs", ("inbox",)), ("workers", "asg", ("inbox",)), ("inbox", "sqs", ()))
    f = facts(
        topology=topo,
        alarm_service="inbox",
        signals=[
            sig("gateway", "requests_per_min", -100, 360, 930, ramp=True),
            sig("workers", "cpu_pct", -12, 58, 100),
            sig("inbox", "oldest_message_age_s", -10, 25, 5300, ramp=True),
            sig("inbox", "queue_depth", -10, 120, 42000, ramp=True),
        ],
    )
    d = diagnose(f, ["inbox", "workers"])
    assert d.root_service == "workers" and (d.category, d.mitigation) == (
        Category.CAPACITY,
        Mitigation.SCALE_OUT,
    )


def test_a_full_disk_on_one_instance_is_exhaustion_replaced_on_that_instance() -> None:
    topo = estate(("front", "ecs", ("relay",)), ("relay", "asg", ()))
    full = _log("relay", "append to spool failed: OSError: [Errno 28] No space left on device", -10)
    f = facts(
        topology=topo,
        alarm_service="relay",
        signals=[
            sig("relay", "error_rate", -10, 0.001, 1.0, instance="i-3"),
            sig("relay", "cpu_pct", -60, 30, 90, instance="i-1", sustained=False),  # a blip long over
            sig("relay", "error_rate", -10, 0.001, 0.4),
        ],
        instances=[InstanceFact("relay", f"i-{n}", None) for n in (1, 2, 3, 4)],
        logs=[full],
    )
    d = diagnose(f, ["relay"])
    assert (d.category, d.mitigation, d.instance) == (
        Category.RESOURCE_EXHAUSTION,
        Mitigation.REPLACE_INSTANCE,
        "i-3",
    )


def test_two_services_failing_at_once_with_no_change_is_inconclusive_with_a_check_for_each() -> None:
    topo = estate(("web", "ecs", ("a", "b")), ("a", "ecs", ()), ("b", "ecs", ()))
    f = facts(
        topology=topo,
        alarm_service="web",
        signals=[sig("a", "error_rate", -10, 0.0, 0.3), sig("b", "error_rate", -10, 0.0, 0.3)],
    )
    d = diagnose(f, ["a", "b"])
    assert d.inconclusive and d.guilty is None
    assert len(d.hypotheses) >= 2 and all(h.check for h in d.hypotheses)
    assert {h.service for h in d.hypotheses[:2]} == {"a", "b"}
    deploy = chg("d1", -12, "github-actions", "a: deploy", service="a")
    settled = diagnose(facts(**{**_fields(f), "changes": [deploy]}), ["a", "b"])
    assert not settled.inconclusive and settled.guilty is not None


def test_a_person_running_a_change_set_is_a_stack_release_not_a_hand_edit() -> None:
    from bot.analysis.changes import door_of
    from bot.domain import Actor, ActorKind

    person = Actor(name="g.varga", kind=ActorKind.PERSON)
    assert door_of("ExecuteChangeSet", "cloudformation.amazonaws.com", person, {}) is ChangeVia.CLOUDFORMATION
    assert door_of("UpdateFunctionConfiguration", "lambda.amazonaws.com", person, {}) is ChangeVia.CONSOLE


def _surge(*, cpu: float, errors: bool = False, slow_before_load: bool = False) -> Facts:
    topo = estate(("web", "ecs", ("api",)), ("api", "ecs", ("db",)), ("db", "rds", ()))
    signals = [
        sig("web", "requests_per_min", -15, 5000, 12000),
        sig("api", "requests_per_min", -15, 8000, 19000),
        sig("api", "cpu_pct", -13, 38, cpu),
        sig("api", "latency_p99_ms", -20 if slow_before_load else -13, 180, 410),
        sig("web", "latency_p99_ms", -12, 300, 580),
    ]
    if errors:
        signals.append(sig("web", "error_rate", -12, 0.002, 0.08))
    deploy = chg("d1", -90, "github-actions", "api: deploy of sort order", service="api")
    return facts(
        topology=topo, alarm_service="web", alarm_signal="latency_p99_ms", signals=signals, changes=[deploy]
    )


def test_more_load_served_slower_with_headroom_and_no_failure_is_a_false_alarm() -> None:
    d = diagnose(_surge(cpu=77), ["api", "web", "db"])
    assert d.category is Category.FALSE_ALARM and d.mitigation is Mitigation.NONE, d.summary
    assert "load rose" in d.summary and "23 points of headroom" in d.summary
    assert any(r.change_id == "d1" for r in d.ruled_out), d.ruled_out


def test_load_that_exhausts_a_resource_or_fails_requests_is_no_false_alarm() -> None:
    for f in (_surge(cpu=97), _surge(cpu=77, errors=True), _surge(cpu=77, slow_before_load=True)):
        d = diagnose(f, ["api", "web", "db"])
        assert d.category is not Category.FALSE_ALARM, d.summary


def test_a_database_log_quoting_a_query_a_job_added_hours_ago_blames_that_job() -> None:
    topo = estate(
        ("portal", "ecs", ("api",)),
        ("api", "ecs", ("db",)),
        ("recon", "lambda", ("db",)),
        ("db", "rds", ()),
    )
    job = chg("j1", -300, "github-actions", "recon: deploy of 7c41d9e", service="recon").model_copy(
        update={"added_lines": ("LEFT JOIN disputes d ON d.psp_ref = s.psp_ref", "return rows")}
    )
    api = chg("a1", -27, "github-actions", "api: deploy of e90a1b3", service="api")
    slow = LogFact(
        "db",
        "duration: <*> ms statement: SELECT ...",
        "WARN",
        36,
        0,
        m(-18),
        "duration: 81234 ms  statement: SELECT s.id FROM settlements s LEFT JOIN disputes d "
        "ON d.psp_ref = s.psp_ref WHERE s.status IN ('captured')",
    )
    f = facts(
        topology=topo,
        alarm_service="api",
        alarm_signal="latency_p99_ms",
        signals=[
            sig("db", "cpu_pct", -20, 28, 99),
            sig("db", "connections", -20, 160, 410),
            sig("api", "latency_p99_ms", -17, 240, 6100),
            sig("api", "error_rate", -17, 0.002, 0.07),
        ],
        changes=[job, api],
        logs=[slow, _log("api", "GET /v1/payouts failed: QueryCanceled: statement timeout", -16)],
    )
    d = diagnose(f, ["db", "api", "portal", "recon"])
    assert d.guilty is not None and d.guilty.id == "j1", d.summary
    assert d.root_service == "recon" and d.category is Category.BAD_DEPLOYMENT
    assert any("quotes code" in r for r in _reasons(d, "j1"))
    # The same job without the quoted line is too long ago to blame.
    plain = job.model_copy(update={"added_lines": ("return rows",)})
    d2 = diagnose(facts(**{**_fields(f), "changes": [plain, api]}), ["db", "api", "portal", "recon"])
    assert d2.guilty is None or d2.guilty.id != "j1", d2.summary


def test_load_after_a_person_cut_capacity_is_no_false_alarm_but_autoscaling_reacting_is() -> None:
    cut = chg(
        "s1", -60, "scaling", "SetDesiredCapacity on api-asg by ops: desiredCapacity → 2", service="api"
    )
    f = _surge(cpu=77)
    d = diagnose(facts(**{**_fields(f), "alarm_signal": "latency_p99_ms", "changes": [cut]}), ["api", "web"])
    assert d.category is not Category.FALSE_ALARM, d.summary
    by_aws = cut.model_copy(
        update={"actor": Actor(name="autoscaling.amazonaws.com", kind=ActorKind.AWS_SERVICE)}
    )
    d2 = diagnose(
        facts(**{**_fields(f), "alarm_signal": "latency_p99_ms", "changes": [by_aws]}), ["api", "web"]
    )
    assert d2.category is Category.FALSE_ALARM, d2.summary


def test_a_cap_set_hours_before_the_load_came_is_the_cause_and_is_reverted_like_any_setting() -> None:
    topo = estate(
        ("clockin", "ecs", ("events",)),
        ("events", "sqs", ()),
        ("processor", "lambda", ("events", "db")),
        ("db", "rds", ()),
    )
    cap = chg(
        "c1",
        -700,
        "console",
        "PutFunctionConcurrency on processor: reservedConcurrentExecutions → 5",
        service="processor",
        action="PutFunctionConcurrency",
    )
    release = chg("d1", -27, "github-actions", "clockin: deploy of holidays", service="clockin")
    f = facts(
        topology=topo,
        alarm_service="events",
        alarm_signal="oldest_message_age_s",
        signals=[
            sig("clockin", "requests_per_min", -25, 900, 3800),
            sig("processor", "throttles_per_min", -23, 0, 2500),
            sig("events", "queue_depth", -24, 25, 61000),
            sig("events", "oldest_message_age_s", -24, 3, 1380),
        ],
        changes=[cap, release],
    )
    d = diagnose(f, ["events", "processor", "clockin", "db"])
    assert d.guilty is not None and d.guilty.id == "c1", d.summary
    # A function's reserved concurrency is a setting (a cap): put back what it was.
    assert (d.category, d.mitigation) == (Category.MANUAL_CHANGE, Mitigation.REVERT_CONFIG)
    assert any("held until then" in r for r in _reasons(d, "c1"))
    # Tasks taken away by hand hours before the load: too little capacity when the load came.
    tasks = chg(
        "c3",
        -700,
        "scaling",
        "UpdateService on processor: desiredCount → 2",
        service="processor",
        action="UpdateService",
        request={"cluster": "prod", "service": "processor", "desiredCount": 2},
    )
    cut = facts(**{**_fields(f), "changes": [tasks, release]})
    d3 = diagnose(cut, ["events", "processor", "clockin", "db"])
    assert d3.guilty is not None and d3.guilty.id == "c3", d3.summary
    assert (d3.category, d3.mitigation) == (Category.CAPACITY, Mitigation.SCALE_OUT)
    # The same setting made just before the throttling began, with no more load, broke it by itself.
    just_before = chg(
        "c2",
        -25,
        "console",
        "PutFunctionConcurrency on processor: reservedConcurrentExecutions → 5",
        service="processor",
        action="PutFunctionConcurrency",
    )
    alone = facts(**{**_fields(f), "signals": f.signals[1:], "changes": [just_before]})
    d2 = diagnose(alone, ["events", "processor", "clockin", "db"])
    assert d2.category is Category.MANUAL_CHANGE, d2.summary


def test_a_lock_report_quoting_a_new_query_with_its_values_filled_in_blames_the_job() -> None:
    topo = estate(("api", "ecs", ("db",)), ("purge", "lambda", ("db",)), ("db", "rds", ()))
    job = chg("j1", -545, "github-actions", "purge: deploy of 6d1f8b2", service="purge").model_copy(
        update={"added_lines": ('cur.execute("DELETE FROM reminders WHERE sent_at < %s", (cutoff,))',)}
    )
    bump = chg("d1", -31, "github-actions", "api: deploy of f20c7aa", service="api")
    report = _log(
        "api",
        "lock diagnostics: INSERT INTO reminders waiting 41s, blocked by trx 5829114 (user reminder_purge): "
        "DELETE FROM reminders WHERE sent_at < '2026-09-07 08:00:00'",
        -33,
        level="WARN",
    )
    f = facts(
        topology=topo,
        alarm_service="api",
        signals=[sig("db", "cpu_pct", -36, 14, 71), sig("api", "error_rate", -35, 0.001, 0.27)],
        changes=[job, bump],
        logs=[report, _log("api", "Lock wait timeout exceeded; try restarting transaction", -35)],
    )
    d = diagnose(f, ["db", "api", "purge"])
    assert d.guilty is not None and d.guilty.id == "j1", d.summary
    assert d.root_service == "purge" and d.category is Category.BAD_DEPLOYMENT


def test_a_backlog_that_grows_with_the_load_while_its_consumer_keeps_up_is_a_false_alarm() -> None:
    f = _surge(cpu=62)
    queue = [sig("api", "queue_depth", -14, 40, 7800), sig("api", "oldest_message_age_s", -14, 4, 210)]
    d = diagnose(facts(**{**_fields(f), "signals": [*f.signals, *queue]}), ["api", "web"])
    assert d.category is Category.FALSE_ALARM and "backlog" in d.summary, d.summary
    # The same backlog while a consumer's throughput collapsed is no false alarm.
    fell = sig("worker", "requests_per_min", -14, 300, 20)
    d2 = diagnose(facts(**{**_fields(f), "signals": [*f.signals, *queue, fell]}), ["api", "web"])
    assert d2.category is not Category.FALSE_ALARM, d2.summary


def test_a_release_whose_own_files_throw_a_disk_error_hours_later_is_still_the_cause() -> None:
    topo = estate(("portal", "ecs", ("render",)), ("render", "lambda", ()))
    release = chg(
        "d1",
        -300,
        "github-actions",
        "render: deploy of 6f1d0b4",
        service="render",
        files=("receipt_render/handler.py",),
    )
    frames = (Frame("/var/task/receipt_render/handler.py", 36, "handler"),)
    full = _log("render", "OSError: [Errno 28] No space left on device: '/tmp/r.pdf'", -170, frames=frames)
    f = facts(
        topology=topo,
        alarm_service="portal",
        signals=[
            sig("render", "error_rate", -170, 0.001, 0.27),
            sig("portal", "error_rate", -169, 0.002, 0.09),
        ],
        changes=[release],
        logs=[full],
    )
    d = diagnose(f, ["render", "portal"])
    assert d.guilty is not None and d.guilty.id == "d1", d.summary
    # The same frames under a timeout to something outside say nothing about the release that long ago.
    timeout = _log("render", "ReadTimeoutError: read timed out", -170, frames=frames)
    d2 = diagnose(facts(**{**_fields(f), "changes": [release], "logs": [timeout]}), ["render", "portal"])
    assert d2.guilty is None, d2.summary


def test_file_handles_run_out_on_one_instance_the_process_is_restarted_not_the_host_replaced() -> None:
    topo = estate(("front", "ecs", ("fares",)), ("fares", "asg", ()))
    emfile = _log(
        "fares", "GET /v2/fares failed: Error: EMFILE: too many open files, open '/etc/ssl/x.crt'", -10
    )
    f = facts(
        topology=topo,
        alarm_service="fares",
        signals=[
            sig("fares", "error_rate", -10, 0.004, 1.0, instance="i-2"),
            sig("fares", "error_rate", -10, 0.002, 0.22),
        ],
        instances=[InstanceFact("fares", f"i-{n}", None) for n in (1, 2, 3, 4)],
        logs=[emfile],
    )
    d = diagnose(f, ["fares"])
    assert (d.category, d.mitigation) == (Category.RESOURCE_EXHAUSTION, Mitigation.RESTART), d.summary


def test_a_session_on_one_instance_is_cleared_when_another_instance_alone_fails() -> None:
    topo = estate(("front", "ecs", ("upload",)), ("upload", "asg", ()))
    session = chg("s1", -16, "ssm-session", "StartSession on i-1 by w.tan", service="upload", instance="i-1")
    expired = _log("upload", "PUT manifest failed: InvalidSignatureException: Signature expired", -10)
    f = facts(
        topology=topo,
        alarm_service="upload",
        signals=[
            sig("upload", "error_rate", -10, 0.002, 1.0, instance="i-3"),
            sig("upload", "error_rate", -10, 0.002, 0.28),
        ],
        instances=[InstanceFact("upload", f"i-{n}", None) for n in (1, 2, 3, 4)],
        changes=[session],
        logs=[expired],
    )
    d = diagnose(f, ["upload"])
    assert d.guilty is None, d.summary
    assert (d.category, d.mitigation, d.instance) == (
        Category.INFRASTRUCTURE_FAILURE,
        Mitigation.REPLACE_INSTANCE,
        "i-3",
    )
    assert any("only i-3 is failing" in r for r in _reasons(d, "s1"))


def test_a_reservation_set_where_there_was_none_also_comes_out_of_the_shared_pool() -> None:
    topo = estate(("gateway", "ecs", ("auth",)), ("auth", "lambda", ()), ("compactor", "lambda", ()))
    reserve = chg(
        "cfn1",
        -19,
        "cloudformation",
        "ExecuteChangeSet on stack/compactor",
        service="compactor",
        action="ExecuteChangeSet",
        ships_code=False,
        changed=("AWS::Lambda::Function CompactorFn ReservedConcurrentExecutions → 850",),
    )
    f = facts(
        topology=topo,
        alarm_service="gateway",
        signals=[
            sig("auth", "throttles_per_min", -16, 0, 7800),
            sig("gateway", "error_rate", -16, 0.002, 0.22),
        ],
        changes=[reserve],
    )
    d = diagnose(f, ["auth", "gateway", "compactor"])
    assert d.guilty is not None and d.guilty.id == "cfn1", d.summary
    assert d.root_service == "compactor"


def test_an_appconfig_rollout_is_a_configuration_change_of_the_service_named_after_its_application() -> None:
    from bot.analysis.changes import door_of
    from bot.domain import ChangeSource
    from bot.investigation.attribution import attribute
    from bot.sources.aws.topology import Estate, ServiceInfo

    pipeline = Actor(name="flags-release", kind=ActorKind.PIPELINE)
    assert door_of("StartDeployment", "appconfig.amazonaws.com", pipeline, {}) is ChangeVia.PARAMETER
    rollout = chg(
        "a1",
        -20,
        "parameter",
        "StartDeployment",
        action="StartDeployment",
        resource="arn:aws:appconfig:eu-central-1:1:application/seatmap/environment/prod/configuration/flags",
    ).model_copy(update={"source": ChangeSource.CLOUDTRAIL})
    names = ("seatmap-api", "checkout-svc", "pricing-rules")
    one = Estate(services={n: ServiceInfo(name=n, kind="ecs") for n in names})
    assert attribute([rollout], one)[0].service == "seatmap-api"
    two = Estate(services={n: ServiceInfo(name=n, kind="ecs") for n in (*names, "seatmap-web")})
    assert attribute([rollout], two)[0].service is None


def test_a_role_policy_rewritten_hours_before_the_job_that_needs_it_ran_is_the_cause() -> None:
    topo = estate(("jobs", "sqs", ()), ("invoicer", "lambda", ("jobs",)))
    rewrite = chg(
        "p1",
        -200,
        "iam",
        "PutRolePolicy on role/invoicer-role by terraform",
        service="invoicer",
        action="PutRolePolicy",
        resource="arn:aws:iam::1:role/invoicer-role",
    )
    release = chg("d1", -44, "github-actions", "invoicer: deploy of footer", service="invoicer")
    denied = _log(
        "invoicer",
        "upload failed: An error occurred (AccessDenied) when calling the PutObject operation: User: "
        "arn:aws:sts::1:assumed-role/invoicer-role/invoicer is not authorized to perform: s3:PutObject",
        -20,
    )
    f = facts(
        topology=topo,
        alarm_service="invoicer",
        signals=[sig("invoicer", "error_rate", -20, 0.0, 1.0)],
        changes=[rewrite, release],
        logs=[denied],
    )
    d = diagnose(f, ["invoicer", "jobs"])
    assert d.guilty is not None and d.guilty.id == "p1", d.summary
    assert (d.category, d.mitigation) == (Category.PERMISSION_CHANGE, Mitigation.REVERT_PERMISSION)


def test_a_dns_edit_whose_record_the_errors_name_is_the_cause_of_the_refused_connections() -> None:
    topo = estate(("bff", "ecs", ("api",)), ("api", "ecs", ("db",)), ("db", "rds", ()))
    edit = chg(
        "r1",
        -10,
        "console",
        "ChangeResourceRecordSets on hostedzone/Z042 by lars.b",
        service="db",
        action="ChangeResourceRecordSets",
        resource="arn:aws:route53:::hostedzone/Z042",
        changed=(
            "db.bookings.internal. CNAME from db-1.abc.us-east-1.rds.amazonaws.com to pgb-nlb.elb.amazonaws.com",
        ),
    )
    bump = chg("d1", -14, "github-actions", "bff: deploy of pino 8.17.1", service="bff")
    refused = _log("api", "Error: connect ECONNREFUSED 10.40.12.87:5432 (db.bookings.internal)", -9)
    f = facts(
        topology=topo,
        alarm_service="bff",
        signals=[sig("api", "error_rate", -9, 0.002, 0.46), sig("bff", "error_rate", -8, 0.002, 0.38)],
        changes=[edit, bump],
        logs=[refused],
    )
    d = diagnose(f, ["api", "bff", "db"])
    assert d.guilty is not None and d.guilty.id == "r1", d.summary
    assert d.root_service == "db" and d.mitigation is Mitigation.REVERT_CONFIG


def test_a_database_the_platform_failed_over_as_its_callers_broke_is_the_origin_not_their_deploy() -> None:
    topo = estate(("web", "ecs", ("orders",)), ("orders", "ecs", ("orders-db",)), ("orders-db", "rds", ()))
    deploy = chg("d1", -8, "github-actions", "orders: deploy of a new response field", service="orders")
    f = facts(
        topology=topo,
        alarm_service="web",
        signals=[
            sig("orders", "error_rate", -6, 0.002, 0.5),
            sig("web", "error_rate", -5, 0.002, 0.3),
            sig("orders-db", "connections", -3, 90, 140),
        ],
        changes=[deploy],
        logs=[
            _log("orders-db", "RDS event (failover): Multi-AZ instance failover started.", -6, level="WARN"),
            _log("orders", "Connection to orders-db.cx1.us-east-2.rds.amazonaws.com:5432 refused", -6),
        ],
    )
    d = diagnose(f, ["orders", "orders-db", "web"])
    assert d.guilty is None and d.root_service == "orders-db", d.summary
    assert (d.category, d.mitigation) == (Category.INFRASTRUCTURE_FAILURE, Mitigation.WAIT)
    assert not d.inconclusive
    assert any("the platform acted on orders-db" in r for r in _reasons(d, "d1"))
    # what its callers say of it, beside its own event
    assert any("refused" in lg.sample for lg in d.key_logs)


def test_the_same_deploy_is_guilty_when_nothing_happened_to_the_database() -> None:
    topo = estate(("web", "ecs", ("orders",)), ("orders", "ecs", ("orders-db",)), ("orders-db", "rds", ()))
    deploy = chg("d1", -8, "github-actions", "orders: deploy of a new response field", service="orders")
    f = facts(
        topology=topo,
        alarm_service="web",
        signals=[sig("orders", "error_rate", -6, 0.002, 0.5), sig("web", "error_rate", -5, 0.002, 0.3)],
        changes=[deploy],
        logs=[
            _log("orders-db", "checkpoint complete: wrote 812 buffers", -6, level="WARN"),
            _log("orders", "NullPointerException in OrderDto.giftNote", -6),
        ],
    )
    d = diagnose(f, ["orders", "orders-db", "web"])
    assert d.guilty is not None and d.guilty.id == "d1", d.summary


def _read_at_start(*, new_tasks_die: bool) -> Facts:
    topo = estate(("portal", "ecs", ("render",)), ("render", "ecs", ()))
    param = chg(
        "p1",
        -78,
        "parameter",
        "PutParameter /render/prod/WORKERS 3 -> 12",
        service="render",
        action="PutParameter",
    )
    tasks = [
        InstanceFact("render", "task a", m(-200), None),
        InstanceFact("render", "task b", m(-22), m(-14) if new_tasks_die else None),
        InstanceFact("render", "task c", m(-22), m(-11) if new_tasks_die else None),
        InstanceFact("render", "task d", m(-14), None),
    ]
    return facts(
        topology=topo,
        alarm_service="portal",
        signals=[
            sig("render", "error_rate", -17, 0.002, 0.15),
            sig("render", "memory_pct", -19, 50, 85),
            sig("portal", "error_rate", -16, 0.002, 0.1),
        ],
        changes=[param],
        instances=tasks,
        logs=[_log("render", "Essential container in task exited: OutOfMemoryError (exit code 137)", -17)],
    )


def test_a_setting_read_at_start_bites_when_the_tasks_that_first_read_it_start_and_die() -> None:
    d = diagnose(_read_at_start(new_tasks_die=True), ["render", "portal"])
    assert d.guilty is not None and d.guilty.id == "p1", d.summary
    assert (d.category, d.mitigation) == (Category.CONFIG_CHANGE, Mitigation.REVERT_CONFIG)
    assert any("the first to read it, keep dying" in r for r in d.reasons)


def test_a_setting_changed_long_before_is_not_tied_when_the_new_tasks_live() -> None:
    d = diagnose(_read_at_start(new_tasks_die=False), ["render", "portal"])
    assert d.guilty is None, d.summary


def test_a_parameter_path_belongs_to_the_service_it_names_first() -> None:
    from bot.sources.aws.topology import Estate, ServiceInfo

    est = Estate(services={n: ServiceInfo(n) for n in ("home-api", "trending", "orders", "orders-db")})
    arn = "arn:aws:ssm:us-west-2:1:parameter/home-api/prod/flags/trending_rail_percent"
    assert est.service_of(arn) == "home-api"
    assert est.service_of("/orders-db/prod/max_connections") == "orders-db"  # the longest of those first


def test_a_flag_that_sends_far_more_calls_to_a_table_drove_its_throttling() -> None:
    topo = estate(("home", "ecs", ("rails",)), ("rails", "dynamodb", ()), ("builder", "lambda", ("rails",)))
    flag = chg(
        "f1",
        -4,
        "parameter",
        "PutParameter /home/prod/flags/rail_percent",
        service="home",
        action="PutParameter",
    )
    builder = chg("d1", -15, "github-actions", "builder: deploy of candidate filter", service="builder")
    f = facts(
        topology=topo,
        alarm_service="home",
        signals=[
            sig("rails", "requests_per_min", -3, 3600, 34000),  # the calls the flag sends, not users
            sig("rails", "throttles_per_min", -3, 0, 15000),
            sig("home", "latency_p99_ms", -2, 210, 2500),
        ],
        changes=[flag, builder],
    )
    d = diagnose(f, ["rails", "home", "builder"])
    assert d.guilty is not None and d.guilty.id == "f1", d.summary
    assert any("rails, which home calls, ran out of throughput" in r for r in d.reasons)
    # The same throttling under a surge of the users' own traffic is not the flag's doing.
    users = facts(
        **{**_fields(f), "signals": [*f.signals, sig("home", "requests_per_min", -3, 36000, 90000)]}
    )
    assert diagnose(users, ["rails", "home", "builder"]).guilty is None


def test_a_reboot_aws_made_itself_is_an_infrastructure_failure_waited_out() -> None:
    topo = estate(("wallet", "ecs", ("ledger-db",)), ("ledger-db", "rds", ()))
    reboot = chg(
        "r1",
        -4,
        "console",
        "RebootDBInstance on ledger-db by rds.amazonaws.com (with failover)",
        service="ledger-db",
        action="RebootDBInstance",
        actor=Actor(name="rds.amazonaws.com", kind=ActorKind.AWS_SERVICE),
    )
    f = facts(
        topology=topo,
        alarm_service="wallet",
        signals=[sig("wallet", "error_rate", -3, 0.002, 0.4)],
        changes=[reboot],
        logs=[_log("wallet", "Connection to ledger-db.x.rds.amazonaws.com:5432 reset", -3)],
    )
    d = diagnose(f, ["wallet", "ledger-db"])
    assert (d.category, d.mitigation) == (Category.INFRASTRUCTURE_FAILURE, Mitigation.WAIT), d.summary
    person = reboot.model_copy(update={"actor": Actor(name="j.doe", kind=ActorKind.PERSON)})
    d2 = diagnose(facts(**{**_fields(f), "changes": [person]}), ["wallet", "ledger-db"])
    assert d2.category is Category.MANUAL_CHANGE, d2.summary


def _memory_release(*, ramp: bool) -> Facts:
    topo = estate(("quote", "ecs", ("pricing",)), ("pricing", "ecs", ()))
    release = chg("d1", -14, "github-actions", "pricing: deploy of rightsizing", service="pricing")
    return facts(
        topology=topo,
        alarm_service="quote",
        signals=[
            sig("pricing", "memory_pct", -12, 55, 97, ramp=ramp, start=-13 if ramp else None),
            sig("pricing", "error_rate", -10, 0.002, 0.2),
            sig("quote", "error_rate", -9, 0.002, 0.1),
        ],
        changes=[release],
        logs=[_log("pricing", "Essential container in task exited: OutOfMemoryError (exit code 137)", -10)],
    )


def test_a_release_killed_for_memory_in_a_step_is_a_bad_deployment_and_a_climb_is_exhaustion() -> None:
    step = diagnose(_memory_release(ramp=False), ["pricing", "quote"])
    assert step.guilty is not None and step.category is Category.BAD_DEPLOYMENT, step.summary
    climb = diagnose(_memory_release(ramp=True), ["pricing", "quote"])
    assert climb.guilty is not None and climb.category is Category.RESOURCE_EXHAUSTION, climb.summary


def test_cpu_that_rose_with_the_load_and_kept_headroom_is_ruled_out() -> None:
    topo = estate(("edge", "ecs", ("search",)), ("search", "ecs", ("db",)), ("db", "rds", ()))
    f = facts(
        topology=topo,
        alarm_service="edge",
        signals=[
            sig("search", "cpu_pct", -25, 45, 99),
            sig("search", "error_rate", -20, 0.001, 0.09),
            sig("db", "cpu_pct", -40, 30, 61, ramp=True),
            sig("edge", "error_rate", -19, 0.001, 0.05),
        ],
    )
    d = diagnose(f, ["search", "db", "edge"])
    assert any(
        r.signal is not None and r.signal.service == "db" and "headroom" in r.reason for r in d.ruled_out
    )
    assert not any(r.signal is not None and r.signal.service == "search" for r in d.ruled_out)


def test_autoscaling_adding_capacity_is_a_response_not_the_cause_of_the_saturation() -> None:
    topo = estate(("bff", "ecs", ("tiles",)), ("tiles", "asg", ()))
    scale_out = chg(
        "s1",
        -4,
        "scaling",
        "SetDesiredCapacity on tiles-asg by autoscaling.amazonaws.com: desiredCapacity → 10",
        service="tiles",
        action="SetDesiredCapacity",
        actor=Actor(name="autoscaling.amazonaws.com", kind=ActorKind.AWS_SERVICE),
    )
    f = facts(
        topology=topo,
        alarm_service="bff",
        signals=[
            sig("tiles", "requests_per_min", -200, 1000, 2600, ramp=True),
            sig("tiles", "cpu_pct", -3, 57, 99),
            sig("tiles", "latency_p99_ms", -3, 40, 900),
            sig("bff", "latency_p99_ms", -2, 120, 1100),
        ],
        changes=[scale_out],
    )
    d = diagnose(f, ["tiles", "bff"])
    assert d.guilty is None and d.root_service == "tiles", d.summary
    assert (d.category, d.mitigation) == (Category.CAPACITY, Mitigation.SCALE_OUT)
    assert "a response, not a cause" in _reasons(d, "s1")[0]


def test_a_throttling_blip_long_over_is_not_where_a_later_failure_began() -> None:
    topo = estate(("invoices", "ecs", ("render",)), ("render", "lambda", ()))
    timeout = chg(
        "t1",
        -23,
        "cloudformation",
        "ExecuteChangeSet on stack/render",
        service="render",
        action="ExecuteChangeSet",
        changed=("AWS::Lambda::Function RenderFunction Timeout 60 → 10",),
        ships_code=False,
    )
    f = facts(
        topology=topo,
        alarm_service="invoices",
        signals=[
            sig("render", "throttles_per_min", -96, 0, 14, sustained=False),
            sig("render", "error_rate", -22, 0.0, 0.18),
            sig("invoices", "error_rate", -21, 0.002, 0.14),
        ],
        changes=[timeout],
    )
    d = diagnose(f, ["render", "invoices"])
    assert d.guilty is not None and d.guilty.id == "t1", d.summary
    assert d.category is Category.CONFIG_CHANGE


def test_callers_rejecting_a_dependencys_certificate_point_at_it_though_it_looks_healthy() -> None:
    topo = estate(("payments", "ecs", ("ledger",)), ("payouts", "lambda", ("ledger",)), ("ledger", "asg", ()))
    f = facts(
        topology=topo,
        alarm_service="payments",
        signals=[sig("payments", "error_rate", -5, 0.002, 1.0), sig("payouts", "error_rate", -5, 0.0, 1.0)],
        logs=[
            _log("payments", 'Post "https://ledger.acme.internal/v1": x509: certificate has expired', -5),
            _log(
                "payouts",
                "SSLError: certificate verify failed: certificate has expired (ledger.acme.internal)",
                -5,
            ),
        ],
    )
    d = diagnose(f, ["payments", "payouts", "ledger"])
    assert d.root_service == "ledger", d.summary


def test_instances_that_reach_nothing_all_in_one_zone_are_that_zones_failure() -> None:
    topo = estate(
        ("web", "ecs", ("search",)),
        ("search", "asg", ("ranking", "meta-db")),
        ("ranking", "ecs", ()),
        ("meta-db", "rds", ()),
    )
    ranking = chg("d1", -6, "github-actions", "ranking: deploy of cache warm-up", service="ranking")
    zones = ["us-east-1a", "us-east-1b", "us-east-1c"] * 2
    fleet = [InstanceFact("search", f"i-{n}", m(-900), None, zones[n - 1]) for n in range(1, 7)]
    f = facts(
        topology=topo,
        alarm_service="web",
        signals=[
            sig("search", "error_rate", -4, 0.002, 0.5, instance="i-3"),
            sig("search", "error_rate", -4, 0.002, 0.5, instance="i-6"),
            sig("search", "error_rate", -4, 0.002, 0.17),
            sig("meta-db", "latency_p50_ms", -60, 2, 9),
            sig("web", "error_rate", -3, 0.003, 0.1),
        ],
        changes=[ranking],
        instances=fleet,
        logs=[
            _log(
                "search",
                "ranking call failed: ConnectTimeoutError: connect to ranking.acme.internal timed out",
                -4,
            ),
            _log(
                "search", 'connection to server at "meta-db.x.rds.amazonaws.com" failed: timeout expired', -4
            ),
        ],
    )
    d = diagnose(f, ["meta-db", "search", "ranking", "web"])
    assert d.guilty is None and d.root_service == "search", d.summary
    assert (d.category, d.mitigation, d.zone) == (
        Category.INFRASTRUCTURE_FAILURE,
        Mitigation.FAILOVER,
        "us-east-1c",
    )
    # A parameter every instance reads does not explain the two; a replacement launched into the zone after
    # the failure began has not shown the zone healthy.
    param = chg("p1", -6, "parameter", "PutParameter /search/prod/hold_seconds: 600 → 900", service="search")
    joined = [*fleet, InstanceFact("search", "i-7", m(-2), None, "us-east-1c")]
    d1 = diagnose(
        facts(**{**_fields(f), "changes": [param], "instances": joined}),
        ["meta-db", "search", "ranking", "web"],
    )
    assert d1.guilty is None and d1.zone == "us-east-1c", d1.summary
    assert any("only i-3, i-6 of 7 fail" in r for r in _reasons(d1, "p1"))
    spread = list(fleet)
    spread[5] = InstanceFact("search", "i-6", m(-900), None, "us-east-1a")  # the failing two in two zones
    d2 = diagnose(facts(**{**_fields(f), "instances": spread}), ["meta-db", "search", "ranking", "web"])
    assert d2.mitigation is Mitigation.REPLACE_INSTANCE and d2.zone is None, d2.summary


def test_an_ingress_rule_naming_its_source_belongs_to_the_database_that_source_calls_on_that_port() -> None:
    from bot.domain import ChangeSource
    from bot.investigation.attribution import attribute
    from bot.sources.aws.topology import Estate, ServiceInfo

    est = Estate(
        services={
            n: ServiceInfo(name=n, kind=k)
            for n, k in (("sync", "ecs"), ("billing-db", "rds"), ("cache", "ecs"))
        },
        edges={("sync", "billing-db"), ("sync", "cache")},
    )
    request = {
        "GroupId": "sg-07b3e5d1c9a24f6e1",
        "IpPermissions": [{"FromPort": 3306, "UserIdGroupPairs": [{"Description": "sync app tier"}]}],
    }
    revoke = chg(
        "r1",
        -30,
        "console",
        "RevokeSecurityGroupIngress",
        action="RevokeSecurityGroupIngress",
        resource="arn:aws:ec2:us-east-1:1:security-group/sg-07b3e5d1c9a24f6e1",
        request=request,
    ).model_copy(update={"source": ChangeSource.CLOUDTRAIL})
    assert attribute([revoke], est)[0].service == "billing-db"
    web = revoke.model_copy(
        update={
            "request": {
                **request,
                "IpPermissions": [{"FromPort": 8080, "UserIdGroupPairs": [{"Description": "sync"}]}],
            }
        }
    )
    assert attribute([web], est)[0].service == "sync"  # two services it calls: not one to name


def test_a_kms_key_belongs_to_the_one_service_configured_with_it() -> None:
    from bot.domain import ChangeSource
    from bot.investigation.attribution import attribute
    from bot.sources.aws.topology import Estate, ServiceInfo

    key = "arn:aws:kms:us-east-1:1:key/0d7e4a2b-6c91-4f3e-a8d5-2b19e7c04f6a"
    est = Estate(
        services={
            "payouts-api": ServiceInfo("payouts-api", "ecs"),
            "payout-requests": ServiceInfo("payout-requests", "sqs", named={key}),
        }
    )
    disable = chg("k1", -10, "console", "DisableKey", action="DisableKey", resource=key).model_copy(
        update={"source": ChangeSource.CLOUDTRAIL}
    )
    assert attribute([disable], est)[0].service == "payout-requests"


def test_a_change_whose_resource_the_users_of_its_service_quote_is_tied_to_their_errors() -> None:
    topo = estate(("api", "ecs", ("requests",)), ("requests", "sqs", ("worker",)), ("worker", "lambda", ()))
    key = "arn:aws:kms:us-east-1:1:key/0d7e4a2b-6c91-4f3e-a8d5-2b19e7c04f6a"
    disable = chg(
        "k1",
        -6,
        "console",
        "DisableKey on the queue's key",
        service="requests",
        action="DisableKey",
        resource=key,
    )
    upsert = chg("d1", -9, "github-actions", "worker: deploy of idempotent upsert", service="worker")
    f = facts(
        topology=topo,
        alarm_service="api",
        signals=[
            sig("api", "error_rate", -1, 0.002, 0.58),
            sig("requests", "oldest_message_age_s", -1, 3, 400),
        ],
        changes=[disable, upsert],
        logs=[
            _log(
                "api",
                "SendMessage failed: KMS.DisabledException: arn:aws:kms:us-east-1:1:key/0d7e4a2b-6c91-4f3e-a8d5-2b19e7c04f6a is disabled",
                -1,
            )
        ],
    )
    d = diagnose(f, ["api", "requests", "worker"])
    assert d.guilty is not None and d.guilty.id == "k1", d.summary
    assert any("which use requests, name 0d7e4a2b" in r for r in d.reasons)


def test_a_setting_a_pipeline_changed_by_hand_is_configuration_not_a_manual_change() -> None:
    topo = estate(("gw", "ecs", ("score",)), ("score", "lambda", ()))
    janitor = Actor(name="kms-janitor", kind=ActorKind.PIPELINE)
    cut = chg(
        "c1",
        -5,
        "console",
        "ScheduleKeyDeletion",
        service="score",
        action="ScheduleKeyDeletion",
        actor=janitor,
    )
    f = facts(
        topology=topo,
        alarm_service="gw",
        signals=[sig("score", "error_rate", -4, 0.0, 0.3), sig("gw", "error_rate", -3, 0.002, 0.2)],
        changes=[cut],
    )
    d = diagnose(f, ["score", "gw"])
    assert (d.category, d.mitigation) == (Category.CONFIG_CHANGE, Mitigation.REVERT_CONFIG), d.summary
    person = cut.model_copy(update={"actor": Actor(name="s.adeyemi", kind=ActorKind.PERSON)})
    assert (
        diagnose(facts(**{**_fields(f), "changes": [person]}), ["score", "gw"]).category
        is Category.MANUAL_CHANGE
    )


def test_a_database_whose_connections_fell_away_as_its_callers_failed_is_tied_to_its_change() -> None:
    topo = estate(("api", "ecs", ("db",)), ("worker", "lambda", ("db",)), ("db", "rds", ()))
    sg = chg(
        "s1",
        -18,
        "cloudformation",
        "ExecuteChangeSet on stack/db",
        service="db",
        action="ExecuteChangeSet",
        changed=("AWS::EC2::SecurityGroupIngress DbIngressFromApi: Remove",),
        ships_code=False,
    )
    bump = chg("d1", -26, "github-actions", "api: deploy of a driver bump", service="api")
    times = [m(-120 + i) for i in range(121)]
    conns = [80.0 if t < m(-17) else 18.0 for t in times]
    f = facts(
        topology=topo,
        alarm_service="api",
        signals=[sig("api", "error_rate", -16, 0.002, 0.46), sig("worker", "error_rate", -15, 0.0, 0.3)],
        changes=[sg, bump],
        series={("db", "connections"): (times, conns)},
        logs=[_log("api", 'connection to server at "10.42.17.88", port 5432 failed: timeout expired', -16)],
    )
    d = diagnose(f, ["api", "worker", "db"])
    assert d.guilty is not None and d.guilty.id == "s1", d.summary
    steady = facts(**{**_fields(f), "series": {("db", "connections"): (times, [80.0] * len(times))}})
    unchanged = diagnose(steady, ["api", "worker", "db"]).guilty
    assert unchanged is None or unchanged.id != "s1"


def test_a_dependency_already_failing_hours_before_a_callers_deploy_was_not_driven_by_it() -> None:
    topo = estate(("gw", "ecs", ("broker",)), ("broker", "asg", ()))
    deploy = chg("d1", -8, "github-actions", "gw: deploy of a CSP header", service="gw")
    f = facts(
        topology=topo,
        alarm_service="gw",
        signals=[
            sig("broker", "memory_pct", -600, 40, 97, ramp=True, start=-840),
            sig("broker", "cpu_pct", -6, 30, 95),
            sig("gw", "error_rate", -5, 0.002, 0.2),
        ],
        changes=[deploy],
    )
    d = diagnose(f, ["broker", "gw"])
    assert d.guilty is None and d.root_service == "broker", d.summary


def test_a_mild_slowdown_after_a_consumers_own_setting_is_not_where_its_throwing_began() -> None:
    topo = estate(
        ("shop", "ecs", ("checkout",)),
        ("checkout", "ecs", ("events",)),
        ("events", "sqs", ("consumer",)),
        ("consumer", "lambda", ()),
    )
    batch = chg(
        "p1",
        -78,
        "parameter",
        "PutParameter /consumer/prod/BATCH_SIZE 10 -> 25",
        service="consumer",
        action="PutParameter",
    )
    release = chg("d1", -23, "github-actions", "checkout: deploy of OrderPlaced v2", service="checkout")
    frames = (Frame("fulfilment/mapping.py", 61, "to_pick"),)
    f = facts(
        topology=topo,
        alarm_service="events",
        signals=[
            sig("consumer", "latency_p99_ms", -72, 650, 880),  # 1.35x: a shift the batch size made
            sig("consumer", "error_rate", -21, 0.0, 1.0),
            sig("events", "queue_depth", -20, 25, 1960),
        ],
        changes=[batch, release],
        logs=[
            _log("consumer", "KeyError: 'shipping_address' while handling OrderPlaced", -21, frames=frames)
        ],
    )
    d = diagnose(f, ["consumer", "events", "checkout", "shop"])
    assert d.guilty is not None and d.guilty.id == "d1", d.summary


def test_a_table_moved_to_too_little_provisioned_throughput_before_the_peak_is_a_setting_to_revert() -> None:
    topo = estate(
        ("portal", "ecs", ("payouts",)), ("payouts", "ecs", ("ledger",)), ("ledger", "dynamodb", ())
    )
    finops = chg(
        "c1",
        -290,
        "cloudformation",
        "ExecuteChangeSet on stack/ledger",
        service="ledger",
        action="ExecuteChangeSet",
        changed=(
            "AWS::DynamoDB::Table LedgerTable BillingMode PAY_PER_REQUEST → PROVISIONED",
            "AWS::DynamoDB::Table LedgerTable ProvisionedThroughput none → WriteCapacityUnits=400",
        ),
        ships_code=False,
    )
    release = chg("d1", -20, "github-actions", "payouts: deploy of log lines", service="payouts")
    f = facts(
        topology=topo,
        alarm_service="portal",
        signals=[
            sig("payouts", "requests_per_min", -70, 900, 2400, ramp=True),
            sig("ledger", "throttles_per_min", -5, 0, 900),
            sig("payouts", "error_rate", -3, 0.002, 0.2),
            sig("portal", "error_rate", -2, 0.002, 0.1),
        ],
        changes=[finops, release],
    )
    d = diagnose(f, ["ledger", "payouts", "portal"])
    assert d.guilty is not None and d.guilty.id == "c1", d.summary
    assert (d.category, d.mitigation) == (Category.CONFIG_CHANGE, Mitigation.REVERT_CONFIG)


def test_a_stack_update_of_alarms_log_retention_or_tags_only_is_not_a_suspect() -> None:
    topo = estate(("web", "ecs", ("checkout",)), ("checkout", "ecs", ("psp",)), ("psp", "external", ()))
    tags = chg(
        "t1",
        -9,
        "cloudformation",
        "ExecuteChangeSet on checkout: FinOps tagging",
        service="checkout",
        action="ExecuteChangeSet",
        changed=(
            "AWS::ECS::Service CheckoutService Tags",
            "AWS::Logs::LogGroup CheckoutLogs RetentionInDays 90 → 30",
        ),
        ships_code=False,
    )
    alarm = chg(
        "a1",
        -8,
        "cloudformation",
        "ExecuteChangeSet on checkout: tighter alarm",
        service="checkout",
        action="ExecuteChangeSet",
        changed=("AWS::CloudWatch::Alarm Checkout5xx Threshold 5 → 2",),
        ships_code=False,
    )
    f = facts(
        topology=topo,
        alarm_service="web",
        signals=[
            sig("psp", "error_rate", -6, 0.001, 0.5),
            sig("checkout", "error_rate", -6, 0.002, 0.4),
            sig("web", "error_rate", -5, 0.002, 0.3),
        ],
        changes=[tags, alarm],
    )
    d = diagnose(f, ["web", "checkout", "psp"])
    assert d.guilty is None, d.summary
    assert any("nothing that serves requests" in r for r in _reasons(d, "t1"))
    assert any("nothing that serves requests" in r for r in _reasons(d, "a1"))
    # The same update with a property that serves requests stays a suspect.
    timeout = chg(
        "x1",
        -8,
        "cloudformation",
        "ExecuteChangeSet on checkout",
        service="checkout",
        action="ExecuteChangeSet",
        changed=(
            "AWS::CloudWatch::Alarm Checkout5xx Threshold 5 → 2",
            "AWS::ECS::TaskDefinition Td Memory 2048 → 512",
        ),
        ships_code=False,
    )
    d = diagnose(facts(topology=topo, alarm_service="web", signals=f.signals, changes=[timeout]), ["web"])
    assert not any("nothing that serves requests" in r for r in _reasons(d, "x1"))


def test_a_database_given_more_connections_by_its_failing_caller_is_not_where_it_starts() -> None:
    topo = estate(
        ("billing", "lambda", ("ledger",)),
        ("ledger", "asg", ("db", "db-reader")),
        ("db", "rds", ()),
        ("db-reader", "rds", ()),
    )
    param = chg(
        "p1",
        -31,
        "parameter",
        "PutParameter /ledger/prod/db-writer-host: db.cluster → db.cluster-ro",
        service="ledger",
        action="PutParameter",
    )
    f = facts(
        topology=topo,
        alarm_service="billing",
        signals=[
            sig("db-reader", "connections", -26, 60, 216),
            sig("ledger", "error_rate", -26, 0.002, 0.46),
            sig("billing", "error_rate", -25, 0.002, 0.44),
        ],
        logs=[
            _log("ledger", "ReadOnlySqlTransaction: cannot execute INSERT in a read-only transaction", -26)
        ],
        changes=[param],
    )
    d = diagnose(f, ["db-reader", "ledger", "billing"])
    # The reader received the writes the caller was pointed to send it: the caller's change is the cause.
    assert d.root_service == "ledger" and d.guilty is not None and d.guilty.id == "p1", d.summary
    # With no change to explain it, a database that also slows (its own trouble) is still where it starts,
    # and one given only more connections is not.
    f.changes.clear()
    assert diagnose(f, ["db-reader", "ledger", "billing"]).root_service == "ledger"
    f.signals.append(sig("db-reader", "latency_p99_ms", -27, 5, 900))
    d = diagnose(f, ["db-reader", "ledger", "billing"])
    assert d.root_service == "db-reader", d.summary


def test_a_change_on_a_service_that_recovered_while_the_incident_went_on_elsewhere_is_not_the_cause() -> None:
    topo = estate(
        ("web", "ecs", ("payments",)),
        ("payments", "ecs", ("vault", "db")),
        ("db", "rds", ()),
        ("vault", "external", ()),
    )
    failover = chg(
        "f1",
        -21,
        "console",
        "RebootDBInstance on db (ForceFailover)",
        service="db",
        action="RebootDBInstance",
    )
    f = facts(
        topology=topo,
        alarm_service="web",
        signals=[
            sig("db", "latency_p99_ms", -21, 9, 1900, sustained=False),
            sig("payments", "error_rate", -21, 0.002, 0.35),
            sig("vault", "error_rate", -17, 0.002, 0.4),
            sig("web", "error_rate", -15, 0.002, 0.28),
        ],
        logs=[_log("payments", "vault authorize failed: 503 Service Unavailable acquirer_unavailable", -17)],
        changes=[failover],
    )
    d = diagnose(f, ["payments", "vault", "db", "web"])
    assert d.guilty is None and d.root_service == "vault", d.summary
    assert any("recovered while" in r for r in _reasons(d, "f1"))
    # While the database is still failing, its failover stays a suspect.
    f.signals[0] = sig("db", "latency_p99_ms", -21, 9, 1900)
    d = diagnose(f, ["payments", "vault", "db", "web"])
    assert not any("recovered while" in r for r in _reasons(d, "f1"))


def test_cpu_on_a_fleet_as_instances_join_it_within_the_minute_is_boot_cpu() -> None:
    from bot.analysis.symptoms import is_boot_cpu

    joined = InstanceFact("feed", "i-new", m(-27) + 19, None)
    old = InstanceFact("feed", "i-old", m(-3000), None)
    f = facts(instances=[joined, old])
    assert is_boot_cpu(sig("feed", "cpu_pct", -27, 30, 84), f)
    assert is_boot_cpu(sig("feed", "cpu_pct", -27, 30, 84, instance="i-old", sustained=False), f)
    # A lasting climb on an instance that did not join is not warm-up.
    assert not is_boot_cpu(sig("feed", "cpu_pct", -27, 30, 84, instance="i-old"), f)
    assert not is_boot_cpu(sig("feed", "cpu_pct", -40, 30, 84), f)


def test_a_datastore_blip_that_is_over_is_not_where_a_vendors_outage_starts() -> None:
    topo = estate(
        ("web", "ecs", ("cart",)),
        ("cart", "ecs", ("cart-store", "rates")),
        ("cart-store", "dynamodb", ()),
        ("rates", "external", ()),
    )
    f = facts(
        topology=topo,
        alarm_service="web",
        signals=[
            sig("cart-store", "throttles_per_min", -20, 0, 300, sustained=False),
            sig("cart", "error_rate", -18, 0.002, 0.3),
            sig("rates", "error_rate", -18, 0.001, 0.5, instance=None),
            sig("web", "error_rate", -17, 0.002, 0.2),
        ],
        logs=[_log("cart", "rates quote failed: HTTP 429 Too Many Requests (Retry-After: 30)", -18)],
    )
    d = diagnose(f, ["cart-store", "cart", "rates", "web"])
    assert d.root_service == "rates" and d.category is Category.DEPENDENCY_FAILURE, d.summary


def test_a_blip_that_recovered_before_the_lasting_failure_is_not_its_onset() -> None:
    from dataclasses import replace

    from bot.analysis.symptoms import affected_services

    throttled = replace(sig("builder", "throttles_per_min", -64, 0, 120, sustained=False), ended=m(-58))
    failing = sig("builder", "error_rate", -40, 0.002, 0.98)
    assert affected_services(facts(signals=[throttled, failing]))["builder"] == m(-40)
    # Still going when the errors began, it is where the failure started.
    touching = replace(throttled, ended=m(-41))
    assert affected_services(facts(signals=[touching, failing]))["builder"] == m(-64)


def test_a_database_whose_storage_filled_up_is_grown_not_restarted() -> None:
    topo = estate(("web", "ecs", ("orders",)), ("orders", "ecs", ("orders-db",)), ("orders-db", "rds", ()))
    f = facts(
        topology=topo,
        alarm_service="web",
        signals=[
            sig("orders-db", "latency_p99_ms", -12, 8, 900),
            sig("orders", "error_rate", -12, 0.002, 0.46),
            sig("web", "error_rate", -11, 0.002, 0.31),
        ],
        logs=[
            _log("orders-db", "could not extend file base/16384/24610: No space left on device", -12),
            _log(
                "orders",
                "insert failed: OperationalError: could not extend file: No space left on device",
                -12,
            ),
        ],
    )
    d = diagnose(f, ["orders-db", "orders", "web"])
    assert d.root_service == "orders-db", d.summary
    assert (d.category, d.mitigation) == (Category.RESOURCE_EXHAUSTION, Mitigation.SCALE_OUT), d.summary

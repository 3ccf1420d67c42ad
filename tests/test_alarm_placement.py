"""Which service an alarm points at: any dimension or ARN, matched against the discovered estate's resources, never a
name made up from the alarm's; when nothing matches, the thread is told what will be looked at instead."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain import Page, PageSource
from bot.investigation.attribution import alarmed_service, unplaced
from bot.sandbox.pages import AlarmNotice
from bot.slack.alarm_events import read_alarm_event
from bot.slack.parsers import read_sns_alarm
from bot.sources.aws.catalog import ServiceResources
from bot.sources.aws.telemetry import AlarmInfo
from bot.sources.aws.topology import Estate, ServiceInfo
from tests import alarm_payloads as docs

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
SFN = "arn:aws:states:eu-west-1:210987654321:stateMachine:fulfilment-flow"


def _estate() -> Estate:
    web = ServiceInfo(
        name="web",
        kind="asg",
        resources=ServiceResources(service="web", asg="web-asg"),
        instances={"web-1": "i-0abc1234def567890"},
    )
    fulfil = ServiceInfo(name="fulfilment", kind="unknown", arns=[SFN])
    jobs = ServiceInfo(
        name="checkout",
        kind="sqs",
        resources=ServiceResources(service="checkout", queue="checkout-jobs"),
        arns=["https://sqs.eu-west-1.amazonaws.com/210987654321/checkout-jobs"],
    )
    return Estate(services={"web": web, "fulfilment": fulfil, "checkout": jobs})


def _page(**fields: object) -> Page:
    return Page(
        source=PageSource.CLOUDWATCH, title=str(fields.get("alarm_name", "x")), fired_at=NOW, **fields
    )  # type: ignore[arg-type]


def test_an_instance_id_an_arn_and_a_queue_name_each_find_their_service() -> None:
    estate = _estate()
    ec2 = read_alarm_event(docs.lambda_action_metric())
    sqs = read_alarm_event(docs.single_metric())
    assert ec2 is not None and sqs is not None
    assert alarmed_service(ec2.page, None, estate) == "web"  # InstanceId=i-0abc... is web's instance
    assert alarmed_service(sqs.page, None, estate) == "checkout"  # QueueName=checkout-jobs
    page = _page(alarm_name="flow-failures", dimensions={"StateMachineArn": SFN})
    assert alarmed_service(page, None, estate) == "fulfilment"
    alarm = AlarmInfo(
        "flow-failures", "ALARM", "", "AWS/States", "ExecutionsFailed", {"StateMachineArn": SFN}, None, 1.0
    )
    assert alarmed_service(_page(alarm_name="flow-failures"), alarm, estate) == "fulfilment"


def test_no_service_is_made_up_from_the_alarm_name() -> None:
    notice = AlarmNotice(
        alarm_name="bucketbytesAlarm",
        metric_name="BucketSizeBytes",
        namespace="AWS/S3",
        dimensions=[("BucketName", "acme-media"), ("StorageType", "StandardStorage")],
        state_change_time=NOW,
    )
    parsed = read_sns_alarm(notice.message(), NOW)
    assert parsed.page.service_hint is None and parsed.page.dimensions["BucketName"] == "acme-media"
    assert alarmed_service(parsed.page, None, _estate()) is None
    said = unplaced(parsed.page, None)
    assert said == (
        "no service in the estate matches BucketName=acme-media, StorageType=StandardStorage, "
        "so the whole estate is investigated (the alarm's metric: AWS/S3 BucketSizeBytes)"
    )


def test_a_composite_is_placed_by_a_name_the_estate_holds_or_says_it_is_not() -> None:
    parsed = read_alarm_event(docs.composite())  # checkout-degraded: no metric, no dimensions
    assert parsed is not None
    assert (
        alarmed_service(parsed.page, None, _estate()) == "checkout"
    )  # the estate's service, named in the alarm
    elsewhere = Estate(services={k: v for k, v in _estate().services.items() if k != "checkout"})
    assert alarmed_service(parsed.page, None, elsewhere) is None
    assert (
        unplaced(parsed.page, None)
        == "no service in the estate matches this alarm, so the whole estate is investigated"
    )


def test_another_monitors_alert_source_is_searched_in_the_estate() -> None:
    page = Page(
        source=PageSource.PAGERDUTY,
        title="Host unreachable",
        fired_at=NOW,
        dimensions={"source": "i-0abc1234def567890", "check": "ping"},
    )
    assert alarmed_service(page, None, _estate()) == "web"


def test_a_target_group_says_which_service_behind_a_shared_load_balancer() -> None:
    def behind(name: str, tg: str) -> ServiceInfo:
        res = ServiceResources(service=name, load_balancer="app/shop/50dc6c495c0c9188", target_group=tg)
        return ServiceInfo(name=name, kind="ecs", resources=res)

    estate = Estate(
        services={
            "checkout": behind("checkout", "targetgroup/checkout/943f017f100becff"),
            "search": behind("search", "targetgroup/search/6d0ecf831eec9f09"),
        }
    )
    both = _page(
        alarm_name="shop-5xx",
        dimensions={
            "LoadBalancer": "app/shop/50dc6c495c0c9188",
            "TargetGroup": "targetgroup/search/6d0ecf831eec9f09",
        },
    )
    assert alarmed_service(both, None, estate) == "search"
    balancer_only = _page(alarm_name="shop-5xx", dimensions={"LoadBalancer": "app/shop/50dc6c495c0c9188"})
    assert alarmed_service(balancer_only, None, estate) is None  # it fronts both: neither is made the culprit

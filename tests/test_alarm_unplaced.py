"""An alarm on a resource no service in the estate owns or names (here an S3 bucket): the investigation's first
finding says so and what it investigates from instead (the alarm's namespace, metric and dimensions), and the
investigation goes on to a report over the whole estate rather than stopping or inventing a service."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain import Evidence, EvidenceKind, Page, PageSource
from bot.investigation.engine import Investigator
from bot.sandbox.demo import FLAGSHIP
from bot.sandbox.runner import sandbox
from bot.sandbox.scenario import load_scenario, resolve_scenario

pytestmark = pytest.mark.slow


class _Found:
    def __init__(self) -> None:
        self.found: list[Evidence] = []

    def finding(self, evidence: Evidence) -> None:
        self.found.append(evidence)


def test_an_alarm_no_service_owns_is_said_so_and_still_investigated() -> None:
    sc = load_scenario(resolve_scenario(FLAGSHIP))
    with sandbox(sc) as box:
        page = Page(
            source=PageSource.CLOUDWATCH,
            title="bucketbytesAlarm",
            fired_at=box.page.fired_at,
            alarm_name="bucketbytesAlarm",
            state="ALARM",
            namespace="AWS/S3",
            metric="BucketSizeBytes",
            dimensions={"BucketName": "nobodys-exports", "StorageType": "StandardStorage"},
        )
        deps = box.deps()
        # The bucket's own metric, as S3 publishes it; the alarm itself does not exist here, so only the
        # page's namespace, metric and dimensions can find it.
        deps.aws.get("cloudwatch").put_metric_data(
            Namespace="AWS/S3",
            MetricData=[
                {
                    "MetricName": "BucketSizeBytes",
                    "Dimensions": [
                        {"Name": "BucketName", "Value": "nobodys-exports"},
                        {"Name": "StorageType", "Value": "StandardStorage"},
                    ],
                    "Timestamp": box.page.fired_at - timedelta(minutes=m),
                    "Value": 1e9 + m,
                }
                for m in (3, 2, 1)
            ],
        )
        seen = _Found()
        outcome = Investigator(deps).investigate(page, seen)
    placed = [e for e in seen.found if e.kind is EvidenceKind.TOPOLOGY]
    assert len(placed) == 1 and placed[0].service is None
    assert "no service in the estate matches BucketName=nobodys-exports, StorageType=StandardStorage" in (
        placed[0].summary
    )
    assert (
        "the whole estate is investigated (the alarm's metric: AWS/S3 BucketSizeBytes)" in placed[0].summary
    )
    assert outcome.report is not None and outcome.facts.alarm_service == ""
    assert (
        len(outcome.estate.services) > 1
    )  # the whole estate was read, nothing made up from the alarm's name
    assert "bucketbytesalarm" not in outcome.estate.services
    chart = outcome.report.chart
    assert chart is not None and [v for _, v in chart.points][-3:] == [1e9 + 3, 1e9 + 2, 1e9 + 1], chart

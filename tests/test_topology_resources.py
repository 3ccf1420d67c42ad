"""Alarms on buckets, topics, streams, instances, queues and load balancers map to the service that owns the resource:
by its `service` tag (discovered through the APIs that list and tag each kind, on a moto server) or, failing that, by
being named in one service's configuration; when nothing matches, nothing is made up."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.domain import Page, PageSource
from bot.investigation.attribution import alarmed_service, unplaced
from bot.sources.aws.clients import AwsClients
from bot.sources.aws.topology import Estate, TopologyReader

REGION = "eu-west-1"
NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def aws(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[AwsClients]:
    pytest.importorskip("moto")
    from bot.sandbox.aws import MotoServer

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch_module.setenv(key, "testing")
    server = MotoServer()
    try:
        yield AwsClients(REGION, max_attempts=1, endpoint_url=server.url)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


@pytest.fixture(scope="module")
def estate(aws: AwsClients) -> Estate:
    s3 = aws.get("s3")
    location = {"LocationConstraint": REGION}
    s3.create_bucket(Bucket="acme-media", CreateBucketConfiguration=location)
    s3.put_bucket_tagging(Bucket="acme-media", Tagging={"TagSet": [{"Key": "service", "Value": "media"}]})
    s3.create_bucket(Bucket="acme-untagged-logs", CreateBucketConfiguration=location)
    s3.create_bucket(Bucket="acme-uploads", CreateBucketConfiguration=location)  # untagged, used by ingest
    sns = aws.get("sns")
    sns.create_topic(Name="order-events", Tags=[{"Key": "service", "Value": "orders"}])
    sns.create_topic(Name="nobody-topic")
    kinesis = aws.get("kinesis")
    kinesis.create_stream(StreamName="clickstream", ShardCount=1)
    kinesis.add_tags_to_stream(StreamName="clickstream", Tags={"service": "analytics"})
    ec2 = aws.get("ec2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "service", "Value": "legacy"}, {"Key": "Name", "Value": "legacy-1"}],
            }
        ],
    )
    role = aws.get("iam").create_role(
        RoleName="ingest-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    aws.get("lambda").create_function(
        FunctionName="ingest-handler",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": _zip()},
        Environment={"Variables": {"UPLOADS": "s3://acme-uploads/incoming/", "MODE": "fast"}},
        Tags={"service": "ingest"},
    )
    s3.create_bucket(Bucket="acme-reports", CreateBucketConfiguration=location)  # untagged, used by reports
    ecs = aws.get("ecs")
    ecs.create_cluster(clusterName="prod")
    family = ecs.register_task_definition(
        family="reports",
        containerDefinitions=[
            {
                "name": "app",
                "image": "reports:1",
                "memory": 512,
                "environment": [{"name": "REPORTS_BUCKET", "value": "acme-reports"}],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster="prod",
        serviceName="reports",
        taskDefinition=family,
        desiredCount=1,
        tags=[{"key": "service", "value": "reports"}],
    )
    found = TopologyReader(aws).discover()
    assert found.gaps == []
    return found


def _page(namespace: str, metric: str, **dims: str) -> Page:
    return Page(
        source=PageSource.CLOUDWATCH,
        title="an alarm named for nothing in particular",
        fired_at=NOW,
        alarm_name="bucketbytesAlarm",
        namespace=namespace,
        metric=metric,
        dimensions=dims,
    )


def test_tagged_buckets_topics_streams_and_lone_instances_are_discovered(estate: Estate) -> None:
    assert "arn:aws:s3:::acme-media" in estate.services["media"].arns
    assert any(a.endswith(":order-events") for a in estate.services["orders"].arns)
    assert any(a.endswith("stream/clickstream") for a in estate.services["analytics"].arns)
    assert set(estate.services["legacy"].instances) == {"legacy-1"}
    assert "s3://acme-uploads/incoming/" in estate.services["ingest"].named
    owners = [n for n, i in estate.services.items() if any("untagged" in a or "nobody" in a for a in i.arns)]
    assert owners == []  # untagged resources are nobody's


def test_each_dimension_finds_the_service_that_owns_its_resource(estate: Estate) -> None:
    instance = estate.services["legacy"].instances["legacy-1"]
    cases = [
        (_page("AWS/S3", "BucketSizeBytes", BucketName="acme-media", StorageType="StandardStorage"), "media"),
        (_page("AWS/SNS", "NumberOfNotificationsFailed", TopicName="order-events"), "orders"),
        (_page("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", StreamName="clickstream"), "analytics"),
        (_page("AWS/EC2", "StatusCheckFailed", InstanceId=instance), "legacy"),
        (
            _page("AWS/S3", "4xxErrors", BucketName="acme-uploads", FilterId="all"),
            "ingest",
        ),  # its function's env
        (
            _page("AWS/S3", "5xxErrors", BucketName="acme-reports", FilterId="all"),
            "reports",
        ),  # its task's env
    ]
    for page, service in cases:
        assert alarmed_service(page, None, estate) == service, page.dimensions


def test_a_resource_no_service_owns_or_names_is_said_so(estate: Estate) -> None:
    page = _page("AWS/S3", "BucketSizeBytes", BucketName="acme-untagged-logs", StorageType="StandardStorage")
    assert alarmed_service(page, None, estate) is None
    assert unplaced(page, None) == (
        "no service in the estate matches BucketName=acme-untagged-logs, StorageType=StandardStorage, "
        "so the whole estate is investigated (the alarm's metric: AWS/S3 BucketSizeBytes)"
    )

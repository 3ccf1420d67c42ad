"""What a change changed and whether it shipped code, read from its CloudTrail record and from what AWS kept
of it (a change set, the task definition before it); a read that fails is a gap, never a crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from bot.domain import Change, ChangeSource, ChangeVia
from bot.sources.aws.change_detail import (
    ChangeDetails,
    api_action,
    diff_task_definitions,
    from_request,
    read_change_set,
    read_stack_events,
)
from bot.sources.aws.changes import change_of_event
from bot.sources.result import Outcome

AT = datetime(2026, 11, 22, 9, 43, tzinfo=UTC)


def _rc(rtype: str, logical: str, *details: dict[str, Any], action: str = "Modify") -> dict[str, Any]:
    return {
        "Type": "Resource",
        "ResourceChange": {
            "Action": action,
            "ResourceType": rtype,
            "LogicalResourceId": logical,
            "Details": list(details),
        },
    }


def _detail(name: str, before: str | None = None, after: str | None = None, **kw: Any) -> dict[str, Any]:
    target: dict[str, Any] = {
        "Attribute": "Properties",
        "Name": name,
        "Path": kw.pop("path", f"/Properties/{name}"),
    }
    if after is not None:
        target.update(BeforeValue=before, AfterValue=after)
    return {
        "Target": target,
        "Evaluation": "Static",
        "ChangeSource": kw.pop("source", "DirectModification"),
        **kw,
    }


def test_a_change_set_of_settings_ships_no_code() -> None:
    described = {
        "Changes": [
            _rc(
                "AWS::Lambda::Function",
                "ImageResizeFunction",
                _detail("ReservedConcurrentExecutions", "200", "20"),
            )
        ]
    }
    changed, ships = read_change_set(described)
    assert changed == ("AWS::Lambda::Function ImageResizeFunction ReservedConcurrentExecutions 200 → 20",)
    assert ships is False


def test_code_images_amis_versions_and_version_parameters_ship_code() -> None:
    cases = [
        _rc("AWS::Lambda::Function", "Fn", _detail("Code", path="/Properties/Code/S3Key")),
        _rc(
            "AWS::ECS::TaskDefinition",
            "Task",
            _detail("ContainerDefinitions", path="/Properties/ContainerDefinitions/0/Image"),
        ),
        _rc(
            "AWS::EC2::LaunchTemplate",
            "Lt",
            _detail("LaunchTemplateData", path="/Properties/LaunchTemplateData/ImageId"),
        ),
        _rc("AWS::Lambda::Version", "FnVersion", action="Add"),
        _rc(
            "AWS::DynamoDB::Table",
            "T",
            _detail("Tags", source="ParameterReference", CausingEntity="ImageTag"),
        ),
    ]
    for case in cases:
        assert read_change_set({"Changes": [case]})[1] is True, case


def test_a_change_that_follows_another_resource_does_not_decide() -> None:
    follows = _detail("LaunchTemplate", source="ResourceAttribute", CausingEntity="Lt.LatestVersionNumber")
    described = {
        "Changes": [
            _rc("AWS::AutoScaling::AutoScalingGroup", "Asg", follows),
            _rc("AWS::SQS::Queue", "Q", _detail("VisibilityTimeout", "30", "5")),
        ]
    }
    changed, ships = read_change_set(described)
    assert ships is False and changed == ("AWS::SQS::Queue Q VisibilityTimeout 30 → 5",)
    assert read_change_set({"Changes": []}) == ((), None)


def test_direct_calls_say_what_they_set() -> None:
    assert from_request("UpdateFunctionConfiguration", {"functionName": "fn", "memorySize": 512}, None) == (
        ("fn memorySize → 512",),
        False,
    )
    assert from_request(
        "PutFunctionConcurrency", {"functionName": "fn", "reservedConcurrentExecutions": 5}, None
    ) == (
        ("fn reservedConcurrentExecutions → 5",),
        False,
    )
    assert from_request("UpdateService", {"cluster": "c", "service": "api", "desiredCount": 0}, None) == (
        ("api desiredCount → 0",),
        False,
    )
    assert from_request("UpdateService", {"service": "api", "taskDefinition": "api:7"}, None)[1] is None
    assert from_request("UpdateFunctionCode", {"functionName": "fn"}, None)[1] is True
    assert from_request("PutParameter", {"name": "/a/b", "overwrite": True}, None)[1] is False
    params = {
        "dBParameterGroupName": "pg",
        "parameters": [{"parameterName": "max_connections", "parameterValue": "200"}],
    }
    assert from_request("ModifyDBParameterGroup", params, None) == (("pg max_connections → 200",), False)
    version = {"stackName": "s", "parameters": [{"parameterKey": "Version", "parameterValue": "abc"}]}
    assert from_request("UpdateStack", version, None) == (("parameter Version → abc",), True)
    assert from_request("StartSession", {"target": "i-1"}, None) == ((), None)


def test_event_names_as_api_actions() -> None:
    assert api_action("UpdateFunctionConfiguration20150331v2") == "UpdateFunctionConfiguration"
    assert api_action("PutFunctionConcurrency20171031") == "PutFunctionConcurrency"
    assert api_action("PutParameter") == "PutParameter" and api_action("S3Put2") == "S3Put2"


def test_a_task_definition_against_the_one_before() -> None:
    old = {
        "family": "api",
        "revision": 6,
        "memory": "2048",
        "containerDefinitions": [
            {"name": "api", "image": "api:1", "environment": [{"name": "POOL", "value": "40"}]}
        ],
    }
    new: dict[str, Any] = {
        "family": "api",
        "revision": 7,
        "memory": "1024",
        "containerDefinitions": [
            {"name": "api", "image": "api:1", "environment": [{"name": "POOL", "value": "4"}]}
        ],
    }
    changed, ships = diff_task_definitions(old, new)
    assert changed == ("api:7 memory 2048 → 1024", "api:7 api env POOL 40 → 4") and ships is False
    new["containerDefinitions"][0]["image"] = "api:2"
    assert diff_task_definitions(old, new)[1] is True


def test_stack_events_say_which_resources_a_direct_update_touched() -> None:
    events = [
        {
            "LogicalResourceId": "forge",
            "ResourceType": "AWS::CloudFormation::Stack",
            "ResourceStatus": "UPDATE_COMPLETE",
            "Timestamp": AT,
        },
        {
            "LogicalResourceId": "LaunchTemplate",
            "ResourceType": "AWS::EC2::LaunchTemplate",
            "ResourceStatus": "UPDATE_COMPLETE",
            "Timestamp": AT,
        },
        {
            "LogicalResourceId": "Old",
            "ResourceType": "AWS::EC2::LaunchTemplate",
            "ResourceStatus": "UPDATE_COMPLETE",
            "Timestamp": datetime(2026, 1, 1, tzinfo=UTC),
        },
    ]
    assert read_stack_events(events, "forge", AT) == (
        ("AWS::EC2::LaunchTemplate LaunchTemplate updated",),
        True,
    )


def _trail(name: str, request: dict[str, Any], identity: dict[str, Any] | None = None) -> dict[str, Any]:
    ident = identity or {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::1:assumed-role/github-actions-deploy/GitHubActions",
    }
    doc = {"eventSource": "cloudformation.amazonaws.com", "userIdentity": ident, "requestParameters": request}
    return {
        "EventName": name,
        "EventTime": AT,
        "EventId": "e1",
        "Resources": [],
        "CloudTrailEvent": json.dumps(doc),
    }


def test_proposals_and_calls_made_on_behalf_of_a_stack_are_not_changes() -> None:
    assert change_of_event(_trail("CreateChangeSet", {"stackName": "s"})) is None
    invoked = {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::1:assumed-role/r/s",
        "invokedBy": "cloudformation.amazonaws.com",
    }
    assert change_of_event(_trail("PutFunctionConcurrency20171031", {"functionName": "f"}, invoked)) is None
    c = change_of_event(
        _trail("PutFunctionConcurrency20171031", {"functionName": "f", "reservedConcurrentExecutions": 3})
    )
    assert c is not None and c.action == "PutFunctionConcurrency" and c.ships_code is False
    assert "f reservedConcurrentExecutions → 3" in c.summary


class _Denied:
    """A client whose every call is refused."""

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, name)

        return call


class _Clients:
    def get(self, service: str) -> Any:
        return _Denied()


def test_a_read_that_fails_is_a_gap_and_the_change_stays() -> None:
    change = Change(
        id="cloudtrail:e1",
        at=AT,
        via=ChangeVia.DEPLOY,
        summary="ExecuteChangeSet on s by GitHubActions",
        source=ChangeSource.CLOUDTRAIL,
        action="ExecuteChangeSet",
        request={"stackName": "s", "changeSetName": "cap"},
    )
    details = ChangeDetails(_Clients())  # type: ignore[arg-type]
    result = details.of(change)
    assert result.status is Outcome.DENIED and result.source == "cloudformation:DescribeChangeSet"
    assert result.gap() is not None
    plain = change.model_copy(update={"action": "StartSession", "request": {}})
    assert details.of(plain).data == plain, "nothing to read: the change as it was, no call made"


def test_a_container_limit_is_a_setting_and_only_a_moved_image_is_code() -> None:
    memory = _rc(
        "AWS::ECS::TaskDefinition",
        "Task",
        _detail("ContainerDefinitions", "1920", "960", path="/Properties/ContainerDefinitions/0/Memory"),
        _detail("Memory", "2048", "1024"),
    )
    assert read_change_set({"Changes": [memory]})[1] is False
    whole = '[{{"Name": "api", "Image": "{}", "Memory": 960}}]'
    same = _rc(
        "AWS::ECS::TaskDefinition",
        "Task",
        _detail("ContainerDefinitions", whole.format("r:1"), whole.format("r:1")),
    )
    moved = _rc(
        "AWS::ECS::TaskDefinition",
        "Task",
        _detail("ContainerDefinitions", whole.format("r:1"), whole.format("r:2")),
    )
    assert read_change_set({"Changes": [same]})[1] is False
    assert read_change_set({"Changes": [moved]})[1] is True


def test_a_setting_passed_through_a_stack_parameter_is_not_code_and_the_path_names_the_variable() -> None:
    url = _detail(
        "LaunchTemplateData",
        "https://features.us-east-1.example",
        "https://features.eu-west-1.example",
        source="ParameterReference",
        CausingEntity="FeatureStoreUrl",
    )
    changed, ships = read_change_set({"Changes": [_rc("AWS::EC2::LaunchTemplate", "Lt", url)]})
    assert ships is False and changed == (
        "AWS::EC2::LaunchTemplate Lt LaunchTemplateData https://features.us-east-1.example → "
        "https://features.eu-west-1.example (parameter FeatureStoreUrl)",
    )
    ami = _detail("LaunchTemplateData", "ami-1", "ami-2", source="ParameterReference", CausingEntity="AmiId")
    assert read_change_set({"Changes": [_rc("AWS::EC2::LaunchTemplate", "Lt", ami)]})[1] is True
    env = _detail(
        "Environment", "eu-west-1", "us-west-2", path="/Properties/Environment/Variables/TABLE_REGION"
    )
    assert read_change_set({"Changes": [_rc("AWS::Lambda::Function", "Fn", env)]})[0] == (
        "AWS::Lambda::Function Fn Environment.Variables.TABLE_REGION eu-west-1 → us-west-2",
    )

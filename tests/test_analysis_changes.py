"""Who made a change and which door it came through, read from CloudTrail's own fields."""

from __future__ import annotations

from typing import Any

import pytest

from bot.analysis.changes import actor_of, door_of
from bot.domain import ActorKind, ChangeVia


def _role(role: str, session: str) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::111122223333:assumed-role/{role}/{session}",
        "sessionContext": {"sessionIssuer": {"type": "Role", "userName": role}},
    }


@pytest.mark.parametrize(
    ("identity", "agent", "username", "kind", "name"),
    [
        ({"type": "IAMUser", "userName": "ops"}, "console.amazonaws.com", "ops", ActorKind.PERSON, "ops"),
        (
            _role("AWSReservedSSO_Admin_1a2b", "h.okafor"),
            "console.amazonaws.com",
            None,
            ActorKind.PERSON,
            "h.okafor",
        ),
        (
            _role("gha-deployer", "GitHubActions"),
            "aws-cli/2.22 exec-env/GitHubActions",
            None,
            ActorKind.PIPELINE,
            "GitHubActions",
        ),
        (_role("release-bot", "run-4412"), "Boto3/1.35", None, ActorKind.PIPELINE, "run-4412"),
        (_role("checkout-task-role", "ecs-task"), "Boto3/1.35", None, ActorKind.UNKNOWN, "ecs-task"),
        (
            {"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"},
            "autoscaling.amazonaws.com",
            None,
            ActorKind.AWS_SERVICE,
            "autoscaling.amazonaws.com",
        ),
        (
            {"type": "WebIdentityUser", "userName": "repo:acme/api"},
            "Boto3",
            None,
            ActorKind.PIPELINE,
            "repo:acme/api",
        ),
        (_role("platform-admins", "maria"), "Mozilla/5.0 (Macintosh)", None, ActorKind.PERSON, "maria"),
        (  # a role session calling from an AWS host (an EC2 runner's kernel): automation
            _role("platform-kms-janitor", "kms-janitor"),
            "aws-cli/2.22.4 Python/3.12.6 Linux/6.8.0-1017-aws botocore/2.4.5",
            None,
            ActorKind.PIPELINE,
            "kms-janitor",
        ),
        (  # the same client on a laptop: nothing says who
            _role("platform-kms-janitor", "kms-janitor"),
            "aws-cli/2.22.4 Python/3.12.6 Darwin/23.1.0",
            None,
            ActorKind.UNKNOWN,
            "kms-janitor",
        ),
    ],
)
def test_who_made_a_change(
    identity: dict[str, Any], agent: str, username: str | None, kind: ActorKind, name: str
) -> None:
    actor = actor_of(identity, agent, username)
    assert (actor.kind, actor.name) == (kind, name)


def test_a_role_named_after_a_pipeline_word_inside_another_word_is_not_a_pipeline() -> None:
    # "cicada" contains "ci" but is not the word "ci"
    assert actor_of(_role("cicada-app", "worker"), "Boto3").kind is ActorKind.UNKNOWN


PERSON = actor_of({"type": "IAMUser", "userName": "ops"}, "console.amazonaws.com", "ops")
PIPELINE = actor_of(_role("gha-deployer", "GitHubActions"), "exec-env/GitHubActions")


@pytest.mark.parametrize(
    ("action", "source", "actor", "params", "via"),
    [
        ("UpdateService", "ecs.amazonaws.com", PIPELINE, {"taskDefinition": "api:7"}, ChangeVia.DEPLOY),
        ("UpdateService", "ecs.amazonaws.com", PERSON, {"taskDefinition": "api:7"}, ChangeVia.CONSOLE),
        (
            "UpdateService",
            "ecs.amazonaws.com",
            PERSON,
            {"cluster": "c", "service": "s", "desiredCount": 2},
            ChangeVia.SCALING,
        ),
        ("SetDesiredCapacity", "autoscaling.amazonaws.com", PERSON, {}, ChangeVia.SCALING),
        ("PutParameter", "ssm.amazonaws.com", PIPELINE, {"name": "/x"}, ChangeVia.PARAMETER),
        ("StartSession", "ssm.amazonaws.com", PERSON, {}, ChangeVia.SSM_SESSION),
        ("PutBucketPolicy", "s3.amazonaws.com", PERSON, {}, ChangeVia.IAM),
        ("PutKeyPolicy", "kms.amazonaws.com", PERSON, {}, ChangeVia.IAM),
        ("PutRolePolicy", "iam.amazonaws.com", PIPELINE, {}, ChangeVia.IAM),
        ("PutScalingPolicy", "autoscaling.amazonaws.com", PERSON, {}, ChangeVia.CONSOLE),
        ("UpdateFunctionCode", "lambda.amazonaws.com", PIPELINE, {}, ChangeVia.DEPLOY),
        ("UpdateFunctionConfiguration", "lambda.amazonaws.com", PERSON, {}, ChangeVia.CONSOLE),
        ("CreateTags", "ec2.amazonaws.com", PIPELINE, {}, ChangeVia.API),
    ],
)
def test_which_door(action: str, source: str, actor: Any, params: dict[str, Any], via: ChangeVia) -> None:
    assert door_of(action, source, actor, params) is via

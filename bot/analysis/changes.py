"""What a change record means: who made it (a person, a pipeline, AWS itself) and which door it came through.

Pure: the adapters hand in the record's own fields (CloudTrail's `userIdentity`, `userAgent`, event name and
request), and get back domain values. The rules are what a senior SRE reads from a CloudTrail record, not
names from any one estate.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from bot.domain import Actor, ActorKind, Change, ChangeVia

#: Words that, as a whole token of a role or session name or in a user agent, mark an automated pipeline.
PIPELINE_WORDS = frozenset(
    {
        "github",
        "githubactions",
        "gha",
        "actions",
        "ci",
        "cd",
        "cicd",
        "pipeline",
        "codebuild",
        "codepipeline",
        "codedeploy",
        "deploy",
        "deployer",
        "deployment",
        "jenkins",
        "gitlab",
        "circleci",
        "buildkite",
        "spinnaker",
        "argocd",
        "terraform",
        "atlantis",
        "cdk",
        "release",
    }
)
#: API actions that ship a release: new code, a new task definition, a new version, a stack update.
RELEASE_ACTIONS = frozenset(
    {
        "RegisterTaskDefinition",
        "UpdateFunctionCode",
        "PublishVersion",
        "UpdateAlias",
        "CreateDeployment",
        "UpdateStack",
        "ExecuteChangeSet",
        "StartInstanceRefresh",
        "CreateLaunchTemplateVersion",
    }
)
_STACK_RELEASES = frozenset({"UpdateStack", "ExecuteChangeSet", "CreateStack"})
_STARTS_SESSION = frozenset({"StartSession", "ResumeSession"})


def _tokens(text: str) -> set[str]:
    """Lower-case word tokens, splitting camelCase and any punctuation."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return {t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t}


#: A client running on AWS's own hosts (an EC2 kernel, a container or function runtime, a build service): a
#: role session calling from there (not a person's SSO role) is automation.
_AWS_HOST = re.compile(
    r"linux/\S*(?:-aws\b|\.amzn)|exec-env/aws_(?:ecs|lambda)|exec-env/(?:codebuild|githubactions)"
)


def actor_of(identity: Mapping[str, Any], user_agent: str = "", username: str | None = None) -> Actor:
    """Who made a CloudTrail-recorded change, from its `userIdentity` and `userAgent`."""
    kind_field = str(identity.get("type", ""))
    arn = identity.get("arn") or None
    issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
    role = str(issuer.get("userName") or "")
    session = arn.rsplit("/", 1)[-1] if isinstance(arn, str) and ":assumed-role/" in arn else ""
    name = (
        username
        or session
        or role
        or identity.get("userName")
        or arn
        or identity.get("invokedBy")
        or "unknown"
    )
    agent = user_agent.lower()
    by = str(identity.get("invokedBy") or "")
    if kind_field == "AWSService" or (by.endswith(".amazonaws.com") and not _console(by)):
        return Actor(name=by or str(name), kind=ActorKind.AWS_SERVICE, arn=arn)
    if kind_field == "WebIdentityUser" or (identity.get("sessionContext") or {}).get("webIdFederationData"):
        return Actor(name=str(name), kind=ActorKind.PIPELINE, arn=arn)
    words = _tokens(role) | _tokens(session) | _tokens(user_agent)
    if role.startswith("AWSReservedSSO_") or kind_field in ("IAMUser", "Root"):
        person = not (words & PIPELINE_WORDS) or kind_field == "Root"
        return Actor(name=str(name), kind=ActorKind.PERSON if person else ActorKind.PIPELINE, arn=arn)
    if words & PIPELINE_WORDS or (session and _AWS_HOST.search(agent)):
        return Actor(name=str(name), kind=ActorKind.PIPELINE, arn=arn)
    if _console(agent) or "mozilla/" in agent:
        return Actor(name=str(name), kind=ActorKind.PERSON, arn=arn)
    return Actor(name=str(name), kind=ActorKind.UNKNOWN, arn=arn)


def _console(agent: str) -> bool:
    """The AWS console (or its sign-in) made the call on a person's behalf."""
    low = agent.lower()
    return "console" in low or "signin.amazonaws.com" in low


def door_of(
    action: str,
    event_source: str,
    actor: Actor,
    request: Mapping[str, Any],
    from_console: bool = False,
) -> ChangeVia:
    """Which door a CloudTrail-recorded change came through.

    A pipeline's release calls belong to its deploy; a person's edit is theirs even when it is the same API
    (an `UpdateService` that only sets `desiredCount` is a capacity change, not a release).
    """
    if action in _STARTS_SESSION and event_source.startswith("ssm."):
        return ChangeVia.SSM_SESSION
    if action == "PutParameter" or action == "DeleteParameter":
        return ChangeVia.PARAMETER
    if event_source.startswith("appconfig.") and action == "StartDeployment":
        return ChangeVia.PARAMETER  # a configuration (feature flag) rolled out, like a parameter write
    if _is_permission(action, event_source):
        return ChangeVia.IAM
    if action in ("SetDesiredCapacity", "UpdateAutoScalingGroup") or _only_capacity(action, request):
        return ChangeVia.SCALING
    if action in _STACK_RELEASES:  # infrastructure as code, whoever pressed the button
        return ChangeVia.CLOUDFORMATION
    release = action in RELEASE_ACTIONS or (action == "UpdateService" and "taskDefinition" in request)
    if release and actor.kind in (ActorKind.PIPELINE, ActorKind.AWS_SERVICE):
        return ChangeVia.DEPLOY
    if from_console or actor.kind is ActorKind.PERSON:
        return ChangeVia.CONSOLE
    if release:
        return ChangeVia.DEPLOY
    return ChangeVia.API


def _is_permission(action: str, event_source: str) -> bool:
    """A write to who may do what: IAM, resource policies (bucket, key, queue, topic), grants, permissions."""
    if event_source.startswith("iam."):
        return True
    if any(w in action for w in ("Scaling", "Retention", "Lifecycle", "Replication")):
        return False
    return "Policy" in action or "Permission" in action or action in ("CreateGrant", "RevokeGrant")


def _only_capacity(action: str, request: Mapping[str, Any]) -> bool:
    """An ECS `UpdateService` whose only change is the desired count."""
    if action != "UpdateService":
        return False
    keys = {k for k in request if k not in ("cluster", "service")}
    return keys == {"desiredCount"}


#: API actions that set how much capacity a service has (instances, tasks, concurrent executions).
CAPACITY_ACTIONS = frozenset(
    {"SetDesiredCapacity", "UpdateAutoScalingGroup", "PutFunctionConcurrency", "DeleteFunctionConcurrency"}
)


#: Properties (of a stack's resources) that set how much capacity a service has.
_CAPACITY_PROPERTIES = re.compile(
    r"\b(?:ReservedConcurrentExecutions|DesiredCount|DesiredCapacity|MinSize|MaxSize|MinCapacity|MaxCapacity"
    r"|BillingMode|ProvisionedThroughput|ReadCapacityUnits|WriteCapacityUnits)\b"
)
#: Properties that set a limit of one resource (a function's reserved concurrency, a table's throughput).
_LIMIT_PROPERTIES = re.compile(
    r"\b(?:ReservedConcurrentExecutions|BillingMode|ProvisionedThroughput|ReadCapacityUnits|WriteCapacityUnits)\b"
)


def _capacity_call(change: Change) -> bool:
    """A scaling call: desired capacity, a group's sizes, reserved concurrency, an ECS desired count alone."""
    return (
        change.via is ChangeVia.SCALING
        or change.action in CAPACITY_ACTIONS
        or _only_capacity(change.action or "", change.request)
    )


def sets_capacity(change: Change) -> bool:
    """Whether someone (not AWS reacting to load) set how much capacity a service has: a scaling call, or a
    stack update of a capacity property."""
    if change.actor is not None and change.actor.kind is ActorKind.AWS_SERVICE:
        return False
    return _capacity_call(change) or any(_CAPACITY_PROPERTIES.search(line) for line in change.changed)


def reacts_to_load(change: Change) -> bool:
    """Auto Scaling (an AWS service) changing a service's capacity under its policy, in reaction to load."""
    return change.actor is not None and change.actor.kind is ActorKind.AWS_SERVICE and _capacity_call(change)


#: What a change may touch without touching what serves requests: alarms and dashboards, how long logs are
#: kept, tags.
_WATCHING_TYPES = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm", "AWS::CloudWatch::Dashboard")
_WATCHING_PROPERTIES = re.compile(r"^(?:RetentionInDays|Tags)\b")


def serves_nothing(change: Change) -> bool:
    """Whether everything a change changed is watching or bookkeeping (an alarm's threshold, a log group's
    retention, tags), so that it cannot have broken what serves requests."""
    if not change.changed or change.ships_code:
        return False
    for line in change.changed:
        rtype, _, rest = line.partition(" ")
        prop = rest.split(" ", 2)[1] if len(rest.split(" ")) > 1 else ""
        if not (rtype in _WATCHING_TYPES or _WATCHING_PROPERTIES.match(prop)):
            return False
    return True


def sets_a_limit(change: Change) -> bool:
    """Whether the change sets a limit of one resource (a function's reserved concurrency, a table's billing
    mode or provisioned throughput): a setting, reverted like any setting, not instances or tasks added."""
    return change.action in ("PutFunctionConcurrency", "DeleteFunctionConcurrency", "UpdateTable") or any(
        _LIMIT_PROPERTIES.search(line) for line in change.changed
    )


def _names_of(actor: Actor) -> set[str]:
    """The actor's name and the role, user and session names in its ARN, lower-cased."""
    names = {actor.name.lower()}
    if actor.arn and ":" in actor.arn:
        path = actor.arn.rsplit(":", 1)[-1].split("/")
        names |= {p.lower() for p in path[1:] if p}
    return names


def by_deploy_principal(change: Change, principals: Collection[str]) -> Change:
    """`change` as the organisation sees it: made by one of its deploy `principals` (a user, role or session
    name), it is a pipeline's deploy, not a hand edit (a console or plain API call becomes a deploy; a
    parameter, permission or capacity change keeps its door, made by a pipeline)."""
    actor = change.actor
    if actor is None or not principals or not _names_of(actor) & {p.lower() for p in principals}:
        return change
    via = ChangeVia.DEPLOY if change.via in (ChangeVia.CONSOLE, ChangeVia.API) else change.via
    pipeline = actor.model_copy(update={"kind": ActorKind.PIPELINE})
    return change.model_copy(update={"actor": pipeline, "via": via})

"""Changes: who changed what in the estate, when, and through which door.

One type for every source (a GitHub deploy, a CloudTrail call, a stack update, a scaling activity), so the
analysis reasons over what a change *is* rather than over how its source happened to phrase it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from bot.domain.base import Model


class ChangeVia(StrEnum):
    """The door a change came through."""

    GITHUB_ACTIONS = "github-actions"  # a CI/CD pipeline's deploy run
    CLOUDFORMATION = "cloudformation"  # a stack update
    DEPLOY = "deploy"  # an AWS API call that is part of a deploy (new task definition, code, alias)
    PARAMETER = "parameter"  # an SSM parameter write
    CONSOLE = "console"  # a person in the AWS console
    SSM_SESSION = "ssm-session"  # a shell on an instance through Session Manager
    IAM = "iam"  # a permission or policy edit
    SCALING = "scaling"  # capacity changed (desired counts, scaling activities)
    API = "api"  # any other API write

    @property
    def is_deploy(self) -> bool:
        """A code or infrastructure release, as opposed to a hand-made edit."""
        return self in (ChangeVia.GITHUB_ACTIONS, ChangeVia.CLOUDFORMATION, ChangeVia.DEPLOY)


class ActorKind(StrEnum):
    """Who made a change, as a senior SRE would sort them."""

    PERSON = "person"  # a console or CLI user, an SSO session
    PIPELINE = "pipeline"  # a CI/CD role or deploy bot
    AWS_SERVICE = "aws-service"  # AWS acting for someone (Auto Scaling, CloudFormation)
    UNKNOWN = "unknown"


class Actor(Model):
    """Who made a change: the principal's name (a user, a role session) and what kind of actor it is."""

    name: str
    kind: ActorKind = ActorKind.UNKNOWN
    arn: str | None = None


class ChangeSource(StrEnum):
    """The record a change was read from."""

    GITHUB = "github"
    CLOUDTRAIL = "cloudtrail"
    AUTOSCALING = "autoscaling"
    CLOUDFORMATION = "cloudformation"
    RECORD = "record"  # a change log kept elsewhere (a dataset's or a ticketing system's records)


class Change(Model):
    """Something that changed in the estate.

    `summary` is for people; everything the analysis reasons over is a field of its own: the API `action`,
    the `request` it carried, the `commit` and its `parent_commit`, the scaling `cause`.
    """

    id: str
    at: datetime
    via: ChangeVia
    summary: str
    source: ChangeSource
    source_id: str = ""  # the record's own id: a CloudTrail EventId, a workflow run id
    action: str | None = None  # the API action (`PutParameter`, `UpdateService`)
    actor: Actor | None = None
    service: str | None = None
    instance: str | None = None
    resource: str | None = None
    repo: str | None = None
    commit: str | None = None
    parent_commit: str | None = None
    files: tuple[str, ...] = ()
    #: Lines a commit added (from its patch, capped): code and queries that may show up quoted in logs.
    added_lines: tuple[str, ...] = ()
    request: dict[str, Any] = Field(default_factory=dict)
    cause: str | None = None
    link: str | None = None
    changed: tuple[
        str, ...
    ] = ()  # what it changed, property by property (`ReservedConcurrentExecutions 200 → 20`)
    ships_code: bool | None = (
        None  # whether it put new code in place (an image, a code bundle); None: unknown
    )

    @property
    def is_deploy(self) -> bool:
        """A code or infrastructure release (as opposed to a hand-made edit)."""
        return self.via.is_deploy

    @property
    def only_configuration(self) -> bool:
        """A release door that changed settings, not code: known to ship no new code."""
        return self.ships_code is False

    @property
    def who(self) -> str | None:
        """The actor's name, if known."""
        return self.actor.name if self.actor else None

    def parameter_name(self) -> str | None:
        """The SSM parameter a `PutParameter`-style change wrote, from its request."""
        name = self.request.get("name") or self.request.get("Name")
        return name if isinstance(name, str) else self.resource

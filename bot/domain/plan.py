"""Mitigation plans: five phases of steps, the executable ones naming a catalogue action."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from bot.domain.base import Model


class Mitigation(StrEnum):
    """The first thing to do about it."""

    ROLLBACK = "rollback"
    REVERT_CONFIG = "revert-config"
    REVERT_PERMISSION = "revert-permission"
    REPLACE_INSTANCE = "replace-instance"
    RESTART = "restart"
    SCALE_OUT = "scale-out"
    FAILOVER = "failover"
    WAIT = "wait"
    NONE = "none"


class Phase(StrEnum):
    """The phases of a mitigation plan."""

    PREPARE = "prepare"
    PRE_VALIDATE = "pre-validate"
    APPLY = "apply"
    POST_VALIDATE = "post-validate"
    ROLLBACK = "rollback"


class Action(StrEnum):
    """The catalogue of actions a plan step may name (read checks and approved writes)."""

    CHECK_ALARM = "cloudwatch.check_alarm"
    WAIT_ALARM_OK = "cloudwatch.wait_ok"
    DESCRIBE_TASK_DEFINITION = "ecs.describe_task_definition"
    ECS_UPDATE_SERVICE = "ecs.update_service"
    ECS_FORCE_NEW_DEPLOYMENT = "ecs.force_new_deployment"
    LAMBDA_UPDATE_ALIAS = "lambda.update_alias"
    LAMBDA_RESTORE_CONFIG = "lambda.restore_configuration"
    GITHUB_REDEPLOY = "github.redeploy"
    SSM_PUT_PARAMETER = "ssm.put_parameter"
    AWS_REVERT_CHANGE = "aws.revert_change"
    IAM_SIMULATE = "iam.simulate"
    IAM_RESTORE_POLICY = "iam.restore_policy"
    ASG_CHECK_HEALTHY = "autoscaling.check_healthy"
    ASG_REPLACE_INSTANCE = "autoscaling.replace_instance"
    ASG_SET_DESIRED = "autoscaling.set_desired"
    SCALE_OUT = "scale.out"
    SCALE_IN = "scale.in"


class PlanStep(Model):
    """One step of a plan; `action` names an executable catalogue action when the bot can run it."""

    phase: Phase
    description: str
    action: Action | None = None
    params: dict[str, str] = Field(default_factory=dict)
    mutating: bool = False


class Plan(Model):
    """A mitigation plan: what to do now, how to check it, how to undo it, and the long-term fix."""

    mitigation: Mitigation
    summary: str
    steps: tuple[PlanStep, ...] = ()
    long_term_fix: str = ""

    def phase(self, phase: Phase) -> list[PlanStep]:
        """The steps of one phase, in order."""
        return [s for s in self.steps if s.phase == phase]

"""ECS list calls as AWS answers them where moto does not: `ListTaskDefinitions` honours ``sort``."""

from __future__ import annotations

import json

from bot.sandbox.aws.protocol import Reply, Request


def sorted_task_definitions(req: Request, reply: Reply) -> Reply | None:
    """moto lists task definitions oldest first whatever ``sort`` says; AWS reverses them for ``DESC``."""
    if req.service != "ecs" or req.operation != "ListTaskDefinitions" or reply.status != 200:
        return None
    if str(req.params().get("sort") or "ASC").upper() != "DESC":
        return None
    body = json.loads(reply.body or b"{}")
    arns = body.get("taskDefinitionArns") or []
    body["taskDefinitionArns"] = sorted(arns, key=_revision, reverse=True)
    return Reply(reply.status, dict(reply.headers), json.dumps(body).encode())


def _revision(arn: str) -> tuple[str, int]:
    family, _, rev = arn.rsplit("/", 1)[-1].rpartition(":")
    return family, int(rev) if rev.isdigit() else 0

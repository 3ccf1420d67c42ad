"""Who calls whom, shown where a real account shows it: the caller's configuration names its callee.

For each ``calls`` edge the caller carries the callee's endpoint as a deployed service would: an ``ecs``
service in its task definition's container ``environment``, a ``lambda`` in its function's environment
variables, an ``asg`` in its launch template's user data (an env file written at boot). The value is what the
callee is reached by: ``http://<callee>.<org>.internal:8080`` for a service behind a load balancer, the
function's ARN, the table's name, the queue's URL, the DB instance's endpoint, ``https://api.<vendor>.com`` for
a third party. A queue that feeds a Lambda function (``sqs`` calls ``lambda``) is an event-source mapping; a
queue that feeds any other consumer is in that consumer's configuration as the queue's URL. Nothing is
written for a caller with no ``calls``.
"""

from __future__ import annotations

import base64

from bot.sandbox.aws.materialise_state import Build
from bot.sandbox.scenario import ServiceSpec

#: Variable suffix per callee kind (``ORDERS_DB`` + ``_DB_HOST``; a name ending in the suffix keeps it once).
_SUFFIX = {
    "ecs": "_URL",
    "asg": "_URL",
    "lambda": "_FUNCTION_ARN",
    "dynamodb": "_TABLE",
    "rds": "_DB_HOST",
    "sqs": "_QUEUE_URL",
    "external": "_API_URL",
}


def endpoint(b: Build, callee: ServiceSpec) -> str:
    """How a caller reaches `callee` in this estate."""
    name = callee.name
    if callee.kind in ("ecs", "asg"):
        return f"http://{name}.{b.org}.internal:8080"
    if callee.kind == "lambda":
        return f"arn:aws:lambda:{b.region}:{b.account}:function:{name}"
    if callee.kind == "dynamodb":
        return name
    if callee.kind == "rds":
        return f"{name}.{rds_suffix(b)}.{b.region}.rds.amazonaws.com"
    if callee.kind == "sqs":
        return f"https://sqs.{b.region}.amazonaws.com/{b.account}/{name}"
    return f"https://api.{name}.com"


def rds_suffix(b: Build) -> str:
    """The account-and-region identifier in every DB endpoint (``<id>.<suffix>.<region>.rds...``): the one
    ``DescribeDBInstances`` answers here (moto's, the same for every account)."""
    return "aaaaaaaaaa"


def variable(callee: ServiceSpec) -> str:
    """The environment variable that holds `callee`'s endpoint (``orders-db`` -> ``ORDERS_DB_HOST``)."""
    key = callee.name.upper().replace("-", "_")
    suffix = _SUFFIX.get(callee.kind, "_URL")
    head = suffix.split("_")[1]
    return key + (suffix.removeprefix("_" + head) if key.endswith("_" + head) or key == head else suffix)


def fed_by_event_source(queue: ServiceSpec, consumer: ServiceSpec) -> bool:
    """Whether the edge queue -> consumer is an event-source mapping (a queue feeding a Lambda function)."""
    return queue.kind == "sqs" and consumer.kind == "lambda"


def environment(b: Build, spec: ServiceSpec) -> dict[str, str]:
    """The variables in `spec`'s configuration that name what it calls (and queues that feed it by polling)."""
    if spec.kind not in ("ecs", "lambda", "asg"):
        return {}
    out: dict[str, str] = {}
    named = [b.sc.service(n) for n in spec.calls]
    named += [
        q
        for q in b.sc.services
        if q.kind == "sqs" and spec.name in q.calls and not fed_by_event_source(q, spec)
    ]
    for other in named:
        key = variable(other)
        if out.get(key, endpoint(b, other)) != endpoint(b, other):  # two names, one variable: spell both out
            key = other.name.upper().replace("-", "_") + _SUFFIX.get(other.kind, "_URL")
        out[key] = endpoint(b, other)
    return dict(sorted(out.items()))


def user_data(b: Build, spec: ServiceSpec) -> str:
    """An ``asg``'s launch template user data (base64, as EC2 keeps it): its env file, then its install;
    empty for a service that calls nothing."""
    env = environment(b, spec)
    if not env:
        return ""
    lines = [f"{k}={v}" for k, v in env.items()]
    script = (
        "#!/bin/bash\n"
        f"mkdir -p /etc/{spec.name}\n"
        f"cat > /etc/{spec.name}/env <<'EOF'\n" + "\n".join(lines) + "\nEOF\n"
        f"/opt/{spec.name}/install.sh\n"
    )
    return base64.b64encode(script.encode()).decode()


def event_sources(b: Build) -> None:
    """An event-source mapping for every queue that feeds a Lambda function (all services exist by now)."""
    lam = b.c("lambda")
    for queue in b.sc.services:
        for name in queue.calls:
            consumer = b.sc.service(name)
            if fed_by_event_source(queue, consumer):
                url = b.c("sqs").get_queue_url(QueueName=queue.name)["QueueUrl"]
                arn = b.c("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
                lam.create_event_source_mapping(
                    EventSourceArn=arn["Attributes"]["QueueArn"],
                    FunctionName=consumer.name,
                    BatchSize=10,
                    Enabled=True,
                )

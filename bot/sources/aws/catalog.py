"""Where each service signal lives in CloudWatch: namespace, metric, dimensions, statistic and unit.

Pure data and tiny helpers, no SDK import. The investigation engine reads a service's signals back with
:func:`signals_for` (``SignalMetric.queries(resources)`` builds the ``MetricDataQueries`` of one
``GetMetricData`` call, ``SignalMetric.value(results)`` turns the answers into the signal's unit); the sandbox
uses the very same entries to write the simulated estate, so the two cannot drift apart.

Signals are the scenario format's (``requests_per_min``, ``error_rate``, ``latency_p99_ms`` ...). A signal is
either one metric (``numerator`` only) or a ratio of two (``error_rate`` = 5xx count / request count). Values
convert linearly: ``metric = signal * scale + offset`` (``latency_p99_ms`` -> ``TargetResponseTime`` in seconds
has scale 0.001; ``memory_pct`` of an RDS instance -> ``FreeableMemory`` bytes has a negative scale).

Dimensions are named from the service's AWS resources (:class:`ServiceResources`), as AWS names them:

===========  ===========================================================================================
kind         dimensions
===========  ===========================================================================================
ecs          ALB: ``LoadBalancer=app/<alb>/<id>``, ``TargetGroup=targetgroup/<name>/<id>`` (the ARN
             suffixes, see :func:`alb_dimension`); ECS: ``ClusterName``, ``ServiceName``
asg          ALB as above; EC2: ``AutoScalingGroupName`` (group) or ``InstanceId`` (one instance);
             CWAgent ``mem_used_percent`` by ``AutoScalingGroupName``
lambda       ``FunctionName``
dynamodb     ``TableName`` (and ``Operation`` for latency / errors / throttles)
rds          ``DBInstanceIdentifier``
sqs          ``QueueName``
external     nothing of its own: seen through its callers' dependency metrics (found as a callee in X-Ray
             or in a caller's configuration)
===========  ===========================================================================================

Every ``calls`` edge has caller-side dependency metrics in ``<Org>/Dependencies`` (for example
``Acme/Dependencies``) with ``Service=<caller>, Dependency=<callee>``: ``Calls`` and ``Errors`` (Sum) and
``Latency`` (milliseconds, p50/p99). That is how an external API (and any callee) looks from its callers; it
is telemetry only: who calls whom is found from X-Ray and the callers' configuration
(:mod:`bot.sources.aws.wiring`), never from this namespace.
Per-instance application signals of an ``asg`` (errors, latency of one instance) live in ``<Org>/App`` with
``Service=<name>, InstanceId=<id>``; per-instance CPU is ``AWS/EC2 CPUUtilization`` by ``InstanceId``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

#: Statistics CloudWatch understands besides percentiles (``p50``, ``p99``, ``p99.9``).
BASIC_STATISTICS = ("Sum", "Average", "Minimum", "Maximum", "SampleCount")


@dataclass(frozen=True)
class ServiceResources:
    """The AWS names a service's dimensions are built from; leave out what the service does not have."""

    service: str
    cluster: str | None = None  # ECS cluster name
    ecs_service: str | None = None  # ECS service name
    load_balancer: str | None = None  # ALB dimension value, app/<name>/<id>
    target_group: str | None = None  # target group dimension value, targetgroup/<name>/<id>
    asg: str | None = None  # Auto Scaling group name
    instance_id: str | None = None  # one EC2 instance
    function: str | None = None  # Lambda function name
    table: str | None = None  # DynamoDB table name
    db_instance: str | None = None  # RDS DB instance identifier
    memory_bytes: int | None = None  # the instance's memory (an RDS instance class's), for used-memory shares
    queue: str | None = None  # SQS queue name
    dependency: str | None = None  # the callee, for dependency metrics


@dataclass(frozen=True)
class MetricRef:
    """One CloudWatch metric and the statistic a signal reads from it."""

    namespace: str
    metric: str
    statistic: str
    unit: str  # CloudWatch unit: Count, Percent, Seconds, Milliseconds, Bytes, Count/Second, None
    #: Dimension name -> attribute of ServiceResources holding its value; a literal value as "=value".
    dimensions: tuple[tuple[str, str], ...]

    def dimension_values(self, res: ServiceResources) -> list[dict[str, str]] | None:
        """``[{"Name":..., "Value":...}]`` for these resources, or None when one is missing."""
        out: list[dict[str, str]] = []
        for name, source in self.dimensions:
            value = source[1:] if source.startswith("=") else getattr(res, source)
            if value is None:
                return None
            out.append({"Name": name, "Value": str(value)})
        return out

    def metric_stat(self, res: ServiceResources, period: int = 60) -> dict[str, object] | None:
        """The ``MetricStat`` of a ``MetricDataQuery`` (None when the resources lack a dimension)."""
        dims = self.dimension_values(res)
        if dims is None:
            return None
        return {
            "Metric": {"Namespace": self.namespace, "MetricName": self.metric, "Dimensions": dims},
            "Period": period,
            "Stat": self.statistic,
        }


@dataclass(frozen=True)
class SignalMetric:
    """How one signal of one kind is read: a metric, or the ratio numerator / denominator."""

    signal: str
    numerator: MetricRef
    denominator: MetricRef | None = None
    scale: float = 1.0  # metric = signal * scale + offset
    offset: float = 0.0
    #: Missing numerator datapoints mean zero (AWS leaves out zero counts such as HTTPCode_Target_5XX_Count).
    missing_is_zero: bool = False
    notes: str = ""
    #: A share of a capacity the resource has (memory): the signal is 100 * (1 - metric / capacity), bound
    #: per resource by :meth:`bound`; unknown capacity means the signal cannot be read.
    share_of_memory: bool = False

    def bound(self, res: ServiceResources) -> SignalMetric | None:
        """This signal for one resource: a share of its memory gets that memory's scale; None when the
        resource's memory is unknown (never guessed)."""
        if not self.share_of_memory:
            return self
        if not res.memory_bytes:
            return None
        return replace(
            self, scale=-res.memory_bytes / 100, offset=float(res.memory_bytes), share_of_memory=False
        )

    @property
    def is_ratio(self) -> bool:
        """Whether the signal is numerator / denominator."""
        return self.denominator is not None

    def to_metric(self, value: float) -> float:
        """A signal value in the metric's unit."""
        return value * self.scale + self.offset

    def from_metric(self, value: float) -> float:
        """A metric value in the signal's unit."""
        return (value - self.offset) / self.scale

    def queries(self, res: ServiceResources, period: int = 60, prefix: str = "q") -> list[dict[str, object]]:
        """``MetricDataQueries`` for one GetMetricData call: ids ``<prefix>n`` (and ``<prefix>d`` for ratios).

        Empty when the resources lack a dimension this signal needs.
        """
        num = self.numerator.metric_stat(res, period)
        if num is None:
            return []
        out: list[dict[str, object]] = [{"Id": f"{prefix}n", "MetricStat": num, "ReturnData": True}]
        if self.denominator is not None:
            den = self.denominator.metric_stat(res, period)
            if den is None:
                return []
            out.append({"Id": f"{prefix}d", "MetricStat": den, "ReturnData": True})
        return out

    def expression(self, prefix: str = "q") -> str | None:
        """The metric-math expression of a ratio signal over :meth:`queries` ids (None for a plain metric)."""
        return f"{prefix}n / {prefix}d" if self.denominator is not None else None

    def value(self, numerator: float | None, denominator: float | None = None) -> float | None:
        """The signal's value from the datapoints of one period (None when it cannot be told)."""
        if numerator is None and self.missing_is_zero:
            numerator = 0.0
        if numerator is None:
            return None
        if self.denominator is None:
            return self.from_metric(numerator)
        if not denominator:
            return None
        return self.from_metric(numerator / denominator)

    def series(
        self,
        timestamps: Mapping[str, Sequence[object]],
        values: Mapping[str, Sequence[float]],
        prefix: str = "q",
    ) -> dict[object, float]:
        """Timestamp -> signal value from GetMetricData results keyed by query id."""
        num = dict(zip(timestamps.get(f"{prefix}n", []), values.get(f"{prefix}n", []), strict=False))
        if self.denominator is None:
            return {t: v for t, raw in num.items() if (v := self.value(raw)) is not None}
        den = dict(zip(timestamps.get(f"{prefix}d", []), values.get(f"{prefix}d", []), strict=False))
        out: dict[object, float] = {}
        for t, d in den.items():
            v = self.value(num.get(t), d)
            if v is not None:
                out[t] = v
        return out


def alb_dimension(arn: str) -> str:
    """The CloudWatch dimension value of an ALB or target group ARN (``app/..`` / ``targetgroup/..``)."""
    tail = arn.split(":", 5)[-1]
    return tail.removeprefix("loadbalancer/")


def dependency_namespace(org: str) -> str:
    """Namespace of caller-side dependency metrics (``acme`` -> ``Acme/Dependencies``)."""
    return f"{org.capitalize()}/Dependencies"


def app_namespace(org: str) -> str:
    """Namespace of per-instance application metrics (``acme`` -> ``Acme/App``)."""
    return f"{org.capitalize()}/App"


_TG = (("LoadBalancer", "load_balancer"), ("TargetGroup", "target_group"))
_ECS = (("ClusterName", "cluster"), ("ServiceName", "ecs_service"))
_FN = (("FunctionName", "function"),)
_TABLE = (("TableName", "table"),)
_TABLE_OP = (("TableName", "table"), ("Operation", "=GetItem"))
_DB = (("DBInstanceIdentifier", "db_instance"),)
_QUEUE = (("QueueName", "queue"),)
_ASG = (("AutoScalingGroupName", "asg"),)

_GIB = 1024**3
#: Burstable classes' memory by size (GiB), as AWS documents them.
_BURSTABLE_GIB = {"nano": 0.5, "micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
#: Memory per vCPU (GiB) of the other families: general purpose 4, memory optimised 8, x2 16.
_GIB_PER_VCPU = {"m": 4, "r": 8, "x": 16}


def instance_class_memory(instance_class: str) -> int | None:
    """Bytes of memory of an RDS instance class (`db.r6g.large` -> 16 GiB), from AWS's documented ratios;
    None for a class these ratios do not cover."""
    parts = instance_class.split(".")
    if len(parts) != 3:
        return None
    family, size = parts[1], parts[2]
    if family.startswith("t"):
        gib = _BURSTABLE_GIB.get(size)
        return int(gib * _GIB) if gib else None
    per_vcpu = _GIB_PER_VCPU.get(family[:1])
    if per_vcpu is None:
        return None
    if size == "large":
        vcpus = 2
    elif size == "xlarge":
        vcpus = 4
    elif size.endswith("xlarge") and size[:-6].isdigit():
        vcpus = 4 * int(size[:-6])
    else:
        return None
    return vcpus * per_vcpu * _GIB


def _alb(kind_dims: tuple[tuple[str, str], ...], mem: MetricRef, cpu: MetricRef) -> list[SignalMetric]:
    req = MetricRef("AWS/ApplicationELB", "RequestCount", "Sum", "Count", _TG)
    return [
        SignalMetric("requests_per_min", req),
        SignalMetric(
            "error_rate",
            MetricRef("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", "Count", _TG),
            req,
            missing_is_zero=True,
            notes="share of requests the targets answered with 5xx",
        ),
        SignalMetric(
            "latency_p50_ms",
            MetricRef("AWS/ApplicationELB", "TargetResponseTime", "p50", "Seconds", _TG),
            scale=0.001,
        ),
        SignalMetric(
            "latency_p99_ms",
            MetricRef("AWS/ApplicationELB", "TargetResponseTime", "p99", "Seconds", _TG),
            scale=0.001,
        ),
        SignalMetric(
            "healthy_hosts", MetricRef("AWS/ApplicationELB", "HealthyHostCount", "Minimum", "Count", _TG)
        ),
        SignalMetric("cpu_pct", cpu),
        SignalMetric("memory_pct", mem),
    ]


_CATALOG: dict[str, list[SignalMetric]] = {
    "ecs": _alb(
        _ECS,
        MetricRef("AWS/ECS", "MemoryUtilization", "Average", "Percent", _ECS),
        MetricRef("AWS/ECS", "CPUUtilization", "Average", "Percent", _ECS),
    ),
    "asg": _alb(
        _ASG,
        MetricRef("CWAgent", "mem_used_percent", "Average", "Percent", _ASG),
        MetricRef("AWS/EC2", "CPUUtilization", "Average", "Percent", _ASG),
    ),
    "lambda": [
        SignalMetric("requests_per_min", MetricRef("AWS/Lambda", "Invocations", "Sum", "Count", _FN)),
        SignalMetric(
            "error_rate",
            MetricRef("AWS/Lambda", "Errors", "Sum", "Count", _FN),
            MetricRef("AWS/Lambda", "Invocations", "Sum", "Count", _FN),
            missing_is_zero=True,
        ),
        SignalMetric("latency_p50_ms", MetricRef("AWS/Lambda", "Duration", "p50", "Milliseconds", _FN)),
        SignalMetric("latency_p99_ms", MetricRef("AWS/Lambda", "Duration", "p99", "Milliseconds", _FN)),
        SignalMetric("throttles_per_min", MetricRef("AWS/Lambda", "Throttles", "Sum", "Count", _FN)),
    ],
    "dynamodb": [
        SignalMetric(
            "requests_per_min",
            MetricRef("AWS/DynamoDB", "ConsumedReadCapacityUnits", "Sum", "Count", _TABLE),
            notes="one read capacity unit per request (eventually consistent 8 KB reads)",
        ),
        SignalMetric(
            "error_rate",
            MetricRef("AWS/DynamoDB", "SystemErrors", "Sum", "Count", _TABLE_OP),
            MetricRef("AWS/DynamoDB", "SuccessfulRequestLatency", "SampleCount", "Count", _TABLE_OP),
            missing_is_zero=True,
        ),
        SignalMetric(
            "latency_p50_ms",
            MetricRef("AWS/DynamoDB", "SuccessfulRequestLatency", "p50", "Milliseconds", _TABLE_OP),
        ),
        SignalMetric(
            "latency_p99_ms",
            MetricRef("AWS/DynamoDB", "SuccessfulRequestLatency", "p99", "Milliseconds", _TABLE_OP),
        ),
        SignalMetric(
            "throttles_per_min", MetricRef("AWS/DynamoDB", "ThrottledRequests", "Sum", "Count", _TABLE_OP)
        ),
    ],
    "rds": [
        SignalMetric(
            "requests_per_min",
            MetricRef("AWS/RDS", "ReadIOPS", "Average", "Count/Second", _DB),
            scale=1 / 60,
            notes="queries per minute as read operations per second",
        ),
        SignalMetric("cpu_pct", MetricRef("AWS/RDS", "CPUUtilization", "Average", "Percent", _DB)),
        SignalMetric(
            "memory_pct",
            MetricRef("AWS/RDS", "FreeableMemory", "Average", "Bytes", _DB),
            share_of_memory=True,
            notes="used share of the instance class's memory, from the free bytes",
        ),
        SignalMetric("connections", MetricRef("AWS/RDS", "DatabaseConnections", "Average", "Count", _DB)),
        SignalMetric(
            "latency_p50_ms",
            MetricRef("AWS/RDS", "ReadLatency", "Average", "Seconds", _DB),
            scale=0.001,
            notes="RDS publishes averages only: the typical read",
        ),
        SignalMetric(
            "latency_p99_ms",
            MetricRef("AWS/RDS", "ReadLatency", "Maximum", "Seconds", _DB),
            scale=0.001,
            notes="RDS publishes no percentiles: the slowest reads show in Maximum",
        ),
    ],
    "sqs": [
        SignalMetric(
            "requests_per_min", MetricRef("AWS/SQS", "NumberOfMessagesSent", "Sum", "Count", _QUEUE)
        ),
        SignalMetric(
            "queue_depth",
            MetricRef("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "Count", _QUEUE),
        ),
        SignalMetric(
            "oldest_message_age_s",
            MetricRef("AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum", "Seconds", _QUEUE),
        ),
    ],
    "external": [],
}


def signals_for(kind: str) -> list[SignalMetric]:
    """Every signal a service of this kind has in CloudWatch (none for ``external`` or unknown kinds)."""
    return list(_CATALOG.get(kind, []))


def signal_metric(kind: str, signal: str) -> SignalMetric | None:
    """The entry for one signal of one kind, if that kind has it."""
    return next((s for s in _CATALOG.get(kind, []) if s.signal == signal), None)


def dependency_signals(org: str) -> list[SignalMetric]:
    """Caller-side signals of one ``calls`` edge (resources: ``service`` = caller, ``dependency`` = callee)."""
    ns = dependency_namespace(org)
    dims = (("Service", "service"), ("Dependency", "dependency"))
    calls = MetricRef(ns, "Calls", "Sum", "Count", dims)
    return [
        SignalMetric("requests_per_min", calls),
        SignalMetric(
            "error_rate", MetricRef(ns, "Errors", "Sum", "Count", dims), calls, missing_is_zero=True
        ),
        SignalMetric("latency_p50_ms", MetricRef(ns, "Latency", "p50", "Milliseconds", dims)),
        SignalMetric("latency_p99_ms", MetricRef(ns, "Latency", "p99", "Milliseconds", dims)),
    ]


def instance_signals(kind: str, org: str) -> list[SignalMetric]:
    """Signals of one instance of an ``asg`` service (resources: ``instance_id``, ``service``)."""
    if kind != "asg":
        return []
    ns = app_namespace(org)
    inst = (("InstanceId", "instance_id"),)
    app = (("Service", "service"), ("InstanceId", "instance_id"))
    requests = MetricRef(ns, "Requests", "Sum", "Count", app)
    return [
        SignalMetric("cpu_pct", MetricRef("AWS/EC2", "CPUUtilization", "Average", "Percent", inst)),
        SignalMetric("memory_pct", MetricRef("CWAgent", "mem_used_percent", "Average", "Percent", inst)),
        SignalMetric("requests_per_min", requests),
        SignalMetric(
            "error_rate", MetricRef(ns, "Errors", "Sum", "Count", app), requests, missing_is_zero=True
        ),
        SignalMetric("latency_p50_ms", MetricRef(ns, "Latency", "p50", "Milliseconds", app)),
        SignalMetric("latency_p99_ms", MetricRef(ns, "Latency", "p99", "Milliseconds", app)),
    ]


@dataclass(frozen=True)
class AlarmSpec:
    """A CloudWatch alarm on one signal: ``PutMetricAlarm`` keyword arguments via :meth:`put_kwargs`."""

    name: str
    signal: SignalMetric
    resources: ServiceResources
    threshold: float  # in the signal's unit
    period: int = 60
    evaluation_periods: int = 3
    datapoints_to_alarm: int = 3
    comparison: str = "GreaterThanThreshold"
    description: str = ""
    actions: tuple[str, ...] = field(default_factory=tuple)

    def put_kwargs(self) -> dict[str, object]:
        """Arguments of ``PutMetricAlarm``: a plain metric alarm, or metric math (``m1 / m2``) for a ratio."""
        threshold = self.signal.to_metric(self.threshold)
        common: dict[str, object] = {
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "EvaluationPeriods": self.evaluation_periods,
            "DatapointsToAlarm": self.datapoints_to_alarm,
            "Threshold": threshold,
            "ComparisonOperator": self.comparison,
            "TreatMissingData": "missing",
            "ActionsEnabled": bool(self.actions),
            "AlarmActions": list(self.actions),
            "OKActions": list(self.actions),
        }
        if self.signal.scale < 0:
            common["ComparisonOperator"] = _FLIP.get(self.comparison, self.comparison)
        num = self.signal.numerator
        if self.signal.denominator is None:
            dims = num.dimension_values(self.resources) or []
            stat_key = "ExtendedStatistic" if num.statistic.startswith("p") else "Statistic"
            return {
                **common,
                "Namespace": num.namespace,
                "MetricName": num.metric,
                "Dimensions": dims,
                "Period": self.period,
                stat_key: num.statistic,
                "Unit": num.unit,
            }
        metrics = [
            {"Id": f"m{i}", "MetricStat": ms, "ReturnData": False}
            for i, ms in enumerate(
                (
                    num.metric_stat(self.resources, self.period),
                    self.signal.denominator.metric_stat(self.resources, self.period),
                ),
                start=1,
            )
        ]
        metrics.append({"Id": "e1", "Expression": "m1 / m2", "Label": self.signal.signal, "ReturnData": True})
        return {**common, "Metrics": metrics}


_FLIP = {
    "GreaterThanThreshold": "LessThanThreshold",
    "GreaterThanOrEqualToThreshold": "LessThanOrEqualToThreshold",
    "LessThanThreshold": "GreaterThanThreshold",
    "LessThanOrEqualToThreshold": "GreaterThanOrEqualToThreshold",
}

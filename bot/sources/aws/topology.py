"""Discover the estate from AWS: services by their `service` tag across ECS, Auto Scaling, EC2, Lambda,
DynamoDB, RDS, SQS, S3, SNS, Kinesis and CloudFormation; the load balancers behind them; who calls whom from X-Ray and
from configuration (:mod:`bot.sources.aws.wiring`; all there is where nothing is traced). Usable on its own (a topology view,
answering questions)."""

from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from bot.domain import Gap, Resource, Service, ServiceKind, Topology
from bot.sources.aws.catalog import ServiceResources, alb_dimension, instance_class_memory
from bot.sources.aws.clients import AwsClients, classify
from bot.sources.aws.wiring import ResourceIndex, Wiring, edges, user_data_values, vendor
from bot.sources.result import ToolResult, guarded

TAG = "service"
#: At most this many buckets, topics or streams are looked at for their tags, per kind.
MAX_RESOURCES = 500
REPO_TAGS = ("repo", "repository", "github_repo")


@dataclass
class ServiceInfo:
    """What the bot knows of one service's AWS footprint."""

    name: str
    kind: str = "unknown"
    resources: ServiceResources | None = None
    stack: str | None = None
    repo: str | None = None
    log_groups: list[str] = field(default_factory=list)
    instances: dict[str, str] = field(default_factory=dict)  # Name tag -> instance id
    launched: dict[str, datetime] = field(default_factory=dict)  # Name tag (or `task <id>`) -> launch time
    stopped: dict[str, datetime] = field(default_factory=dict)  # the same -> when it went away
    zones: dict[str, str] = field(default_factory=dict)  # Name tag -> availability zone
    arns: list[str] = field(default_factory=list)
    task_family: str | None = None
    #: Resource names and ARNs the service's configuration names (function, container and instance
    #: environments): what it uses.
    named: set[str] = field(default_factory=set)

    def res(self) -> ServiceResources:
        """The service's resources for the metric catalog."""
        return self.resources or ServiceResources(service=self.name)


@dataclass
class Estate:
    """Discovered services and call edges, plus what could not be read."""

    services: dict[str, ServiceInfo] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)
    gaps: list[Gap] = field(default_factory=list)
    org: str | None = None

    def topology(self) -> Topology:
        """The domain view of the estate."""
        out = []
        for name in sorted(self.services):
            info = self.services[name]
            kind = (
                ServiceKind(info.kind) if info.kind in ServiceKind._value2member_map_ else ServiceKind.UNKNOWN
            )
            calls = tuple(sorted(b for a, b in self.edges if a == name))
            resources = tuple(
                Resource(type=a.split(":")[2], id=a.rsplit("/", 1)[-1], arn=a) for a in sorted(info.arns)
            )
            out.append(Service(name=name, kind=kind, calls=calls, repo=info.repo, resources=resources))
        return Topology(services=tuple(out))

    def service_of(self, text: str) -> str | None:
        """The service a resource id, ARN, instance or name belongs to: the service name that comes first in
        it (a path names its owner first: `/home-api/prod/flags/trending_rail`), the longest of those."""
        low = text.lower()
        for name, info in sorted(self.services.items()):
            if text in info.arns or text in info.instances or text in info.instances.values():
                return name
        found = {n: at for n in self.services if (at := _token_at(n, low)) is not None}
        return min(found, key=lambda n: (found[n], -len(n), n)) if found else None


def _token_at(name: str, text: str) -> int | None:
    """Where `name` first stands as a whole token in `text` (None when it does not)."""
    m = re.search(rf"(?<![a-z0-9]){re.escape(name.lower())}(?![a-z0-9])", text)
    return m.start() if m else None


def _tags(
    pairs: list[dict[str, str]] | dict[str, str] | None, key: str = "Key", value: str = "Value"
) -> dict[str, str]:
    if not pairs:
        return {}
    if isinstance(pairs, dict):
        return dict(pairs)
    return {p.get(key, ""): p.get(value, "") for p in pairs}


class TopologyReader:
    """Reads the estate with read-only describe calls, in parallel."""

    def __init__(self, clients: AwsClients, workers: int = 8) -> None:
        self._c = clients
        self._workers = workers
        self._lock = threading.Lock()
        self._cache: tuple[float, Estate] | None = None

    def cached(self, since: datetime, until: datetime, ttl_s: float = 300.0) -> Estate:
        """The estate as discovered at most `ttl_s` seconds ago (a copy: callers may annotate it), else anew."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache
        if hit is not None and now - hit[0] <= ttl_s:
            return copy.deepcopy(hit[1])
        estate = self.discover(since, until)
        if not estate.gaps:
            with self._lock:
                self._cache = (now, copy.deepcopy(estate))
        return estate

    def discover(self, since: datetime | None = None, until: datetime | None = None) -> Estate:
        """Every tagged service, its resources and the call edges; unreadable APIs become gaps."""
        estate = Estate()
        wiring = Wiring()  # what each service's configuration names, resolved once every service is known
        steps: list[tuple[str, Callable[[Estate], None]]] = [
            ("ecs:DescribeServices", self._ecs),
            ("autoscaling:DescribeAutoScalingGroups", self._asg),
            ("lambda:ListFunctions", self._lambda),
            ("dynamodb:ListTables", self._dynamodb),
            ("rds:DescribeDBInstances", self._rds),
            ("sqs:ListQueues", self._sqs),
            ("cloudformation:DescribeStacks", self._stacks),
            ("s3:ListBuckets", self._buckets),
            ("sns:ListTopics", self._topics),
            ("kinesis:ListStreams", self._streams),
            ("cloudwatch:ListMetrics", self._metric_namespace),
            ("ecs:DescribeTaskDefinition", lambda e: self._ecs_config(wiring)),
            ("lambda:ListEventSourceMappings", lambda e: self._lambda_config(wiring)),
            ("ec2:DescribeLaunchTemplateVersions", lambda e: self._asg_config(wiring)),
        ]
        if since and until:
            steps.append(("xray:GetServiceGraph", lambda e: self._xray(e, since, until)))

        def run(step: tuple[str, Callable[[Estate], None]]) -> ToolResult[bool]:
            name, fn = step

            def call() -> bool:
                fn(estate)
                return True

            return guarded(name, call, classify)

        with ThreadPoolExecutor(self._workers) as pool:
            results = list(pool.map(run, steps))
        self._wire(estate, wiring)
        results.append(run(("logs:DescribeLogGroups", self._log_groups)))  # needs the service names
        estate.gaps.extend(g for r in results if (g := r.gap()) is not None)
        for a, b in list(estate.edges):
            if b not in estate.services:
                estate.services[b] = ServiceInfo(name=b, kind="external")
            if a not in estate.services:
                estate.edges.discard((a, b))
        return estate

    def _service(self, estate: Estate, name: str, kind: str | None = None) -> ServiceInfo:
        with self._lock:
            info = estate.services.setdefault(name, ServiceInfo(name=name))
            if kind and info.kind in ("unknown", "external"):
                info.kind = kind
            return info

    def _set_resources(self, info: ServiceInfo, **values: Any) -> None:
        with self._lock:
            info.resources = replace(info.res(), **{k: v for k, v in values.items() if v is not None})

    def _repo(self, info: ServiceInfo, tags: dict[str, str]) -> None:
        for key in REPO_TAGS:
            if tags.get(key):
                info.repo = tags[key]

    def _target_group_dims(self, tg_arns: list[str]) -> tuple[str | None, str | None]:
        if not tg_arns:
            return None, None
        elb = self._c.get("elbv2")
        tgs = elb.describe_target_groups(TargetGroupArns=tg_arns[:1]).get("TargetGroups", [])
        if not tgs:
            return None, None
        tg_arn = tgs[0]["TargetGroupArn"]
        lbs = list(tgs[0].get("LoadBalancerArns") or []) or self._listener_map().get(tg_arn, [])
        return (alb_dimension(lbs[0]) if lbs else None), alb_dimension(tg_arn)

    def _listener_map(self) -> dict[str, list[str]]:
        """Target group ARN -> load balancers that forward to it, from listeners and their rules (once)."""
        with self._lock:
            cached: dict[str, list[str]] | None = getattr(self, "_tg_to_lb", None)
        if cached is not None:
            return cached
        elb = self._c.get("elbv2")
        out: dict[str, list[str]] = {}
        for lb in elb.describe_load_balancers().get("LoadBalancers", []):
            lb_arn = lb["LoadBalancerArn"]
            for listener in elb.describe_listeners(LoadBalancerArn=lb_arn).get("Listeners", []):
                actions = list(listener.get("DefaultActions", []))
                for rule in elb.describe_rules(ListenerArn=listener["ListenerArn"]).get("Rules", []):
                    actions += rule.get("Actions", [])
                for action in actions:
                    targets = [action.get("TargetGroupArn")]
                    targets += [
                        t.get("TargetGroupArn")
                        for t in action.get("ForwardConfig", {}).get("TargetGroups", [])
                    ]
                    for tg in targets:
                        if tg and lb_arn not in out.setdefault(tg, []):
                            out[tg].append(lb_arn)
        with self._lock:
            self._tg_to_lb = out
        return out

    def _ecs(self, estate: Estate) -> None:
        ecs = self._c.get("ecs")
        for cluster_arn in ecs.list_clusters().get("clusterArns", []):
            arns = ecs.list_services(cluster=cluster_arn, maxResults=100).get("serviceArns", [])
            for i in range(0, len(arns), 10):
                described = ecs.describe_services(
                    cluster=cluster_arn, services=arns[i : i + 10], include=["TAGS"]
                )
                for svc in described.get("services", []):
                    tags = _tags(svc.get("tags"), "key", "value")
                    name = tags.get(TAG)
                    if not name:
                        continue
                    info = self._service(estate, name, "ecs")
                    self._repo(info, tags)
                    tg = [
                        lb["targetGroupArn"]
                        for lb in svc.get("loadBalancers", [])
                        if lb.get("targetGroupArn")
                    ]
                    lb_dim, tg_dim = self._target_group_dims(tg)
                    cluster = cluster_arn.rsplit("/", 1)[-1]
                    self._set_resources(
                        info,
                        cluster=cluster,
                        ecs_service=svc["serviceName"],
                        load_balancer=lb_dim,
                        target_group=tg_dim,
                    )
                    with self._lock:
                        info.arns.append(svc["serviceArn"])
                        info.task_family = (
                            svc.get("taskDefinition", "").rsplit("/", 1)[-1].split(":")[0] or None
                        )
                        _task_comings_and_goings(info, svc.get("events", []))

    def _asg(self, estate: Estate) -> None:
        asg = self._c.get("autoscaling")
        groups = asg.describe_auto_scaling_groups(MaxRecords=100).get("AutoScalingGroups", [])
        ec2 = self._c.get("ec2")
        for g in groups:
            tags = _tags(g.get("Tags"))
            name = tags.get(TAG)
            if not name:
                continue
            info = self._service(estate, name, "asg")
            self._repo(info, tags)
            lb_dim, tg_dim = self._target_group_dims(list(g.get("TargetGroupARNs", [])))
            self._set_resources(
                info, asg=g["AutoScalingGroupName"], load_balancer=lb_dim, target_group=tg_dim
            )
            with self._lock:
                info.arns.append(g.get("AutoScalingGroupARN", g["AutoScalingGroupName"]))
        filters = [{"Name": "tag-key", "Values": [TAG]}]
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for res in page.get("Reservations", []):
                for inst in res.get("Instances", []):
                    tags = _tags(inst.get("Tags"))
                    name = tags.get(TAG)
                    if not name:
                        continue
                    info = self._service(estate, name)  # a tagged instance outside any group too
                    label = tags.get("Name", inst["InstanceId"])
                    with self._lock:
                        info.instances[label] = inst["InstanceId"]
                        if inst.get("LaunchTime"):
                            info.launched[label] = inst["LaunchTime"]
                        zone = (inst.get("Placement") or {}).get("AvailabilityZone")
                        if zone:
                            info.zones[label] = zone

    def _lambda(self, estate: Estate) -> None:
        lam = self._c.get("lambda")
        for page in lam.get_paginator("list_functions").paginate():
            for fn in page.get("Functions", []):
                tags = lam.list_tags(Resource=fn["FunctionArn"]).get("Tags", {})
                name = tags.get(TAG)
                if not name:
                    continue
                info = self._service(estate, name, "lambda")
                self._repo(info, tags)
                self._set_resources(info, function=fn["FunctionName"])
                variables = (fn.get("Environment") or {}).get("Variables") or {}
                with self._lock:
                    info.arns.append(fn["FunctionArn"])
                    info.named.update(str(v) for v in variables.values() if v)
                    if fn.get("KMSKeyArn"):  # the key its environment is encrypted with
                        info.named.add(fn["KMSKeyArn"])

    def _dynamodb(self, estate: Estate) -> None:
        ddb = self._c.get("dynamodb")
        for table in ddb.list_tables().get("TableNames", []):
            arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
            tags = _tags(ddb.list_tags_of_resource(ResourceArn=arn).get("Tags"))
            name = tags.get(TAG)
            if name:
                info = self._service(estate, name, "dynamodb")
                self._set_resources(info, table=table)
                with self._lock:
                    info.arns.append(arn)

    def _rds(self, estate: Estate) -> None:
        rds = self._c.get("rds")
        for db in rds.describe_db_instances().get("DBInstances", []):
            tags = _tags(db.get("TagList"))
            name = tags.get(TAG)
            if name:
                info = self._service(estate, name, "rds")
                memory = instance_class_memory(str(db.get("DBInstanceClass", "")))
                self._set_resources(info, db_instance=db["DBInstanceIdentifier"], memory_bytes=memory)
                with self._lock:
                    info.arns.append(db["DBInstanceArn"])

    def _sqs(self, estate: Estate) -> None:
        sqs = self._c.get("sqs")
        for url in sqs.list_queues().get("QueueUrls", []):
            tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
            name = tags.get(TAG)
            if name:
                info = self._service(estate, name, "sqs")
                self._set_resources(info, queue=url.rsplit("/", 1)[-1])
                attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["KmsMasterKeyId"])
                key = (attrs.get("Attributes") or {}).get("KmsMasterKeyId")
                with self._lock:
                    info.arns.append(url)
                    if key:  # the key its messages are encrypted with
                        info.named.add(key)

    def _tagged(self, estate: Estate, tags: dict[str, str], arn: str) -> None:
        """A resource of a kind that has no metrics of its own here (bucket, topic, stream): its owner's ARN."""
        name = tags.get(TAG)
        if name:
            info = self._service(estate, name)
            self._repo(info, tags)
            with self._lock:
                info.arns.append(arn)

    def _buckets(self, estate: Estate) -> None:
        s3 = self._c.get("s3")
        for bucket in s3.list_buckets().get("Buckets", [])[:MAX_RESOURCES]:
            try:
                tags = _tags(s3.get_bucket_tagging(Bucket=bucket["Name"]).get("TagSet"))
            except ClientError:  # NoSuchTagSet, or a bucket this role may not read: not ours to place
                continue
            self._tagged(estate, tags, f"arn:aws:s3:::{bucket['Name']}")

    def _topics(self, estate: Estate) -> None:
        sns = self._c.get("sns")
        for page in sns.get_paginator("list_topics").paginate(PaginationConfig={"MaxItems": MAX_RESOURCES}):
            for topic in page.get("Topics", []):
                arn = topic["TopicArn"]
                self._tagged(estate, _tags(sns.list_tags_for_resource(ResourceArn=arn).get("Tags")), arn)

    def _streams(self, estate: Estate) -> None:
        kinesis = self._c.get("kinesis")
        for page in kinesis.get_paginator("list_streams").paginate(
            PaginationConfig={"MaxItems": MAX_RESOURCES}
        ):
            summaries = page.get("StreamSummaries") or [
                {"StreamName": n, "StreamARN": n} for n in page.get("StreamNames", [])
            ]
            for stream in summaries:
                tags = kinesis.list_tags_for_stream(StreamName=stream["StreamName"]).get("Tags")
                self._tagged(estate, _tags(tags), stream.get("StreamARN") or stream["StreamName"])

    def _stacks(self, estate: Estate) -> None:
        cfn = self._c.get("cloudformation")
        for page in cfn.get_paginator("describe_stacks").paginate():
            for st in page.get("Stacks", []):
                tags = _tags(st.get("Tags"))
                name = tags.get(TAG)
                if name:
                    info = self._service(estate, name)
                    self._repo(info, tags)
                    with self._lock:
                        info.stack = st["StackName"]

    def _log_groups(self, estate: Estate) -> None:
        logs = self._c.get("logs")
        groups: list[str] = []
        for page in logs.get_paginator("describe_log_groups").paginate():
            groups.extend(g["logGroupName"] for g in page.get("logGroups", []))
        with self._lock:
            names = list(estate.services)
        for group in groups:
            owner = [n for n in names if _token_at(n, group.lower()) is not None]
            if owner:
                best = max(owner, key=lambda n: (len(n), n))
                with self._lock:
                    estate.services[best].log_groups.append(group)

    def _metric_namespace(self, estate: Estate) -> None:
        """The organisation's own namespace (``<Org>/Dependencies``), for the telemetry kept there; not edges."""
        cw = self._c.get("cloudwatch")
        for page in cw.get_paginator("list_metrics").paginate(MetricName="Calls"):
            for m in page.get("Metrics", []):
                ns = m.get("Namespace", "")
                if ns.endswith("/Dependencies"):
                    with self._lock:
                        estate.org = ns.split("/", 1)[0]
                    return

    def _ecs_config(self, wiring: Wiring) -> None:
        """Each ECS service's container environment, from the task definition it runs."""
        ecs = self._c.get("ecs")
        running: list[tuple[str, str]] = []  # (service ARN, task definition ARN)
        for cluster_arn in ecs.list_clusters().get("clusterArns", []):
            arns = ecs.list_services(cluster=cluster_arn, maxResults=100).get("serviceArns", [])
            for i in range(0, len(arns), 10):
                described = ecs.describe_services(cluster=cluster_arn, services=arns[i : i + 10])
                running += [
                    (svc["serviceArn"], svc["taskDefinition"])
                    for svc in described.get("services", [])
                    if svc.get("taskDefinition")
                ]

        def environment(task_definition: str) -> list[str]:
            td = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
            return [
                str(env.get("value", ""))
                for container in td.get("containerDefinitions", [])
                for env in container.get("environment") or []
            ]

        unique = sorted({td for _, td in running})
        with ThreadPoolExecutor(self._workers) as pool:  # one call per task definition: many on a big account
            found = dict(zip(unique, pool.map(environment, unique), strict=True))
        with self._lock:
            wiring.values += [(svc, value) for svc, td in running for value in found[td]]

    def _lambda_config(self, wiring: Wiring) -> None:
        """Each function's environment variables, and the event-source mappings that feed functions."""
        lam = self._c.get("lambda")
        values: list[tuple[str, str]] = []
        for page in lam.get_paginator("list_functions").paginate():
            for fn in page.get("Functions", []):
                variables = (fn.get("Environment") or {}).get("Variables") or {}
                values += [(fn["FunctionArn"], str(v)) for v in variables.values()]
        mappings = [
            (m["EventSourceArn"], m["FunctionArn"])
            for page in lam.get_paginator("list_event_source_mappings").paginate()
            for m in page.get("EventSourceMappings", [])
            if m.get("EventSourceArn") and m.get("FunctionArn")
        ]
        with self._lock:
            wiring.values += values
            wiring.mappings += mappings

    def _asg_config(self, wiring: Wiring) -> None:
        """Each Auto Scaling group's launch template user data (the env its instances boot with)."""
        asg, ec2 = self._c.get("autoscaling"), self._c.get("ec2")
        for g in asg.describe_auto_scaling_groups(MaxRecords=100).get("AutoScalingGroups", []):
            spec = g.get("LaunchTemplate") or (g.get("MixedInstancesPolicy") or {}).get(
                "LaunchTemplate", {}
            ).get("LaunchTemplateSpecification")
            if not spec:
                continue
            ref = {k: spec[k] for k in ("LaunchTemplateId", "LaunchTemplateName") if spec.get(k)}
            version = spec.get("Version") or "$Default"
            versions = ec2.describe_launch_template_versions(**ref, Versions=[version])
            owner = g.get("AutoScalingGroupARN") or g["AutoScalingGroupName"]
            for v in versions.get("LaunchTemplateVersions", []):
                data = v.get("LaunchTemplateData", {}).get("UserData") or ""
                with self._lock:
                    wiring.values += [(owner, value) for value in user_data_values(data)]

    def _wire(self, estate: Estate, wiring: Wiring) -> None:
        """Edges the configuration shows, beside X-Ray's; where X-Ray saw a pair the other way, X-Ray's stands."""
        owned: dict[str, tuple[list[str], list[str]]] = {}
        for name, info in estate.services.items():
            res = info.res()
            names = [res.ecs_service, res.function, res.table, res.db_instance, res.queue, res.asg]
            owned[name] = (list(info.arns), [n for n in names if n])
        index = ResourceIndex.build(owned)
        for a, b in edges(wiring, index):
            if (b, a) not in estate.edges:
                estate.edges.add((a, b))
        # what each service's configuration names: where an alarm on a resource no tag places may point
        for holder, value in wiring.values:
            owner = index.owner(holder)
            if owner is not None and value.strip():
                estate.services[owner].named.add(value.strip()[:2048])

    def _xray(self, estate: Estate, since: datetime, until: datetime) -> None:
        xray = self._c.get("xray")
        graph = xray.get_service_graph(StartTime=since, EndTime=until)
        by_ref = {s["ReferenceId"]: _node_name(s) for s in graph.get("Services", [])}
        for s in graph.get("Services", []):
            for e in s.get("Edges", []):
                caller, callee = by_ref.get(s["ReferenceId"]), by_ref.get(e.get("ReferenceId"))
                if callee and caller and callee != caller:
                    with self._lock:
                        estate.edges.add((caller, callee))


def _node_name(node: dict[str, Any]) -> str:
    """A service graph node's name; a remote node named by its host (``api.novapay.com``) is its vendor, as
    configuration names it."""
    name = str(node.get("Name", ""))
    if node.get("Type") == "remote" and "." in name:
        return vendor(name) or name
    return name


_TASKS_SAID = re.compile(r"has (started|stopped) \d+ (?:running )?tasks?:((?:\s*\(task [\w-]+\))+)")


def _task_comings_and_goings(info: ServiceInfo, events: list[dict[str, Any]]) -> None:
    """When the service's tasks started and stopped, as its ECS service events say (`has started 2 tasks:
    (task a) (task b).`): tasks are instances of the service that come and go."""
    for ev in events:
        said = _TASKS_SAID.search(str(ev.get("message", "")))
        when = ev.get("createdAt")
        if said is None or not isinstance(when, datetime):
            continue
        into = info.launched if said.group(1) == "started" else info.stopped
        for task in re.findall(r"\(task ([\w-]+)\)", said.group(2)):
            into[f"task {task[:12]}"] = when

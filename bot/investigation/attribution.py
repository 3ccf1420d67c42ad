"""Placing a page and its changes in the estate: which service an alarm points at, which signal it watches,
and which service (and instance) each CloudTrail change touched."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from bot.domain import Change, ChangeSource, ChangeVia, Page
from bot.sources.aws.catalog import signals_for
from bot.sources.aws.telemetry import AlarmInfo
from bot.sources.aws.topology import Estate

#: A pipeline's own API calls this close to one of its GitHub deploys belong to that deploy.
DEPLOY_API_SLACK = timedelta(minutes=15)
_KINDS_WITH_SIGNALS = ("ecs", "asg", "lambda", "dynamodb", "rds", "sqs")


def alarmed_service(page: Page, alarm: AlarmInfo | None, estate: Estate) -> str | None:
    """The alarmed service: from the alarm's dimensions (or the page's), then the page's hints, then names in its
    title. A service is only ever one the estate holds: nothing is made up from the alarm's name."""
    dimensions = {**page.dimensions, **(alarm.dimensions if alarm is not None else {})}
    found = _by_dimensions(dimensions, estate)
    if found:
        return found
    for text in (page.service_hint, page.alarm_name, page.title, *page.dimensions.values()):
        if text:
            found = estate.service_of(text)
            if found:
                return found
    return None


def unplaced(page: Page, alarm: AlarmInfo | None) -> str:
    """What the thread is told when no service in the estate matches the alarm: what it will look at instead."""
    metric = (alarm.metric if alarm is not None else None) or page.metric
    dims = {**page.dimensions, **(alarm.dimensions if alarm is not None else {})}
    where = ", ".join(f"{k}={v}" for k, v in sorted(dims.items())[:6])
    what = " ".join(x for x in (page.namespace, metric) if x)
    said = f" (the alarm's metric: {what})" if what else ""
    return (
        f"no service in the estate matches {where or 'this alarm'}, so the whole estate is investigated{said}"
    )


def _identifiers(value: str) -> set[str]:
    """A dimension value and, for an ARN or a path-like id, the resource name it ends with."""
    out = {value}
    if value.startswith("arn:"):
        out.add(value.rsplit(":", 1)[-1].rsplit("/", 1)[-1])
    elif "/" in value:
        parts = value.split("/")
        out.add(parts[1] if len(parts) >= 3 else parts[-1])  # targetgroup/<name>/<id>, app/<name>/<id>
    return {v for v in out if v}


def _owned(name: str, estate: Estate) -> set[str]:
    """Every identifier of a service's resources: ids, ARNs and their names, instances, the service's name."""
    info = estate.services[name]
    res = info.res()
    ids = {
        res.ecs_service,
        res.asg,
        res.function,
        res.table,
        res.db_instance,
        res.queue,
        res.target_group,
        name,
    }
    for arn in info.arns:
        ids |= _identifiers(arn)
    ids |= set(info.instances.values())
    return {i for i in ids if i}


def _by_dimensions(dimensions: dict[str, str], estate: Estate) -> str | None:
    """The service that owns a resource a dimension names (its tags), else the one service whose
    configuration names it (a bucket, topic, queue or stream it uses but no tag places)."""
    values = set(dimensions.values())
    for value in sorted(values):
        for name, info in sorted(estate.services.items()):
            res = info.res()
            if value == res.load_balancer:
                # A load balancer fronts several services; only its target group says which.
                if res.target_group and res.target_group not in values:
                    continue
                return name
            if _identifiers(value) & _owned(name, estate):
                return name
    for value in sorted(values):
        users = {
            name for name, info in estate.services.items() if _identifiers(value) & _configured(info.named)
        }
        if len(users) == 1:
            return users.pop()
    return None


def _configured(named: set[str]) -> set[str]:
    """The resource names a service's configuration holds: each value, and the name an ARN or URL ends with."""
    out: set[str] = set()
    for value in named:
        value = value.strip()
        if len(value) < 3 or len(value) > 2048:
            continue
        out.add(value)
        if value.startswith("arn:"):
            out.add(value.rsplit(":", 1)[-1].rsplit("/", 1)[-1])
        elif value.startswith("s3://"):
            out.add(value[5:].split("/", 1)[0])
        elif value.startswith(("https://", "http://")):
            out.add(value.rstrip("/").rsplit("/", 1)[-1])
    return {v for v in out if len(v) >= 3}


def alarmed_signal(alarm: AlarmInfo | None, page: Page) -> str | None:
    """The catalogue signal the alarm's metric measures, if it is one."""
    metric = alarm.metric if alarm is not None else page.metric
    if not metric:
        return None
    for kind in _KINDS_WITH_SIGNALS:
        for sm in signals_for(kind):
            if sm.numerator.metric == metric:
                return sm.signal
    return None


def _words(change: Change) -> list[str]:
    text = " ".join(
        [change.resource or "", json.dumps(change.request, sort_keys=True) if change.request else ""]
    )
    return [w for w in re.split(r"[\s\",{}\[\]]+", text) if w]


def attribute(changes: list[Change], estate: Estate) -> list[Change]:
    """Each CloudTrail change with its service and instance; a pipeline's API calls that GitHub already
    told as a deploy are dropped. Sorted by time."""
    deploys = [c for c in changes if c.source is ChangeSource.GITHUB]
    out: list[Change] = []
    for c in changes:
        if c.source is not ChangeSource.CLOUDTRAIL:
            out.append(c)
            continue
        service, instance = _owner(c, estate)
        if c.via is ChangeVia.DEPLOY and any(
            d.service == service and abs(d.at - c.at) <= DEPLOY_API_SLACK for d in deploys
        ):
            continue
        out.append(c.model_copy(update={"service": service, "instance": instance}))
    return sorted(out, key=lambda c: (c.at, c.id))


def _owner(c: Change, estate: Estate) -> tuple[str | None, str | None]:
    """The service and instance a change's resource and request name."""
    service = instance = None
    for part in _words(c):
        owner = estate.service_of(part)
        if not owner:
            continue
        service = service or owner
        for label, iid in estate.services[owner].instances.items():
            if part in (iid, label):
                instance = label
    if service is not None:
        service = _rule_destination(c, service, estate) or service
    if service is None:
        service = (
            estate.service_of(" ".join(_words(c)))
            or _by_configuration(c, estate)
            or _by_family_name(c, estate)
        )
    return service, instance


#: Ports databases and caches listen on: an ingress rule for one of them guards a datastore.
_DATASTORE_PORTS = frozenset({3306, 5432, 1433, 1521, 5439, 6379, 11211, 27017})


def _rule_destination(c: Change, named: str, estate: Estate) -> str | None:
    """An ingress rule names its source (the caller's group, its description); the group it changes belongs to
    what the source calls on that port: the one database it calls for a database port, else the one service it
    calls. None when that is not one service."""
    if c.action not in ("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"):
        return None
    request = json.dumps(c.request).lower()
    ports = {int(p) for p in re.findall(r'"fromport":\s*"?(\d+)', request)}
    callees = sorted(b for a, b in estate.edges if a == named)
    if ports & _DATASTORE_PORTS:
        callees = [d for d in callees if d in estate.services and estate.services[d].kind == "rds"]
    return callees[0] if len(callees) == 1 else None


def _by_configuration(c: Change, estate: Estate) -> str | None:
    """The one service configured with what the change touched (a queue or function encrypted with the KMS
    key it disabled): the key is that service's."""
    wanted = {r.strip() for r in (c.resource or "").split(",") if r.strip()}
    wanted |= {w.rsplit("/", 1)[-1] for w in wanted if "/" in w}
    owners = {
        name
        for name, info in estate.services.items()
        if any(v in wanted or v.rsplit("/", 1)[-1] in wanted for v in info.named)
    }
    return owners.pop() if len(owners) == 1 else None


def _by_family_name(c: Change, estate: Estate) -> str | None:
    """A resource named after a service's family (an AppConfig application `seatmap` for `seatmap-api`):
    the one service whose name starts with that name and a dash, when exactly one does."""
    tokens = {t for t in re.split(r"[^a-z0-9-]+", (c.resource or "").lower()) if len(t) >= 4}
    owners = {n for n in estate.services for t in tokens if n.lower().startswith(f"{t}-")}
    return owners.pop() if len(owners) == 1 else None

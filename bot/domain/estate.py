"""The estate: services, how they run, their resources and who calls whom."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from bot.domain.base import Model

class ServiceKind(StrEnum):
    """How a service runs."""

    ECS = "ecs"
    ASG = "asg"
    LAMBDA = "lambda"
    DYNAMODB = "dynamodb"
    RDS = "rds"
    SQS = "sqs"
    EXTERNAL = "external"
    UNKNOWN = "unknown"


class Resource(Model):
    """An AWS resource that belongs to a service."""

    type: str
    id: str
    arn: str | None = None
    name: str | None = None


def reachable(start: str, callees: Callable[[str], list[str]]) -> list[str]:
    """`start` and every node reachable from it through `callees`, breadth first, in callee order."""
    seen = [start]
    frontier = [start]
    while frontier:
        nxt: list[str] = []
        for node in frontier:
            for callee in callees(node):
                if callee not in seen:
                    seen.append(callee)
                    nxt.append(callee)
        frontier = nxt
    return seen


class Service(Model):
    """A service of the estate, as discovered."""

    name: str
    kind: ServiceKind = ServiceKind.UNKNOWN
    calls: tuple[str, ...] = ()
    repo: str | None = None
    resources: tuple[Resource, ...] = ()


class Topology(Model):
    """The estate: services and who calls whom."""

    services: tuple[Service, ...] = ()

    def get(self, name: str) -> Service | None:
        """The service called `name`, if any."""
        return next((s for s in self.services if s.name == name), None)

    def names(self) -> list[str]:
        """Service names, sorted."""
        return sorted(s.name for s in self.services)

    def callees(self, name: str) -> list[str]:
        """Services that `name` calls directly, sorted."""
        svc = self.get(name)
        return sorted(svc.calls) if svc else []

    def callers(self, name: str) -> list[str]:
        """Services that call `name` directly, sorted."""
        return sorted(s.name for s in self.services if name in s.calls)

    def downstream(self, name: str) -> list[str]:
        """`name` and every service it reaches through calls, breadth first, deterministic."""
        return reachable(name, self.callees)



    @classmethod
    def of(
        cls, names: tuple[str, ...] | list[str], edges: tuple[tuple[str, str], ...] | list[tuple[str, str]]
    ) -> Topology:
        """A topology from service names and (caller, callee) edges, kinds unknown."""
        calls: dict[str, set[str]] = {n: set() for n in names}
        for a, b in edges:
            calls.setdefault(a, set()).add(b)
            calls.setdefault(b, set())
        return cls(services=tuple(Service(name=n, calls=tuple(sorted(c))) for n, c in sorted(calls.items())))

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        """Every (caller, callee) edge, sorted."""
        return tuple(sorted((s.name, c) for s in self.services for c in s.calls))

    def kind(self, name: str) -> ServiceKind:
        """How `name` runs (unknown when it is not in the estate)."""
        svc = self.get(name)
        return svc.kind if svc else ServiceKind.UNKNOWN

"""The estate: services, how they run, their resources and who calls whom."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def reachable(start: str, callees: Callable[[str], Sequence[str]]) -> list[str]:
    """`start` and every node reachable from it through `callees`, breadth first, in callee order."""
    order, seen, frontier = [start], {start}, [start]
    while frontier:
        nxt: list[str] = []
        for node in frontier:
            for callee in callees(node):
                if callee not in seen:
                    seen.add(callee)
                    order.append(callee)
                    nxt.append(callee)
        frontier = nxt
    return order


class _Index:
    """Lookups over one `services` tuple, built once: by name, callees, callers, edges."""

    def __init__(self, services: tuple[Service, ...]) -> None:
        self.services = services
        self.by_name = {s.name: s for s in services}
        self.callees = {s.name: tuple(sorted(set(s.calls))) for s in services}
        callers: dict[str, set[str]] = {}
        for s in services:
            for callee in s.calls:
                callers.setdefault(callee, set()).add(s.name)
        self.callers = {name: tuple(sorted(found)) for name, found in callers.items()}
        self.edges = tuple(sorted((a, b) for a, bs in self.callees.items() for b in bs))
        self.names = tuple(sorted(self.by_name))


class Service(Model):
    """A service of the estate, as discovered."""

    name: str
    kind: ServiceKind = ServiceKind.UNKNOWN
    calls: tuple[str, ...] = ()
    repo: str | None = None
    resources: tuple[Resource, ...] = ()


class Topology(Model):
    """The estate: services and who calls whom.

    Lookups go through an index built on first use and kept beside the fields (not one of them, so it is
    neither compared nor serialised); a copy with other services builds its own.
    """

    services: tuple[Service, ...] = ()

    def _index(self) -> _Index:
        index = self.__dict__.get("_index_cache")
        if not isinstance(index, _Index) or index.services is not self.services:
            index = _Index(self.services)
            self.__dict__["_index_cache"] = index  # a cache, as functools.cached_property would store it
        return index

    def get(self, name: str) -> Service | None:
        """The service called `name`, if any."""
        return self._index().by_name.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._index().by_name

    def names(self) -> list[str]:
        """Service names, sorted."""
        return list(self._index().names)

    def callees(self, name: str) -> list[str]:
        """Services that `name` calls directly, sorted."""
        return list(self._index().callees.get(name, ()))

    def callers(self, name: str) -> list[str]:
        """Services that call `name` directly, sorted."""
        return list(self._index().callers.get(name, ()))

    def downstream(self, name: str) -> list[str]:
        """`name` and every service it reaches through calls, breadth first, deterministic."""
        callees = self._index().callees
        return reachable(name, lambda n: callees.get(n, ()))

    @classmethod
    def of(cls, names: Sequence[str], edges: Sequence[tuple[str, str]]) -> Topology:
        """A topology from service names and (caller, callee) edges, kinds unknown."""
        calls: dict[str, set[str]] = {n: set() for n in names}
        for a, b in edges:
            calls.setdefault(a, set()).add(b)
            calls.setdefault(b, set())
        return cls(services=tuple(Service(name=n, calls=tuple(sorted(c))) for n, c in sorted(calls.items())))

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        """Every (caller, callee) edge, sorted."""
        return self._index().edges

    def kind(self, name: str) -> ServiceKind:
        """How `name` runs (unknown when it is not in the estate)."""
        svc = self.get(name)
        return svc.kind if svc else ServiceKind.UNKNOWN

"""Who calls whom, read from configuration as an SRE reads it on an account without traces.

A service's configuration names what it uses: an environment variable holding another service's endpoint
(``http://pricing.acme.internal:8080``), a function ARN, a table or queue name, a queue URL, a DB endpoint, a
third party's URL; an event-source mapping feeds a function from a queue or stream. Pure: the reader collects
:class:`Wiring` (values per owning resource, mappings), :func:`edges` resolves them against the estate's resource
index. Directions are X-Ray's: the holder of a value calls what it names; a mapping's source calls its function
(X-Ray draws a queue-triggered function downstream of its queue). Nothing is guessed from names alone.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

#: Domains that are AWS's own endpoints or private names: never a third party.
_PRIVATE_TLDS = frozenset({"internal", "local", "localhost", "lan", "corp", "home", "intranet", "cluster"})
_AWS_DOMAINS = ("amazonaws.com", "amazonaws.com.cn", "on.aws", "aws", "api.aws", "cloudfront.net")
#: Second-level labels under a two-letter country code (``example.co.uk``).
_COUNTRY_SLDS = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or"})
_SPLIT = re.compile(r"[\s,;]+")
_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_HOST = re.compile(r"^[a-z0-9][a-z0-9.-]*\.[a-z0-9-]+(?::\d+)?(?:/\S*)?$")


@dataclass
class Wiring:
    """Configuration collected by discovery: (owning resource, value) pairs and (source, function) mappings."""

    values: list[tuple[str, str]] = field(default_factory=list)
    mappings: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ResourceIndex:
    """Which service owns a resource: by ARN, by resource name (table, queue, function, DB instance, ECS
    service, group) and, for host names only, by service name."""

    arns: Mapping[str, str]
    names: Mapping[str, str]
    services: frozenset[str]

    @classmethod
    def build(cls, owned: Mapping[str, tuple[Iterable[str], Iterable[str]]]) -> ResourceIndex:
        """From service -> (its ARNs and URLs, its resource names); a name two services share is dropped."""
        arns: dict[str, str] = {}
        names: dict[str, str | None] = {}
        for service, (service_arns, resource_names) in sorted(owned.items()):
            for arn in service_arns:
                arns.setdefault(arn, service)
            for name in resource_names:
                key = name.lower()
                names[key] = service if names.get(key, service) == service else None
        return cls(arns, {k: v for k, v in names.items() if v}, frozenset(owned))

    def owner(self, resource: str) -> str | None:
        """The service that owns an ARN (qualified or not: ``...:function:f:live``), URL or resource name."""
        if resource in self.arns:
            return self.arns[resource]
        for arn, service in self.arns.items():
            if resource.startswith(arn) and resource[len(arn) : len(arn) + 1] in (":", "/"):
                return service
        return self.names.get(resource.lower())

    def named_by(self, value: str) -> str | None:
        """The estate's service one configuration value names, or a third party's name from its URL."""
        for part in _SPLIT.split(value.strip().strip("'\"")):
            found = self._part(part.strip("'\""))
            if found:
                return found
        return None

    def _part(self, part: str) -> str | None:
        if not part:
            return None
        if part.startswith("arn:"):
            return self.owner(part) or self._arn_name(part)
        text = part.removeprefix("jdbc:")
        if "://" in text:
            return self._url(text)
        low = text.lower()
        if _HOST.match(low):
            return self._host(urlsplit("//" + low).hostname or "")
        return self.names.get(low)

    def _arn_name(self, arn: str) -> str | None:
        """An ARN of a resource the estate has under another ARN form: its name (``table/orders/stream/..``)."""
        parts = arn.split(":", 5)
        if len(parts) < 6:
            return None
        for token in re.split(r"[:/]", parts[5]):
            if token.lower() in self.names:
                return self.names[token.lower()]
        return None

    def _url(self, url: str) -> str | None:
        try:
            split = urlsplit(url)
            host = (split.hostname or "").lower()
        except ValueError:
            return None
        if not host:
            return None
        segments = [s for s in split.path.split("/") if s]
        if len(segments) == 2 and segments[0].isdigit():  # a queue URL: /<account>/<queue name>
            return self.names.get(segments[1].lower())
        return self._host(host, third_party=split.scheme in ("http", "https"))

    def _host(self, host: str, third_party: bool = False) -> str | None:
        """A private or AWS host by its first label (``pricing.acme.internal``, an RDS endpoint); a public
        one, only in an HTTP URL, is a third party."""
        public = vendor(host)
        if public is not None:
            return public if third_party else None
        first = host.split(".", 1)[0]
        if first in self.names:
            return self.names[first]
        return first if first in self.services else None


def vendor(host: str) -> str | None:
    """The organisation a public host name belongs to (``api.novapay.com`` -> ``novapay``); None for AWS's
    own endpoints, private names and addresses."""
    host = host.lower().strip(".")
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    labels = host.split(".")
    if len(labels) < 2 or labels[-1] in _PRIVATE_TLDS:
        return None
    if any(host == d or host.endswith("." + d) for d in _AWS_DOMAINS):
        return None
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _COUNTRY_SLDS:
        return labels[-3]
    return labels[-2]


def user_data_values(encoded: str) -> list[str]:
    """The values a launch template's user data assigns (``KEY=value`` lines of its script or env file)."""
    try:
        text = base64.b64decode(encoded, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        text = encoded
    return [m.group(2).strip() for line in text.splitlines() if (m := _ASSIGN.match(line))]


def edges(wiring: Wiring, index: ResourceIndex) -> set[tuple[str, str]]:
    """Caller -> callee edges the configuration shows (no edge from or to an unknown owner, none to itself)."""
    out: set[tuple[str, str]] = set()
    for resource, value in wiring.values:
        caller = index.owner(resource)
        callee = index.named_by(value) if caller else None
        if caller and callee and callee != caller:
            out.add((caller, callee))
    for source, function in wiring.mappings:
        feeder, consumer = index.owner(source) or index.named_by(source), index.owner(function)
        if feeder and consumer and feeder != consumer:
            out.add((feeder, consumer))
    return out

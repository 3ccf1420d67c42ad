"""What an error says: families of error text, each pointing at a kind of fault, whatever the runtime.

Pure. The patterns are the wording AWS SDKs, databases, HTTP clients and runtimes use for each family, not
the wording of any one estate.
"""

from __future__ import annotations

import re
from enum import StrEnum


class ErrorFamily(StrEnum):
    """Kinds of error text."""

    AUTHORIZATION = "authorization"  # denied by a policy, a key, a grant
    THROTTLING = "throttling"  # a rate or quota was exceeded
    UNREACHABLE = "unreachable"  # timeouts, refused or reset connections, no route
    NAME_RESOLUTION = "name-resolution"  # DNS could not resolve a host
    TLS = "tls"  # certificates and handshakes
    OUT_OF_MEMORY = "out-of-memory"  # a process ran out of memory or was killed for it
    OUT_OF_SPACE = "out-of-space"  # a disk or volume is full
    OUT_OF_HANDLES = "out-of-handles"  # a process ran out of file descriptors
    EXHAUSTED_POOL = "exhausted-pool"  # connections or slots ran out
    PLATFORM = (
        "platform"  # the platform acted on the resource: a failover, a reboot, a host replaced or retired
    )


_PATTERNS: dict[ErrorFamily, re.Pattern[str]] = {
    ErrorFamily.AUTHORIZATION: re.compile(
        r"access ?denied|accessdeniedexception|not authorized to perform|explicit deny|unauthorizedoperation"
        r"|kms\.?\w*exception.*(?:denied|disabled)|is not authorized|permission denied|forbidden: user|\b403 forbidden",
        re.IGNORECASE,
    ),
    ErrorFamily.THROTTLING: re.compile(
        r"throttl|too many requests|rate ?limit|rate exceeded|provisionedthroughputexceeded|\b429\b"
        r"|concurrentinvocationlimitexceeded|requestlimitexceeded|slowdown|quota exceeded",
        re.IGNORECASE,
    ),
    ErrorFamily.NAME_RESOLUTION: re.compile(
        r"enotfound|unknownhostexception|name or service not known|no such host|getaddrinfo|nxdomain"
        r"|temporary failure in name resolution|could not resolve host",
        re.IGNORECASE,
    ),
    ErrorFamily.TLS: re.compile(
        r"certificate (?:has )?expired|cert_has_expired|x509:|ssl(?:error|handshake)|tls handshake"
        r"|certificate verify failed|pkix path|unable to verify the first certificate",
        re.IGNORECASE,
    ),
    ErrorFamily.OUT_OF_MEMORY: re.compile(
        r"\b(out of memory|outofmemory\w*|memoryerror|oom[- ]?kill\w*|oom|killed process|heap out of memory)\b",
        re.IGNORECASE,
    ),
    ErrorFamily.OUT_OF_SPACE: re.compile(
        r"no space left on device|enospc|disk (?:is )?full|diskfull|out of disk", re.IGNORECASE
    ),
    ErrorFamily.OUT_OF_HANDLES: re.compile(
        r"\bemfile\b|\benfile\b|too many open files|file table overflow", re.IGNORECASE
    ),
    ErrorFamily.EXHAUSTED_POOL: re.compile(
        r"too many (?:clients|connections)|connection slots are reserved|pool (?:is )?exhausted"
        r"|connection is not available|max_connections|remaining connection slots",
        re.IGNORECASE,
    ),
    ErrorFamily.PLATFORM: re.compile(
        r"\bmulti-az\b|\bfailover (?:started|completed|in progress|initiated|to db instance)|cross az failover"
        r"|\bdb instance (?:shutdown|restarted|rebooted)|\breboot(?:ed|ing)? (?:of )?(?:the )?(?:db|database|instance)"
        r"|hardware (?:issue|failure|degradation|problem)|instance retirement|underlying (?:host|hardware)"
        r"|host (?:is being )?replac|scheduled maintenance|\brds-event-\d+",
        re.IGNORECASE,
    ),
    ErrorFamily.UNREACHABLE: re.compile(
        r"timed? ?out|timeout|econnrefused|connection refused|econnreset|connection reset|no route to host"
        r"|etimedout|deadline exceeded|socket hang up|broken pipe",
        re.IGNORECASE,
    ),
}


def families(text: str) -> list[ErrorFamily]:
    """Every family the text belongs to, in the order of `ErrorFamily` (most specific first)."""
    return [family for family, pattern in _PATTERNS.items() if pattern.search(text)]

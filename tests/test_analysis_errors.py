"""What an error says, across runtimes: each family from the wording SDKs, databases and clients use."""

from __future__ import annotations

import pytest

from bot.analysis.errors import ErrorFamily, families


@pytest.mark.parametrize(
    ("text", "family"),
    [
        (
            "botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling the PutObject operation",
            ErrorFamily.AUTHORIZATION,
        ),
        (
            "User: arn:aws:sts::1:assumed-role/x/y is not authorized to perform: kms:GenerateDataKey",
            ErrorFamily.AUTHORIZATION,
        ),
        (
            "AccessDeniedException: with an explicit deny in a resource-based policy",
            ErrorFamily.AUTHORIZATION,
        ),
        (
            "ProvisionedThroughputExceededException: Rate of requests exceeds the allowed throughput",
            ErrorFamily.THROTTLING,
        ),
        ("HTTP 429 Too Many Requests: rate limit exceeded", ErrorFamily.THROTTLING),
        ("getaddrinfo ENOTFOUND api.vendor.example", ErrorFamily.NAME_RESOLUTION),
        ("java.net.UnknownHostException: api.vendor.example", ErrorFamily.NAME_RESOLUTION),
        ("x509: certificate has expired or is not yet valid", ErrorFamily.TLS),
        ("Error: certificate has expired (CERT_HAS_EXPIRED)", ErrorFamily.TLS),
        (
            "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
            ErrorFamily.OUT_OF_MEMORY,
        ),
        ("java.lang.OutOfMemoryError: Java heap space", ErrorFamily.OUT_OF_MEMORY),
        ("write /var/spool/relay/0001: no space left on device", ErrorFamily.OUT_OF_SPACE),
        ("FATAL: sorry, too many clients already", ErrorFamily.EXHAUSTED_POOL),
        ("connect ECONNREFUSED 10.0.0.7:5432", ErrorFamily.UNREACHABLE),
        (
            "context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
            ErrorFamily.UNREACHABLE,
        ),
    ],
)
def test_a_family_is_read_from_its_wording(text: str, family: ErrorFamily) -> None:
    assert family in families(text)


@pytest.mark.parametrize("text", ["the room was booked", "GET /health 200 in 4 ms", "zoom meeting started"])
def test_ordinary_text_is_no_family(text: str) -> None:
    assert families(text) == []

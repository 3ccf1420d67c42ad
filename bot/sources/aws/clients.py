"""boto3 clients, made once per service and shared across threads; AWS errors as tool statuses.

boto3 reads `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` and credentials itself, so the same code reads
real AWS or the sandbox's stand-ins.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bot.sources.result import Outcome

DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "AuthorizationError",
    }
)
THROTTLE_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}
)


class AwsClients:
    """A cache of boto3 clients for one region (boto3 clients are thread-safe; sessions are not)."""

    def __init__(
        self,
        region: str,
        max_attempts: int = 3,
        read_timeout: float = 15.0,
        endpoint_url: str | None = None,
        profile: str | None = None,
    ) -> None:
        self.region = region
        self._endpoint = endpoint_url
        self._config = Config(
            region_name=region,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=5,
            read_timeout=read_timeout,
            max_pool_connections=32,
        )
        # a named profile (e.g. one that assumes the bot's write role), else the default credential chain
        self._session = boto3.session.Session(region_name=region, profile_name=profile)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint every client is pointed at (None: AWS's own, or AWS_ENDPOINT_URL)."""
        return self._endpoint

    def get(self, service: str) -> Any:
        """The client for an AWS service name such as `cloudwatch` or `logs`."""
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self._session.client(service, config=self._config, endpoint_url=self._endpoint)
                self._clients[service] = client
            return client


def classify(exc: Exception) -> tuple[Outcome, str]:
    """An AWS exception as a tool status and a message a person can act on."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "")
        if code in DENIED_CODES:
            return Outcome.DENIED, f"access denied ({code}): {message[:200]}"
        if code in THROTTLE_CODES:
            return Outcome.ERROR, f"throttled after retries ({code})"
        if (
            code.endswith("NotFound")
            or code.endswith("NotFoundException")
            or code == "ResourceNotFoundException"
        ):
            return Outcome.NO_DATA, f"not found ({code})"
        return Outcome.ERROR, f"{code or 'error'}: {message[:200]}"
    if isinstance(exc, BotoCoreError):
        return Outcome.ERROR, f"{type(exc).__name__}: {str(exc)[:200]}"
    return Outcome.ERROR, f"{type(exc).__name__}: {str(exc)[:200]}"

"""Verify requests: Slack's request signatures, PagerDuty Webhooks v3 signatures and SNS message signatures.

Slack signs ``v0:{X-Slack-Request-Timestamp}:{raw body}`` with HMAC-SHA256 under the app's signing secret and
sends ``X-Slack-Signature: v0=<hex>``; requests more than five minutes from now are refused (Slack's "Verifying
requests from Slack"). The headers are checked before the body is read, the signature before it is parsed.

PagerDuty signs the raw body with HMAC-SHA256 and sends ``X-PagerDuty-Signature: v1=<hex>``, with one
``v1=`` entry per active secret while a secret is being rotated (PagerDuty developer docs, webhooks
"Signatures").

SNS signs a canonical string built from the message's fields with the private key behind
``SigningCertURL``; ``SignatureVersion`` 1 is RSA PKCS#1 v1.5 with SHA1, 2 with SHA256 (AWS SNS developer
guide, "Verifying the signatures of Amazon SNS messages"). The verifier only trusts certificates fetched
over HTTPS from an SNS host, only accepts allow-listed topics and rejects stale messages. Where the
certificate comes from is a policy passed in, so tests serve their own certificate on loopback. Every check that
needs no network comes first; the certificate is fetched last, once per URL, on a thread of its own: a request
waits for it at most ``fetch_wait_s`` and a fetch that outlasts that still fills the cache for SNS's retry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def _ascii(text: str) -> bytes:
    """`text` as bytes for a constant-time comparison (``compare_digest`` refuses non-ASCII strings)."""
    return text.strip().encode("ascii", "replace")


# -- Slack -------------------------------------------------------------------------------------------------------

#: How far from now a Slack request's timestamp may be (Slack's guidance: five minutes, against replays).
SLACK_MAX_SKEW_S = 5 * 60
_SLACK_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class RequestRefused(Exception):
    """A request refused on its headers or signature: `status` is the HTTP status to answer, `reason` one line."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def check_slack_headers(timestamp: str | None, signature: str | None, now: float | None = None) -> None:
    """Raise :class:`RequestRefused` unless a request carries a signature and a well-formed, fresh timestamp.

    401 for a missing header or a timestamp more than five minutes from `now`; 400 for a timestamp that is not
    a whole number of seconds. Needs only the headers, so it runs before the body is read.
    """
    if not timestamp or not signature:
        raise RequestRefused(401, "missing X-Slack-Signature or X-Slack-Request-Timestamp")
    seconds = timestamp.strip(" \t")  # HTTP's optional whitespace only: int() would take more than the check
    if not _SLACK_TIMESTAMP.fullmatch(seconds):
        raise RequestRefused(400, "X-Slack-Request-Timestamp is not a whole number of seconds")
    if abs((time.time() if now is None else now) - int(seconds)) > SLACK_MAX_SKEW_S:
        raise RequestRefused(401, "X-Slack-Request-Timestamp is more than 5 minutes from now")


def verify_slack_signature(raw_body: bytes, timestamp: str, signature: str, secret: str | None) -> bool:
    """True when `signature` is ``v0=`` and the HMAC-SHA256 of ``v0:{timestamp}:{raw_body}`` under `secret`.

    Works on the raw bytes as received (no decoding, so any body can be checked before it is parsed); compares
    in constant time; no secret is False.
    """
    if not secret:
        return False
    base = b"v0:" + timestamp.strip().encode("ascii", "replace") + b":" + raw_body
    expected = b"v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, _ascii(signature))


# -- EventBridge API destinations ------------------------------------------------------------------------------


def verify_api_destination(headers: Mapping[str, str], header_name: str, secret: str | None) -> bool:
    """True when a request carries the EventBridge connection's credential: the API key in `header_name`, or
    ``Authorization: Basic`` whose ``user:password`` is `secret`. Compared in constant time; no secret is False.

    (An API destination's connection authorises with an API key, Basic or OAuth client credentials; the first two
    send the same credential on every request, which is what is checked here.)
    """
    if not secret:
        return False
    h = {k.lower(): v for k, v in headers.items()}
    expected = secret.encode("utf-8")
    key = h.get(header_name.lower())
    key_ok = key is not None and hmac.compare_digest(key.strip().encode("utf-8"), expected)
    scheme, _, token = h.get("authorization", "").strip().partition(" ")
    basic_ok = False
    if scheme.lower() == "basic" and token:
        try:
            decoded = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        basic_ok = hmac.compare_digest(decoded, expected)
    return key_ok or basic_ok


# -- PagerDuty ---------------------------------------------------------------------------------------------------


def pagerduty_secrets(setting: str | None) -> list[str]:
    """The secrets in ``PAGERDUTY_WEBHOOK_SECRET``: comma-separated, so that two are accepted while rotating."""
    return [s.strip() for s in (setting or "").split(",") if s.strip()]


def verify_pagerduty_signature(raw_body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """True when some ``v1=`` entry of `header` is the HMAC-SHA256 of `raw_body` under one of `secrets`.

    Compares in constant time, on the raw bytes as received; an absent header or no secrets is False.
    """
    if not header or not secrets:
        return False
    offered: list[str] = []
    for part in header.split(","):
        version, _, value = part.strip().partition("=")
        if version.strip() == "v1" and value.strip():
            offered.append(value.strip().lower())
    if not offered:
        return False
    ok = False
    for secret in secrets:
        if not secret:
            continue
        expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
        for candidate in offered:
            # no early exit: every comparison runs, so timing says nothing about which one matched
            ok |= hmac.compare_digest(expected.encode(), _ascii(candidate))
    return ok


# -- SNS ---------------------------------------------------------------------------------------------------------

#: Production policy for SigningCertURL hosts (also in settings as ``sns_cert_host_pattern``).
SNS_CERT_HOST_PATTERN = r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"

#: The keys signed, in this order, for each message type (``Subject`` only when present).
SIGNED_KEYS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_OPTIONAL_KEYS = frozenset({"Subject"})
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


class SnsVerificationError(Exception):
    """An SNS message failed verification; ``reason`` says what was wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sns_string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical string SNS signs: ``Key\\nValue\\n`` for each signed key of the message's type."""
    mtype = message.get("Type")
    keys = SIGNED_KEYS.get(mtype) if isinstance(mtype, str) else None
    if keys is None:
        raise SnsVerificationError(f"unknown message Type {mtype!r}")
    out: list[str] = []
    for key in keys:
        value = message.get(key)
        if value is None:
            if key in _OPTIONAL_KEYS:
                continue
            raise SnsVerificationError(f"missing field {key}")
        if not isinstance(value, str):
            raise SnsVerificationError(f"field {key} is not a string")
        out.append(f"{key}\n{value}\n")
    return "".join(out).encode("utf-8")


def host_policy(pattern: str | re.Pattern[str] = SNS_CERT_HOST_PATTERN) -> Callable[[str], bool]:
    """A certificate-URL policy: ``https``, default port, no credentials, host matching `pattern`, a ``.pem``."""
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern

    def allowed(url: str) -> bool:
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        host = parts.hostname or ""
        return (
            parts.scheme == "https"
            and port in (None, 443)
            and not parts.username
            and not parts.password
            and bool(regex.fullmatch(host))
            and parts.path.endswith(".pem")
        )

    return allowed


#: A signing certificate is about 2 KB; anything much larger is not one.
MAX_CERT_BYTES = 64 * 1024


def fetch_url(url: str, timeout: float = 10.0) -> bytes:
    """GET `url`, refusing redirects, within `timeout` seconds in all and `MAX_CERT_BYTES`; the certificate fetcher.

    Runs on the verifier's fetch thread: a request waits for it only ``fetch_wait_s``.
    """
    deadline = time.monotonic() + timeout
    with httpx.stream("GET", url, timeout=timeout, follow_redirects=False) as response:
        response.raise_for_status()
        out = bytearray()
        for chunk in response.iter_bytes():
            out += chunk
            if len(out) > MAX_CERT_BYTES:
                raise ValueError(f"more than {MAX_CERT_BYTES} bytes")
            if time.monotonic() > deadline:
                raise TimeoutError(f"not received within {timeout:g} s")
    return bytes(out)


class _Certificates:
    """Signing certificates by URL, each fetched once (concurrent requests for one URL share the fetch) on a daemon
    thread of its own, at most `max_fetching` at a time; kept for the `size` most recently used URLs."""

    def __init__(self, fetch: Callable[[str], bytes], size: int, max_fetching: int = 4) -> None:
        self._fetch = fetch
        self._size = size
        self._max_fetching = max_fetching
        self._cache: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._fetching: dict[str, Future[x509.Certificate]] = {}
        self._lock = threading.Lock()

    def get(self, url: str, wait_s: float) -> x509.Certificate:
        """The certificate at `url`, from the cache or fetched; SnsVerificationError if not within `wait_s`."""
        with self._lock:
            cert = self._cache.get(url)
            if cert is not None:
                self._cache.move_to_end(url)
                return cert
            future = self._fetching.get(url)
            if future is None:
                if len(self._fetching) >= self._max_fetching:
                    raise SnsVerificationError("too many signing certificates being fetched; retry later")
                future = self._fetching[url] = Future()
                threading.Thread(target=self._run, args=(url, future), daemon=True, name="sns-cert").start()
        try:
            return future.result(timeout=wait_s)
        except SnsVerificationError:
            raise
        except Exception as exc:
            if not future.done():
                raise SnsVerificationError(
                    f"signing certificate {url} not fetched within {wait_s:g} s"
                ) from None
            raise SnsVerificationError(f"could not fetch signing certificate {url}: {exc}") from None

    def _run(self, url: str, future: Future[x509.Certificate]) -> None:
        try:
            pem = self._fetch(url)
            try:
                cert = x509.load_pem_x509_certificate(pem)
            except ValueError:
                raise SnsVerificationError(f"signing certificate at {url} is not a PEM certificate") from None
        except Exception as exc:
            with self._lock:
                self._fetching.pop(url, None)
            future.set_exception(exc)
            return
        with self._lock:
            self._fetching.pop(url, None)
            self._cache[url] = cert
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        future.set_result(cert)


def _parse_timestamp(value: str) -> datetime:
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class SnsVerifier:
    """Checks SNS HTTP(S) messages: signature, certificate origin, topic and age.

    `cert_url_allowed` is a policy callable or a host regex (default: AWS SNS hosts over HTTPS);
    `fetch_cert` returns the PEM bytes at a URL (default: :func:`fetch_url`); certificates are cached
    per URL, and a request waits at most `fetch_wait_s` for one being fetched. An empty `topic_allowlist` allows
    no topic at all.
    """

    def __init__(
        self,
        cert_url_allowed: Callable[[str], bool] | str | re.Pattern[str] = SNS_CERT_HOST_PATTERN,
        fetch_cert: Callable[[str], bytes] | None = None,
        topic_allowlist: Sequence[str] = (),
        *,
        max_age: timedelta = timedelta(hours=1),
        max_future_skew: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] | None = None,
        cache_size: int = 32,
        fetch_wait_s: float = 2.0,
    ) -> None:
        self._allowed = cert_url_allowed if callable(cert_url_allowed) else host_policy(cert_url_allowed)
        self._topics = frozenset(topic_allowlist)
        self._max_age = max_age
        self._max_future_skew = max_future_skew
        self._clock = clock or (lambda: datetime.now(UTC))
        self._certificates = _Certificates(fetch_cert or fetch_url, cache_size)
        self._fetch_wait_s = fetch_wait_s

    def verify(self, message: Mapping[str, Any]) -> None:
        """Return if `message` is authentic, fresh and from an allowed topic; else raise SnsVerificationError."""
        if not isinstance(message, Mapping):
            raise SnsVerificationError("message is not a JSON object")
        mtype = message.get("Type")
        if not isinstance(mtype, str) or mtype not in SIGNED_KEYS:
            raise SnsVerificationError(f"unknown message Type {mtype!r}")
        version = str(message.get("SignatureVersion", ""))
        hash_factory = _HASHES.get(version)
        if hash_factory is None:
            raise SnsVerificationError(f"unsupported SignatureVersion {version!r}")

        topic = message.get("TopicArn")
        if not isinstance(topic, str) or not topic:
            raise SnsVerificationError("missing TopicArn")
        if topic not in self._topics:
            raise SnsVerificationError(f"topic {topic} is not in the allow-list")

        stamp = message.get("Timestamp")
        if not isinstance(stamp, str):
            raise SnsVerificationError("missing Timestamp")
        try:
            sent = _parse_timestamp(stamp)
        except ValueError:
            raise SnsVerificationError(f"unreadable Timestamp {stamp!r}") from None
        now = self._clock()
        if now - sent > self._max_age:
            raise SnsVerificationError(f"message is stale: sent {stamp}, older than {self._max_age}")
        if sent - now > self._max_future_skew:
            raise SnsVerificationError(f"message Timestamp {stamp} is in the future")

        cert_url = message.get("SigningCertURL", message.get("SigningCertUrl"))
        if not isinstance(cert_url, str) or not cert_url:
            raise SnsVerificationError("missing SigningCertURL")
        if not self._allowed(cert_url):
            raise SnsVerificationError(f"certificate URL {cert_url} is not an allowed SNS host")

        signature_b64 = message.get("Signature")
        if not isinstance(signature_b64, str) or not signature_b64:
            raise SnsVerificationError("missing Signature")
        try:
            signature = base64.b64decode(signature_b64, validate=True)
        except (binascii.Error, ValueError):
            raise SnsVerificationError("Signature is not valid base64") from None

        canonical = sns_string_to_sign(message)
        key = self._public_key(cert_url)
        try:
            key.verify(signature, canonical, padding.PKCS1v15(), hash_factory())
        except InvalidSignature:
            raise SnsVerificationError("signature does not match the message") from None

    def _public_key(self, url: str) -> rsa.RSAPublicKey:
        cert = self._certificates.get(url, self._fetch_wait_s)
        now = self._clock()
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            raise SnsVerificationError(f"signing certificate at {url} is outside its validity period")
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SnsVerificationError(f"signing certificate at {url} does not hold an RSA key")
        return key

"""Signatures exactly as Slack, PagerDuty and Amazon SNS compute them, and senders that use them.

- Slack: ``X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{ts}:{body}")>`` with
  ``X-Slack-Request-Timestamp: {ts}`` (docs.slack.dev "Verifying requests from Slack"; the same algorithm as
  ``slack_sdk.signature.SignatureVerifier.generate_signature``). :class:`SlackEventSender` posts Events API
  envelopes (JSON), interactivity payloads and slash commands (form-encoded) to an app over HTTP.
- PagerDuty Webhooks v3: ``X-PagerDuty-Signature: v1=<hex HMAC-SHA256(secret, raw body)>``, one ``v1=`` entry
  per active secret, comma-separated, during rotation (PagerDuty/developer-docs docs/webhooks/04-Signatures.md).
- SNS: RSA PKCS#1 v1.5 over the canonical string (``Key\\nValue\\n`` for a fixed list of keys in a fixed order),
  SHA1 for SignatureVersion 1 and SHA256 for 2, base64 (docs.aws.amazon.com/sns/latest/dg/
  sns-verify-signature-of-message.html). :class:`SnsSigner` holds a test RSA key and a self-signed cert and
  serves the PEM over loopback HTTP so a verifier with a test cert-URL policy can fetch it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from bot.sandbox.httpserver import LoopbackServer, Request, Response

# -- delivery -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What the receiving app answered to one signed POST."""

    status: int
    body: str
    headers: dict[str, str]
    elapsed: float

    def json(self) -> Any:
        """The answer parsed as JSON."""
        return json.loads(self.body)


def deliver(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float = 10.0) -> Delivery:
    """POST `body` with `headers` to `url` (e.g. a page built by ``bot.sandbox.pages``) and time the answer."""
    started = time.monotonic()
    with httpx.Client(timeout=timeout) as client:
        resp = client.post(url, content=body, headers=dict(headers))
    return Delivery(resp.status_code, resp.text, dict(resp.headers), time.monotonic() - started)


# -- Slack ------------------------------------------------------------------------------------------------------


def slack_signature(secret: str, timestamp: str | int, body: str | bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` keyed with the signing secret."""
    raw = body.encode() if isinstance(body, str) else body
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackEventSender:
    """Posts requests to a Bolt app's HTTP endpoint signed exactly as Slack signs them.

    Every send method takes the same delivery options:
    ``stale_seconds`` (sign with a timestamp that many seconds old; Bolt rejects > 300),
    ``wrong_secret`` (sign with another secret), ``retry_num`` / ``retry_reason`` (add Slack's
    ``X-Slack-Retry-Num`` / ``X-Slack-Retry-Reason`` re-delivery headers).
    """

    def __init__(
        self,
        app_url: str,
        signing_secret: str,
        *,
        team_id: str = "T0SANDBOX",
        api_app_id: str = "A0SREBOT",
        bot_user_id: str = "U0SREBOT",
        timeout: float = 10.0,
    ) -> None:
        self.app_url = app_url
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.bot_user_id = bot_user_id
        self.timeout = timeout
        self._client = httpx.Client(timeout=timeout)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def headers(
        self,
        body: str,
        *,
        timestamp: int | None = None,
        stale_seconds: int = 0,
        wrong_secret: bool = False,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> dict[str, str]:
        """The signature headers (and optional retry headers) for `body`."""
        ts = str((timestamp if timestamp is not None else int(time.time())) - stale_seconds)
        secret = self.signing_secret + "-wrong" if wrong_secret else self.signing_secret
        h = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": slack_signature(secret, ts, body)}
        if retry_num is not None:
            h["X-Slack-Retry-Num"] = str(retry_num)
            h["X-Slack-Retry-Reason"] = retry_reason
        return h

    def post(self, body: str, content_type: str, **opts: Any) -> Delivery:
        """Sign and POST a raw body."""
        headers = {"Content-Type": content_type, "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
        headers.update(self.headers(body, **opts))
        started = time.monotonic()
        resp = self._client.post(self.app_url, content=body.encode(), headers=headers)
        return Delivery(resp.status_code, resp.text, dict(resp.headers), time.monotonic() - started)

    def envelope(
        self, event: Mapping[str, Any], *, event_id: str | None = None, event_time: int | None = None
    ) -> dict[str, Any]:
        """The ``event_callback`` envelope around `event`; ids derive from the event's content."""
        digest = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
        ts = event.get("event_ts") or event.get("ts")
        return {
            "token": "fake-verification-token",
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id or "Ev" + digest[:10].upper(),
            "event_time": event_time
            if event_time is not None
            else int(float(ts))
            if ts
            else int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + digest[10:40],
        }

    def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        event_time: int | None = None,
        **opts: Any,
    ) -> Delivery:
        """Send one Events API callback (JSON)."""
        body = json.dumps(self.envelope(event, event_id=event_id, event_time=event_time))
        return self.post(body, "application/json", **opts)

    def url_verification(self, challenge: str = "fake-challenge", **opts: Any) -> Delivery:
        """Send the ``url_verification`` handshake."""
        body = json.dumps(
            {"token": "fake-verification-token", "challenge": challenge, "type": "url_verification"}
        )
        return self.post(body, "application/json", **opts)

    def interaction(self, payload: Mapping[str, Any], **opts: Any) -> Delivery:
        """Send an interactivity payload (``block_actions``, ``view_submission``, ...) as ``payload=<json>``."""
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded", **opts)

    def command(
        self,
        command: str,
        text: str = "",
        *,
        user_id: str = "U0ONCALL1",
        user_name: str = "oncall",
        channel_id: str = "C0GENERAL",
        channel_name: str = "general",
        response_url: str = "https://hooks.slack.com/commands/T0SANDBOX/1/fake",
        trigger_id: str = "1.2.fake",
        **opts: Any,
    ) -> Delivery:
        """Send a slash command, form-encoded as Slack does."""
        fields = {
            "token": "fake-verification-token",
            "team_id": self.team_id,
            "team_domain": "sandbox",
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
        return self.post(urllib.parse.urlencode(fields), "application/x-www-form-urlencoded", **opts)


# -- PagerDuty ----------------------------------------------------------------------------------------------------


def pagerduty_signature(secrets: str | Sequence[str], body: bytes) -> str:
    """``v1=<hex>`` for each secret (several during rotation), comma-separated."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    return ",".join("v1=" + hmac.new(k.encode(), body, hashlib.sha256).hexdigest() for k in keys)


# -- SNS ----------------------------------------------------------------------------------------------------------

#: The keys signed, in order, per message type (absent optional keys such as Subject are skipped).
SNS_SIGNED_KEYS: dict[str, tuple[str, ...]] = {
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


def sns_string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical string AWS signs: ``Key\\nValue\\n`` for each present key of the message's type."""
    keys = SNS_SIGNED_KEYS[str(message["Type"])]
    return "".join(f"{k}\n{message[k]}\n" for k in keys if message.get(k) is not None).encode()


def _sns_hash(signature_version: str) -> hashes.HashAlgorithm:
    return hashes.SHA1() if signature_version == "1" else hashes.SHA256()  # SignatureVersion 1 is SHA1


class SnsSigner:
    """A test signing identity for SNS messages: RSA key, self-signed cert, and a loopback server for the PEM.

    ``start()`` serves the PEM at ``/SimpleNotificationService-<fingerprint>.pem`` (the file name shape SNS
    uses); :attr:`cert_url` is its URL, which :meth:`sign_message` writes into ``SigningCertURL``.
    """

    def __init__(self, *, region: str = "us-east-1", key_size: int = 2048, latency: float = 0.0) -> None:
        self.region = region
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sns.{region}.amazonaws.com")])
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = self.certificate.public_bytes(serialization.Encoding.PEM)
        fingerprint = self.certificate.fingerprint(hashes.SHA256()).hex()[:32]
        self.cert_path = f"/SimpleNotificationService-{fingerprint}.pem"
        self.server = LoopbackServer(latency=latency)
        self.server.add_route("GET", self.cert_path, self._serve_pem)

    def _serve_pem(self, req: Request) -> Response:
        return Response(200, self.cert_pem, {"Content-Type": "application/x-x509-ca-cert"})

    def start(self) -> Self:
        """Serve the PEM on loopback."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop the PEM server."""
        self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def cert_url(self) -> str:
        """Where a verifier fetches the signing cert (the signer must be started)."""
        return self.server.base_url + self.cert_path

    def sign(self, message: Mapping[str, Any], signature_version: str = "2") -> str:
        """Base64 RSA PKCS#1 v1.5 signature of the message's canonical string."""
        raw = self._key.sign(sns_string_to_sign(message), padding.PKCS1v15(), _sns_hash(signature_version))
        return base64.b64encode(raw).decode()

    def sign_message(self, message: Mapping[str, Any], signature_version: str = "2") -> dict[str, Any]:
        """A copy of `message` with SignatureVersion, Signature and SigningCertURL filled in."""
        out = dict(message)
        out["SignatureVersion"] = signature_version
        out["Signature"] = self.sign(message, signature_version)
        out["SigningCertURL"] = self.cert_url
        return out

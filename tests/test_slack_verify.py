"""Requests are verified: Slack's and PagerDuty's HMAC signatures, SNS RSA signatures against a loopback cert server."""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.verify import (
    MAX_CERT_BYTES,
    RequestRefused,
    SnsVerificationError,
    SnsVerifier,
    check_slack_headers,
    host_policy,
    pagerduty_secrets,
    sns_string_to_sign,
    verify_pagerduty_signature,
    verify_slack_signature,
)

# -- Slack -------------------------------------------------------------------------------------------------------

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TS = "1531420618"
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
    b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
    b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
    b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
#: Slack's own worked example ("Verifying requests from Slack").
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_slack_signature_matches_slacks_worked_example() -> None:
    assert verify_slack_signature(SLACK_BODY, SLACK_TS, SLACK_SIGNATURE, SLACK_SECRET)


@pytest.mark.parametrize(
    ("body", "signature", "secret"),
    [
        (SLACK_BODY + b"&x=1", SLACK_SIGNATURE, SLACK_SECRET),
        (SLACK_BODY, SLACK_SIGNATURE, SLACK_SECRET + "x"),
        (SLACK_BODY, SLACK_SIGNATURE.replace("v0=", "v1="), SLACK_SECRET),
        (SLACK_BODY, "v0=é", SLACK_SECRET),
        (SLACK_BODY, SLACK_SIGNATURE, ""),
        (SLACK_BODY, SLACK_SIGNATURE, None),
    ],
)
def test_slack_signature_rejected(body: bytes, signature: str, secret: str | None) -> None:
    assert not verify_slack_signature(body, SLACK_TS, signature, secret)


@pytest.mark.parametrize(
    ("timestamp", "signature", "status"),
    [
        (None, SLACK_SIGNATURE, 401),
        (SLACK_TS, None, 401),
        ("", "", 401),
        ("1531420618.5", SLACK_SIGNATURE, 400),
        ("1_531_420_618", SLACK_SIGNATURE, 400),
        ("-1531420618", SLACK_SIGNATURE, 400),
        ("١٥٣١٤٢٠٦١٨", SLACK_SIGNATURE, 400),  # digits, but not ASCII ones
        ("1531420000", SLACK_SIGNATURE, 401),  # more than five minutes before now
    ],
)
def test_slack_headers_refused(timestamp: str | None, signature: str | None, status: int) -> None:
    with pytest.raises(RequestRefused) as err:
        check_slack_headers(timestamp, signature, now=1531420618 + 60)
    assert err.value.status == status and "\n" not in err.value.reason


def test_slack_headers_accepted_within_five_minutes() -> None:
    check_slack_headers(SLACK_TS, SLACK_SIGNATURE, now=1531420618 + 299)
    check_slack_headers(SLACK_TS, SLACK_SIGNATURE, now=1531420618 - 299)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100), st.text(max_size=20), st.text(max_size=80), st.text(max_size=10))
def test_slack_checks_raise_only_refusals(body: bytes, timestamp: str, signature: str, secret: str) -> None:
    with contextlib.suppress(RequestRefused):
        check_slack_headers(timestamp, signature)
    assert verify_slack_signature(body, timestamp, signature, secret) in (True, False)


# -- PagerDuty ---------------------------------------------------------------------------------------------------

BODY = b'{"event":{"id":"5ac64822","event_type":"incident.triggered","data":{"id":"PGR0VU2"}}}'


def _pd_sig(secret: str, body: bytes = BODY) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_pagerduty_signature_valid() -> None:
    assert verify_pagerduty_signature(BODY, _pd_sig("s3cret"), ["s3cret"])


def test_pagerduty_signature_during_rotation() -> None:
    header = f"{_pd_sig('old')}, {_pd_sig('new')}"
    assert verify_pagerduty_signature(BODY, header, ["new"])
    assert verify_pagerduty_signature(BODY, header, ["old"])
    assert verify_pagerduty_signature(BODY, _pd_sig("new"), ["old", "new"])


@pytest.mark.parametrize(
    ("body", "header", "secrets"),
    [
        (BODY, _pd_sig("other"), ["s3cret"]),
        (BODY + b" ", _pd_sig("s3cret"), ["s3cret"]),  # raw bytes, not re-serialised JSON
        (BODY, None, ["s3cret"]),
        (BODY, "", ["s3cret"]),
        (BODY, _pd_sig("s3cret"), []),
        (BODY, _pd_sig("s3cret"), [""]),
        (BODY, _pd_sig("s3cret").replace("v1=", "v0="), ["s3cret"]),
        (BODY, "v1=", ["s3cret"]),
        (BODY, "garbage", ["s3cret"]),
    ],
)
def test_pagerduty_signature_rejected(body: bytes, header: str | None, secrets: list[str]) -> None:
    assert not verify_pagerduty_signature(body, header, secrets)


def test_pagerduty_signature_with_non_ascii_is_false_not_an_error() -> None:
    assert not verify_pagerduty_signature(BODY, "v1=é", ["s3cret"])


def test_pagerduty_secrets_setting() -> None:
    assert pagerduty_secrets(" old , new ,") == ["old", "new"]
    assert pagerduty_secrets(None) == pagerduty_secrets("") == []


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.one_of(st.none(), st.text(max_size=200)), st.lists(st.text(max_size=20)))
def test_pagerduty_signature_never_raises(body: bytes, header: str | None, secrets: list[str]) -> None:
    assert verify_pagerduty_signature(body, header, secrets) in (True, False)


# -- SNS ---------------------------------------------------------------------------------------------------------

TOPIC = "arn:aws:sns:us-east-1:123456789012:cloudwatch-alarms"
NOW = datetime(2026, 3, 2, 14, 5, 0, tzinfo=UTC)


class _Identity:
    """A signing key and self-signed certificate, like SNS's but ours."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.us-east-1.amazonaws.com")])
        self.cert_pem = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=30))
            .not_valid_after(NOW + timedelta(days=365))
            .sign(self.key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
        )

    def sign(self, message: dict[str, Any], version: str = "2") -> dict[str, Any]:
        algo = hashes.SHA1() if version == "1" else hashes.SHA256()
        out = dict(message, SignatureVersion=version)
        sig = self.key.sign(sns_string_to_sign(out), padding.PKCS1v15(), algo)
        out["Signature"] = base64.b64encode(sig).decode()
        return out


class _CertServer:
    """Serves PEMs on 127.0.0.1, port 0, and counts the GETs."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: list[str] = []
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits.append(self.path)
                time.sleep(outer.delay)
                body = outer.files.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def identity() -> _Identity:
    return _Identity()


@pytest.fixture(scope="module")
def _cert_server(identity: _Identity) -> Iterator[_CertServer]:
    server = _CertServer()
    yield server
    server.close()


@pytest.fixture
def cert_server(_cert_server: _CertServer, identity: _Identity) -> _CertServer:
    """The loopback cert server, serving only our PEM, with an empty record of GETs."""
    _cert_server.files.clear()
    _cert_server.files["/SimpleNotificationService-test.pem"] = identity.cert_pem
    _cert_server.hits.clear()
    _cert_server.delay = 0.0
    return _cert_server


@pytest.fixture
def verifier(cert_server: _CertServer) -> SnsVerifier:
    return SnsVerifier(
        cert_url_allowed=lambda url: url.startswith(cert_server.base_url + "/"),
        topic_allowlist=[TOPIC],
        clock=lambda: NOW,
    )


def _alarm_message(cert_url: str, **overrides: Any) -> dict[str, Any]:
    message = {
        "Type": "Notification",
        "MessageId": "b1946ac9-2d0e-5b7a-8f3e-2a1b0e1f8c11",
        "TopicArn": TOPIC,
        "Subject": 'ALARM: "checkout-5xx" in US East (N. Virginia)',
        "Message": json.dumps({"AlarmName": "checkout-5xx", "NewStateValue": "ALARM"}),
        "Timestamp": "2026-03-02T14:02:11.482Z",
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
    }
    message.update(overrides)
    return message


@pytest.fixture
def cert_url(cert_server: _CertServer) -> str:
    return cert_server.base_url + "/SimpleNotificationService-test.pem"


@pytest.mark.parametrize("version", ["1", "2"])
def test_valid_notification(version: str, identity: _Identity, verifier: SnsVerifier, cert_url: str) -> None:
    verifier.verify(identity.sign(_alarm_message(cert_url), version))


def test_notification_without_subject(identity: _Identity, verifier: SnsVerifier, cert_url: str) -> None:
    message = _alarm_message(cert_url)
    del message["Subject"]
    verifier.verify(identity.sign(message))


def test_canonical_string_is_exactly_as_documented(cert_url: str) -> None:
    message = _alarm_message(cert_url)
    expected = (
        f"Message\n{message['Message']}\nMessageId\n{message['MessageId']}\nSubject\n{message['Subject']}\n"
        f"Timestamp\n{message['Timestamp']}\nTopicArn\n{TOPIC}\nType\nNotification\n"
    )
    assert sns_string_to_sign(message) == expected.encode()
    confirm = {
        "Type": "SubscriptionConfirmation", "MessageId": "m", "Token": "t", "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe", "SubscribeURL": "https://sns/confirm", "Timestamp": "ts",
    }  # fmt: skip
    assert sns_string_to_sign(confirm) == (
        b"Message\nYou have chosen to subscribe\nMessageId\nm\nSubscribeURL\nhttps://sns/confirm\n"
        b"Timestamp\nts\nToken\nt\nTopicArn\n" + TOPIC.encode() + b"\nType\nSubscriptionConfirmation\n"
    )


@pytest.mark.parametrize("mtype", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_valid_confirmation(mtype: str, identity: _Identity, verifier: SnsVerifier, cert_url: str) -> None:
    message = {
        "Type": mtype,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
        "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=2336",
        "Timestamp": "2026-03-02T14:00:00.000Z",
        "SigningCertURL": cert_url,
    }
    verifier.verify(identity.sign(message))


def _reason(verifier: SnsVerifier, message: dict[str, Any]) -> str:
    with pytest.raises(SnsVerificationError) as err:
        verifier.verify(message)
    return err.value.reason


def test_forged_signature(identity: _Identity, verifier: SnsVerifier, cert_url: str) -> None:
    other = _Identity()
    assert "signature does not match" in _reason(verifier, other.sign(_alarm_message(cert_url)))


def test_tampered_subject(identity: _Identity, verifier: SnsVerifier, cert_url: str) -> None:
    message = identity.sign(_alarm_message(cert_url))
    message["Subject"] = 'OK: "checkout-5xx" in US East (N. Virginia)'
    assert "signature does not match" in _reason(verifier, message)


def test_subject_removed_after_signing(identity: _Identity, verifier: SnsVerifier, cert_url: str) -> None:
    message = identity.sign(_alarm_message(cert_url))
    del message["Subject"]
    assert "signature does not match" in _reason(verifier, message)


def test_tampered_message(identity: _Identity, verifier: SnsVerifier, cert_url: str) -> None:
    message = identity.sign(_alarm_message(cert_url))
    message["Message"] = message["Message"].replace("ALARM", "OK")
    assert "signature does not match" in _reason(verifier, message)


def test_signature_version_swapped(identity: _Identity, verifier: SnsVerifier, cert_url: str) -> None:
    message = identity.sign(_alarm_message(cert_url), "1")
    message["SignatureVersion"] = "2"
    assert "signature does not match" in _reason(verifier, message)


def test_wrong_topic(identity: _Identity, verifier: SnsVerifier, cert_url: str) -> None:
    other = "arn:aws:sns:us-east-1:999999999999:someone-elses-topic"
    message = identity.sign(_alarm_message(cert_url, TopicArn=other))
    assert "not in the allow-list" in _reason(verifier, message)


def test_empty_allowlist_allows_nothing(identity: _Identity, cert_server: _CertServer, cert_url: str) -> None:
    verifier = SnsVerifier(lambda url: True, topic_allowlist=[], clock=lambda: NOW)
    assert "allow-list" in _reason(verifier, identity.sign(_alarm_message(cert_url)))


def test_stale_timestamp(identity: _Identity, verifier: SnsVerifier, cert_url: str) -> None:
    message = identity.sign(_alarm_message(cert_url, Timestamp="2026-03-02T12:59:59.000Z"))
    assert "stale" in _reason(verifier, message)


def test_future_timestamp(identity: _Identity, verifier: SnsVerifier, cert_url: str) -> None:
    message = identity.sign(_alarm_message(cert_url, Timestamp="2026-03-02T15:00:00.000Z"))
    assert "future" in _reason(verifier, message)


def test_disallowed_cert_host_is_never_fetched(identity: _Identity, cert_server: _CertServer) -> None:
    production = SnsVerifier(topic_allowlist=[TOPIC], clock=lambda: NOW)  # default AWS host policy
    url = cert_server.base_url + "/SimpleNotificationService-test.pem"
    assert "not an allowed SNS host" in _reason(production, identity.sign(_alarm_message(url)))
    assert cert_server.hits == []


@pytest.mark.parametrize(
    "change",
    [
        {"TopicArn": "arn:aws:sns:us-east-1:999999999999:someone-elses-topic"},
        {"Type": "Whatever"},
        {"SignatureVersion": "3"},
        {"Timestamp": "2026-03-02T12:59:59.000Z"},
        {"Timestamp": "2026-03-02T15:00:00.000Z"},
        {"Signature": "***not base64***"},
        {"MessageId": None},
    ],
)
def test_no_certificate_is_fetched_before_every_cheap_check_passes(
    change: dict[str, Any],
    identity: _Identity,
    verifier: SnsVerifier,
    cert_server: _CertServer,
    cert_url: str,
) -> None:
    message = identity.sign(_alarm_message(cert_url))
    for key, value in change.items():
        if value is None:
            message.pop(key)
        else:
            message[key] = value
    _reason(verifier, message)
    assert cert_server.hits == []


def test_concurrent_messages_share_one_certificate_fetch(
    identity: _Identity, verifier: SnsVerifier, cert_server: _CertServer, cert_url: str
) -> None:
    message = identity.sign(_alarm_message(cert_url))
    errors: list[Exception] = []

    def verify() -> None:
        try:
            verifier.verify(message)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=verify) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == [] and cert_server.hits == ["/SimpleNotificationService-test.pem"]


def test_a_certificate_larger_than_a_certificate_is_refused(
    identity: _Identity, verifier: SnsVerifier, cert_server: _CertServer
) -> None:
    cert_server.files["/huge.pem"] = b"-" * (MAX_CERT_BYTES + 1)
    message = identity.sign(_alarm_message(cert_server.base_url + "/huge.pem"))
    assert f"more than {MAX_CERT_BYTES} bytes" in _reason(verifier, message)


def test_a_slow_certificate_is_waited_for_only_briefly_and_then_cached(
    identity: _Identity, cert_server: _CertServer, cert_url: str
) -> None:
    cert_server.delay = 1.5
    verifier = SnsVerifier(lambda url: True, topic_allowlist=[TOPIC], clock=lambda: NOW, fetch_wait_s=0.2)
    message = identity.sign(_alarm_message(cert_url))
    started = time.monotonic()
    assert "not fetched within 0.2 s" in _reason(verifier, message)
    assert time.monotonic() - started < 1.0
    time.sleep(2.0)
    verifier.verify(message)  # the fetch finished on its own thread: the retry finds it cached
    assert cert_server.hits == ["/SimpleNotificationService-test.pem"]


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", True),
        ("http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", False),
        ("https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-abc.pem", False),
        ("https://evil.example/sns.us-east-1.amazonaws.com/x.pem", False),
        ("https://sns.us-east-1.amazonaws.com@evil.example/x.pem", False),
        ("https://user:pw@sns.us-east-1.amazonaws.com/x.pem", False),
        ("https://sns.us-east-1.amazonaws.com:8443/x.pem", False),
        ("https://sns.us-east-1.amazonaws.com/not-a-cert", False),
        ("https://s3.amazonaws.com/x.pem", False),
        ("https://sns.us-east-1.amazonaws.com:bad/x.pem", False),
    ],
)
def test_production_host_policy(url: str, ok: bool) -> None:
    assert host_policy()(url) is ok


def test_certificate_is_cached_per_url(
    identity: _Identity, verifier: SnsVerifier, cert_server: _CertServer, cert_url: str
) -> None:
    for _ in range(3):
        verifier.verify(identity.sign(_alarm_message(cert_url)))
    assert cert_server.hits == ["/SimpleNotificationService-test.pem"]


def test_certificate_fetch_failure(
    identity: _Identity, verifier: SnsVerifier, cert_server: _CertServer
) -> None:
    message = identity.sign(_alarm_message(cert_server.base_url + "/missing.pem"))
    assert "could not fetch signing certificate" in _reason(verifier, message)


def test_certificate_not_pem(identity: _Identity, verifier: SnsVerifier, cert_server: _CertServer) -> None:
    cert_server.files["/junk.pem"] = b"<html>not a cert</html>"
    message = identity.sign(_alarm_message(cert_server.base_url + "/junk.pem"))
    assert "not a PEM certificate" in _reason(verifier, message)


def test_expired_certificate(identity: _Identity, cert_server: _CertServer, cert_url: str) -> None:
    later = NOW + timedelta(days=400)
    verifier = SnsVerifier(lambda url: True, topic_allowlist=[TOPIC], clock=lambda: later)
    message = identity.sign(_alarm_message(cert_url, Timestamp=later.strftime("%Y-%m-%dT%H:%M:%S.000Z")))
    assert "validity period" in _reason(verifier, message)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Type": "Whatever"}, "unknown message Type"),
        ({"SignatureVersion": "3"}, "unsupported SignatureVersion"),
        ({"Signature": "***not base64***"}, "not valid base64"),
        ({"Signature": None}, "missing Signature"),
        ({"SigningCertURL": None}, "missing SigningCertURL"),
        ({"Timestamp": "yesterday"}, "unreadable Timestamp"),
        ({"MessageId": None}, "missing field MessageId"),
        ({"Message": 42}, "not a string"),
        ({"TopicArn": None}, "missing TopicArn"),
    ],
)
def test_malformed_messages(
    change: dict[str, Any], reason: str, identity: _Identity, verifier: SnsVerifier, cert_url: str
) -> None:
    message = identity.sign(_alarm_message(cert_url))
    for key, value in change.items():
        if value is None:
            message.pop(key, None)
        else:
            message[key] = value
    assert reason in _reason(verifier, message)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
_KEYS = st.sampled_from(
    ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion", "Signature",
     "SigningCertURL", "Token", "SubscribeURL"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_KEYS, _JSON, max_size=11))
def test_verify_raises_only_verification_errors(message: dict[str, Any]) -> None:
    verifier = SnsVerifier(
        lambda url: True, fetch_cert=lambda url: b"", topic_allowlist=[TOPIC], clock=lambda: NOW
    )
    with contextlib.suppress(SnsVerificationError):
        verifier.verify(message)


def test_interop_with_sandbox_signer() -> None:
    """The sandbox's SNS sender and this verifier agree on the wire format."""
    pages = pytest.importorskip("bot.sandbox.pages")
    signing = pytest.importorskip("bot.sandbox.signing")
    with signing.SnsSigner() as signer:
        notice = pages.AlarmNotice(
            alarm_name="checkout-5xx",
            metric_name="HTTPCode_Target_5XX_Count",
            namespace="AWS/ApplicationELB",
            state_change_time=datetime.now(UTC) - timedelta(minutes=1),
        )
        body, _headers = pages.sns_alarm_notification(notice, TOPIC, signer)
        message = json.loads(body)
        verifier = SnsVerifier(lambda url: url == signer.cert_url, topic_allowlist=[TOPIC])
        verifier.verify(message)
        tampered = copy.deepcopy(message)
        tampered["Subject"] += "!"
        with pytest.raises(SnsVerificationError):
            verifier.verify(tampered)


def test_a_timestamp_padded_with_other_whitespace_is_refused_as_malformed() -> None:
    from bot.slack.verify import RequestRefused, check_slack_headers

    with pytest.raises(RequestRefused) as refused:
        check_slack_headers("0\x1f", "v0=0")
    assert refused.value.status == 400

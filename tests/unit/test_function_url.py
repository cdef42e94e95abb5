"""SMN deliveries over HTTPS through the Lambda edge (a Function URL event), end to end against
the in-memory SDRS API: verified first, then confirmed, acknowledged or acted on.

The Function URL envelope is Powertools' tests/events/lambdaFunctionUrlEvent.json
(tests/data/aws-events/lambda-function-url.json); only the method, SMN's headers and the body
are ours. Deliveries are signed by this file's own SMN signer (written from the documented
algorithm in docs/triggers.md, not with handler.smn), with a key and certificate made here.
"""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from handler.app import lambda_handler
from handler.core import Runtime
from tests.fake_sdrs import GROUP_WITH_FAILURES, PROJECT_ID, FakeSdrs

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_URL_EVENT = json.loads((ROOT / "tests" / "data" / "aws-events" / "lambda-function-url.json").read_text())
TOPIC = "urn:smn:cn-north-4:0123456789abcdef0123456789abcdef:sdrs-alerts"
CERT_URL = "https://smn.cn-north-4.myhuaweicloud.com/smn/SMN_cn-north-4_" + "a" * 32 + ".pem"
SUBSCRIBE_URL = "https://console.huaweicloud.com/smn/subscription/confirm?token=abc"
G = GROUP_WITH_FAILURES


def _identity() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test SMN")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM).decode()


KEY, CERT_PEM = _identity()
OTHER_KEY, _ = _identity()


def to_sign(body: dict[str, Any]) -> bytes:
    """SMN's string to sign, from its documentation: `key\\nvalue\\n` in a fixed order."""
    if body["type"] == "Notification":
        keys = ["message", "message_id", "subject", "timestamp", "topic_urn", "type"]
    else:
        keys = ["message", "message_id", "subscribe_url", "timestamp", "topic_urn", "type"]
    return "".join(f"{k}\n{body[k]}\n" for k in keys if not (k == "subject" and not body.get(k))).encode()


def delivery(
    kind: str = "Notification", message: str | dict[str, Any] = "", key: rsa.RSAPrivateKey = KEY, **changes: Any
) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body: dict[str, Any] = {
        "type": kind,
        "topic_urn": TOPIC,
        "message_id": "a516b1a2c3d4e5f60718293a4b5c6d7e",
        "message": message if isinstance(message, str) else json.dumps(message),
        "timestamp": now,
        "signature_version": "v1",
        "signing_cert_url": CERT_URL,
    }
    if kind == "Notification":
        body["subject"] = "SDRS replication failed"
    else:
        body["subscribe_url"] = SUBSCRIBE_URL
    body.update({k: v for k, v in changes.items() if not k.startswith("after_")})
    body["signature"] = base64.b64encode(key.sign(to_sign(body), padding.PKCS1v15(), hashes.SHA256())).decode()
    body.update({k.removeprefix("after_"): v for k, v in changes.items() if k.startswith("after_")})
    return body


def http_event(body: dict[str, Any] | str, method: str = "POST", base64_body: bool = False) -> dict[str, Any]:
    event = json.loads(json.dumps(FUNCTION_URL_EVENT))
    event["requestContext"]["http"]["method"] = method
    text = body if isinstance(body, str) else json.dumps(body)
    event["body"] = base64.b64encode(text.encode()).decode() if base64_body else text
    event["isBase64Encoded"] = base64_body
    if isinstance(body, dict):
        event["headers"].update(
            {"x-smn-message-type": body.get("type", ""), "x-smn-topic-urn": body.get("topic_urn", "")}
        )
    return event


@pytest.fixture
def env(sdrs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("SDRS_SMN_TOPIC_URNS", TOPIC)
    monkeypatch.setenv("SDRS_SMN_SIGNING_CERTS", CERT_PEM)  # pinned: no download
    return monkeypatch


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("base64_body", [False, True], ids=["text", "base64"])
def test_a_signed_notification_cleans_the_group(
    base64_body: bool, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    event = http_event(delivery(message={"server_group_id": G}), base64_body=base64_body)
    status, body = answer(lambda_handler(event, lambda_context))
    assert status == 200, body
    assert [(g["server_group_id"], g["outcome"]) for g in body["groups"]] == [(G, "deleted")]
    assert [r.server_group_id for r in fake_sdrs.calls("DELETE")] == [G]
    assert fake_sdrs.failure_jobs(PROJECT_ID, G) == []


@pytest.mark.parametrize(
    ("event", "status", "fragment"),
    [
        pytest.param(lambda: http_event(delivery(message={"server_group_id": G}), method="GET"), 405, "POST", id="get"),
        pytest.param(lambda: http_event("not json"), 400, "not JSON", id="not-json"),
        pytest.param(lambda: http_event("[1, 2]"), 400, "object", id="not-an-object"),
        pytest.param(lambda: http_event("x" * 300_000), 413, "bytes", id="huge"),
        pytest.param(
            lambda: {**http_event("{}"), "body": "%%%", "isBase64Encoded": True}, 400, "base64", id="bad-base64"
        ),
        pytest.param(
            lambda: http_event(delivery(message={"server_group_id": G}, key=OTHER_KEY)), 403, "", id="other-key"
        ),
        pytest.param(
            lambda: http_event(delivery(message={"server_group_id": G}, after_message='{"server_group_id": "x"}')),
            403,
            "",
            id="changed-message",
        ),
        pytest.param(
            lambda: http_event(delivery(message={"server_group_id": G}, after_signature="")), 403, "", id="no-signature"
        ),
        pytest.param(
            lambda: http_event(delivery(message={"server_group_id": G}, topic_urn=TOPIC + "-other")),
            403,
            "",
            id="unlisted-topic",
        ),
        pytest.param(
            lambda: http_event(
                delivery(message={"server_group_id": G}, signing_cert_url="https://smn.example.com/a.pem")
            ),
            403,
            "",
            id="cert-host",
        ),
        pytest.param(
            lambda: http_event(delivery(message={"server_group_id": G}, timestamp="2020-01-01T00:00:00Z")),
            403,
            "",
            id="old",
        ),
        pytest.param(lambda: http_event(delivery("Surprise", message={"server_group_id": G})), 400, "type", id="type"),
    ],
)
def test_hostile_deliveries_are_refused_before_any_request(
    event: Any, status: int, fragment: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    got, body = answer(lambda_handler(event(), lambda_context))
    assert (got, body["accepted"]) == (status, False), body
    assert fragment in body["reason"]
    assert fake_sdrs.requests == []


def test_no_topic_configured_refuses_every_delivery(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    env.delenv("SDRS_SMN_TOPIC_URNS")
    status, _ = answer(lambda_handler(http_event(delivery(message={"server_group_id": G})), lambda_context))
    assert status == 403
    assert fake_sdrs.requests == []


def test_a_subscription_is_confirmed_on_huawei_clouds_host_only(
    env: pytest.MonkeyPatch, sdrs_api: respx.Router, lambda_context: Any
) -> None:
    confirm = sdrs_api.get(SUBSCRIBE_URL).mock(return_value=httpx.Response(200, json={"subscription_urn": "u"}))
    status, body = answer(lambda_handler(http_event(delivery("SubscriptionConfirmation")), lambda_context))
    assert (status, body["confirmed"]) == (200, True)
    assert confirm.call_count == 1
    # Elsewhere: never fetched (the router lets no unmocked request out).
    elsewhere = delivery("SubscriptionConfirmation", subscribe_url="https://console.huaweicloud.com.evil.example/x")
    status, body = answer(lambda_handler(http_event(elsewhere), lambda_context))
    assert status == 403
    assert confirm.call_count == 1


def test_a_confirmation_that_redirects_is_not_followed(
    env: pytest.MonkeyPatch, sdrs_api: respx.Router, lambda_context: Any
) -> None:
    sdrs_api.get(SUBSCRIBE_URL).mock(return_value=httpx.Response(302, headers={"Location": "https://evil.example/"}))
    status, _ = answer(lambda_handler(http_event(delivery("SubscriptionConfirmation")), lambda_context))
    assert status == 502


def test_an_unsubscription_is_acknowledged_and_nothing_else(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    status, body = answer(lambda_handler(http_event(delivery("UnsubscribeConfirmation")), lambda_context))
    assert (status, body["accepted"]) == (200, True)
    assert fake_sdrs.requests == []


def test_a_cleanup_a_redelivery_can_fix_answers_503(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any, runtime: Runtime
) -> None:
    env.setenv("SDRS_MAX_ATTEMPTS", "2")
    fake_sdrs.fail("DELETE", 503)
    response = lambda_handler(http_event(delivery(message={"server_group_id": G})), lambda_context, runtime=runtime)
    status, body = answer(response)
    assert status == 503
    assert body["groups"][0]["outcome"] == "failed"


def test_a_verified_invalid_request_answers_400(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    event = http_event(delivery(message={"server_group_id": "../../failure-jobs/batch"}))
    status, body = answer(lambda_handler(event, lambda_context))
    assert (status, body["error"]["type"]) == (400, "invalid_event")
    assert fake_sdrs.requests == []


def test_other_triggers_never_import_the_x509_code() -> None:
    code = (
        "import sys, handler.app; "
        "print('cryptography' in sys.modules, 'handler.smn' in sys.modules, 'handler.function_url' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert run.stdout.split() == ["False", "False", "False"]


def test_a_verified_message_asking_for_nothing_is_acknowledged_with_the_reason(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    """An alarm about another service's resource, even with a UUID for an id: 2xx (so SMN stops
    redelivering), the reason said, no request."""
    alarm = {
        "version": "v1",
        "data": {"Namespace": "SYS.ECS", "DimensionName": "instance_id", "ResourceId": G, "IsAlarm": True},
    }
    status, body = answer(lambda_handler(http_event(delivery(message=alarm)), lambda_context))
    assert (status, body["ok"], body["groups"]) == (200, True, [])
    assert "not an SDRS protection group" in body["note"]
    assert fake_sdrs.requests == []


def test_a_cloud_eye_alarm_about_a_protection_group_cleans_it(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    alarm = {
        "version": "v1",
        "data": {"Namespace": "CUSTOM.SDRS", "DimensionName": "server_group_id", "ResourceId": G, "IsAlarm": True},
    }
    status, body = answer(lambda_handler(http_event(delivery(message=alarm)), lambda_context))
    assert status == 200, body
    assert [(g["server_group_id"], g["outcome"]) for g in body["groups"]] == [(G, "deleted")]
    recovery = {**alarm, "data": {**alarm["data"], "IsAlarm": False}}
    status, body = answer(lambda_handler(http_event(delivery(message=recovery)), lambda_context))
    assert (status, body["groups"]) == (200, [])
    assert "recovery" in body["note"]
    assert len(fake_sdrs.calls("DELETE")) == 1

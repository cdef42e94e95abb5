"""SMN HTTP(S) deliveries: the string to sign, the URL checks, the fetcher and verify_delivery.

The deliveries are signed here with a key and self-signed certificate made for the test, over a
string to sign written from Huawei's description (not by calling handler.smn.string_to_sign)."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from handler.settings import load_settings
from handler.smn import (
    CertificateFetcher,
    SmnConfig,
    SmnMessage,
    SmnRefused,
    allowed_certificate_url,
    allowed_subscribe_url,
    string_to_sign,
    verify_delivery,
)

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "urn:smn:cn-north-4:0123456789abcdef0123456789abcdef:sdrs-alarms"
CERT_URL = "https://smn.cn-north-4.myhuaweicloud.com/smn/SMN_cn-north-4_0123456789abcdef0123456789abcdef.pem"
SUBSCRIBE_URL = "https://console.huaweicloud.com/smn/subscription/confirm?token=abc123&topic_urn=urn%3Asmn%3Acn-north-4"
SENT = "2018-01-09T07:11:40Z"
SENT_AT = datetime(2018, 1, 9, 7, 11, 40, tzinfo=UTC).timestamp()


def make_identity(name: str = "smn-test") -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime(2017, 1, 1, tzinfo=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650 * 3))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


KEY, PEM = make_identity()
OTHER_KEY, OTHER_PEM = make_identity("another")


def expected_string(body: dict[str, Any]) -> bytes:
    """Huawei's description, independently: key\\nvalue\\n lines in a fixed order."""
    if body["type"] == "Notification":
        order = ["message", "message_id", "subject", "timestamp", "topic_urn", "type"]
    else:
        order = ["message", "message_id", "subscribe_url", "timestamp", "topic_urn", "type"]
    text = ""
    for key in order:
        if key == "subject" and not body.get("subject"):
            continue
        text += key + "\n" + str(body.get(key, "")) + "\n"  # hostile bodies are signed too
    return text.encode()


def sign(body: dict[str, Any], key: rsa.RSAPrivateKey = KEY) -> dict[str, Any]:
    signature = key.sign(expected_string(body), padding.PKCS1v15(), hashes.SHA256())
    return {**body, "signature": base64.b64encode(signature).decode()}


def notification(**changes: Any) -> dict[str, Any]:
    body = {
        "type": "Notification",
        "signature_version": "v1",
        "topic_urn": TOPIC,
        "message_id": "a51671f77d4a479cacb09e2cd591a983",
        "message": '{"message_type":"alarm","alarm_name":"a\\u003eb"}',
        "subject": "alarm",
        "timestamp": SENT,
        "signing_cert_url": CERT_URL,
        "unsubscribe_url": "https://console.huaweicloud.com/smn/subscription/unsubscribe?urn=x",
        **changes,
    }
    return {key: value for key, value in body.items() if value is not None}


def confirmation(kind: str = "SubscriptionConfirmation", **changes: Any) -> dict[str, Any]:
    body = {
        "type": kind,
        "signature_version": "v1",
        "topic_urn": TOPIC,
        "message_id": "b51671f77d4a479cacb09e2cd591a983",
        "message": "You are invited to subscribe to topic: " + TOPIC,
        "subscribe_url": SUBSCRIBE_URL,
        "timestamp": SENT,
        "signing_cert_url": CERT_URL,
        **changes,
    }
    return {key: value for key, value in body.items() if value is not None}


class Fetches:
    def __init__(self, pem: str = PEM) -> None:
        self.pem, self.urls = pem, list[str]()

    def __call__(self, url: str) -> str:
        self.urls.append(url)
        return self.pem


CONFIG = SmnConfig(frozenset({TOPIC}), None, 900)


def at(seconds_after: float = 60) -> Callable[[], float]:
    return lambda: SENT_AT + seconds_after


def refused(body: dict[str, Any], config: SmnConfig = CONFIG, fetch: Fetches | None = None) -> SmnRefused:
    with pytest.raises(SmnRefused) as caught:
        verify_delivery(body, config, fetch or Fetches(), at())
    return caught.value


# --- the string to sign -------------------------------------------------------------------------


def test_the_notification_string_to_sign_field_by_field() -> None:
    body = notification(message="m", message_id="i", subject="s", timestamp="t", topic_urn="u")
    assert (
        string_to_sign(body)
        == b"message\nm\nmessage_id\ni\nsubject\ns\ntimestamp\nt\ntopic_urn\nu\ntype\nNotification\n"
    )
    for absent in (notification(message="m", message_id="i", subject=None), notification(subject="")):
        text = string_to_sign(absent)
        assert b"subject" not in text
        assert text == expected_string(absent)
    assert string_to_sign(notification(message="m", message_id="i", subject=None, timestamp="t", topic_urn="u")) == (
        b"message\nm\nmessage_id\ni\ntimestamp\nt\ntopic_urn\nu\ntype\nNotification\n"
    )


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
@pytest.mark.parametrize("subject", [None, "ignored"])
def test_the_subscription_strings_to_sign_field_by_field(kind: str, subject: str | None) -> None:
    body = confirmation(kind, message="m", message_id="i", subscribe_url="s", timestamp="t", topic_urn="u")
    if subject:
        body["subject"] = subject  # never signed for these types
    assert string_to_sign(body) == (
        f"message\nm\nmessage_id\ni\nsubscribe_url\ns\ntimestamp\nt\ntopic_urn\nu\ntype\n{kind}\n".encode()
    )


def test_the_values_are_taken_exactly_as_received() -> None:
    body = notification(message='{"a":"\\u003e"}', subject="日本")
    assert b"\\u003e" in string_to_sign(body)
    assert string_to_sign(body) == expected_string(body)


def test_string_to_sign_refuses_an_unknown_type_or_a_missing_field() -> None:
    with pytest.raises(SmnRefused) as caught:
        string_to_sign(notification(type="Other"))
    assert caught.value.status == 400
    with pytest.raises(SmnRefused):
        string_to_sign(confirmation(subscribe_url=None))


# --- accepted -----------------------------------------------------------------------------------


def test_a_signed_notification_is_accepted() -> None:
    fetch, body = Fetches(), sign(notification())
    message = verify_delivery(body, CONFIG, fetch, at())
    assert message == SmnMessage(
        type="Notification",
        topic_urn=TOPIC,
        message_id=body["message_id"],
        message=body["message"],
        subject="alarm",
        timestamp=SENT,
        subscribe_url=None,
    )
    assert fetch.urls == [CERT_URL]


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_signed_subscription_messages_are_accepted(kind: str) -> None:
    message = verify_delivery(sign(confirmation(kind)), CONFIG, Fetches(), at())
    assert (message.type, message.subscribe_url, message.subject) == (kind, SUBSCRIBE_URL, None)


def test_a_notification_without_subject_is_accepted() -> None:
    assert verify_delivery(sign(notification(subject=None)), CONFIG, Fetches(), at()).subject is None
    assert verify_delivery(sign(notification(subject="")), CONFIG, Fetches(), at()).subject is None


def test_the_special_regions_and_several_topics() -> None:
    config = SmnConfig(frozenset({TOPIC, "urn:smn:eu-west-101:x:t"}), None, 900)
    for url in (
        "https://smn.eu-west-101.myhuaweicloud.eu/smn/SMN_eu-west-101_0123.pem",
        "https://smn.cn-north-2.myhuaweicloud.cn/smn/SMN_cn-north-2_0123.pem",
    ):
        body = sign(notification(topic_urn="urn:smn:eu-west-101:x:t", signing_cert_url=url))
        assert verify_delivery(body, config, Fetches(), at()).topic_urn == "urn:smn:eu-west-101:x:t"


# --- refused, and nothing fetched ---------------------------------------------------------------


SIGNED_NOTIFICATION_FIELDS = ["message", "message_id", "subject", "timestamp", "topic_urn", "type"]


@pytest.mark.parametrize("key", SIGNED_NOTIFICATION_FIELDS)
def test_a_changed_character_in_a_signed_notification_field_is_refused(key: str) -> None:
    body = sign(notification())
    config = SmnConfig(frozenset({TOPIC, TOPIC[:-1] + "X"}), None, 900)
    changed = {
        "message": body["message"][:-1] + "X",
        "message_id": body["message_id"][:-1] + "b",
        "subject": "alarX",
        "timestamp": "2018-01-09T07:11:41Z",
        "topic_urn": TOPIC[:-1] + "X",
        "type": "SubscriptionConfirmation",
    }[key]
    body[key] = changed
    if key == "type":
        body["subscribe_url"] = SUBSCRIBE_URL
    with pytest.raises(SmnRefused) as caught:
        verify_delivery(body, config, Fetches(), at())
    assert (caught.value.status, caught.value.reason) == (403, "signature does not verify")


@pytest.mark.parametrize("key", ["message", "message_id", "subscribe_url", "timestamp", "topic_urn", "type"])
def test_a_changed_character_in_a_signed_subscription_field_is_refused(key: str) -> None:
    body = sign(confirmation())
    config = SmnConfig(frozenset({TOPIC, TOPIC[:-1] + "X"}), None, 900)
    body[key] = {
        "message": body["message"] + ".",
        "message_id": body["message_id"][:-1] + "b",
        "subscribe_url": SUBSCRIBE_URL + "X",
        "timestamp": "2018-01-09T07:11:41Z",
        "topic_urn": TOPIC[:-1] + "X",
        "type": "UnsubscribeConfirmation",
    }[key]
    assert refused(body, config).reason == "signature does not verify"


def test_a_removed_subject_breaks_the_signature() -> None:
    body = sign(notification())
    del body["subject"]
    assert refused(body).reason == "signature does not verify"


def test_a_signature_of_another_message_is_refused() -> None:
    body = notification()
    body["signature"] = sign(notification(message="another"))["signature"]
    assert refused(body).reason == "signature does not verify"


def test_a_signature_by_another_key_is_refused() -> None:
    assert refused(sign(notification(), OTHER_KEY)).reason == "signature does not verify"


def test_a_message_signed_with_an_unsigned_field_changed_is_still_accepted() -> None:
    body = sign(notification())
    body["unsubscribe_url"] = "https://elsewhere.example/x"  # not signed, and not acted on
    assert verify_delivery(body, CONFIG, Fetches(), at()).message_id == body["message_id"]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (notification(), 400, "malformed delivery: signature is missing or not a string"),
        ({**sign(notification()), "signature": "***"}, 403, "signature is not base64"),
        ({**sign(notification()), "signature": ""}, 403, "signature is not base64"),
        (sign(notification(type="Other")), 400, "unknown message type"),
        (sign(notification(signature_version="v2")), 403, "unsupported signature_version"),
        (sign(notification(topic_urn=TOPIC + "-other")), 403, "topic not allowed"),
        (sign(notification(message_id=7)), 400, "malformed delivery: message_id is missing or not a string"),
        (sign(notification(subject=3)), 400, "malformed delivery: subject is not a string"),
        (sign(confirmation(subscribe_url=None)), 400, "malformed delivery: subscribe_url is missing or not a string"),
        (sign(confirmation(subscribe_url="https://evil.example/smn/confirm")), 403, "subscribe_url not allowed"),
        (sign(notification(timestamp="yesterday")), 400, "malformed delivery: timestamp is not ISO 8601"),
    ],
    ids=[
        "missing-signature",
        "signature-not-base64",
        "empty-signature",
        "unknown-type",
        "signature-v2",
        "unlisted-topic",
        "non-string-id",
        "non-string-subject",
        "no-subscribe-url",
        "foreign-subscribe-url",
        "bad-timestamp",
    ],
)
def test_hostile_deliveries_are_refused_without_a_fetch(body: dict[str, Any], status: int, reason: str) -> None:
    fetch = Fetches()
    caught = refused(body, fetch=fetch)
    assert (caught.status, caught.reason) == (status, reason)
    assert fetch.urls == []


def test_a_refusal_names_the_message_id_when_it_is_sound() -> None:
    assert refused(sign(notification(topic_urn="x"))).message_id == "a51671f77d4a479cacb09e2cd591a983"
    assert refused(sign(notification(topic_urn="x", message_id="<script>"))).message_id is None
    assert refused([]).message_id is None  # type: ignore[arg-type]


def test_an_empty_topic_configuration_refuses_everything() -> None:
    fetch = Fetches()
    caught = refused(sign(notification()), SmnConfig(frozenset(), None, 900), fetch)
    assert (caught.status, caught.reason, fetch.urls) == (403, "topic not allowed", [])
    assert SmnConfig.from_settings(load_settings({})).topic_urns == frozenset()


def test_the_config_from_settings() -> None:
    settings = load_settings(
        {
            "SDRS_SMN_TOPIC_URNS": f" {TOPIC}, urn:smn:x:y:z ,",
            "SDRS_SMN_SIGNING_CERTS": PEM,
            "SDRS_SMN_MAX_AGE_SECONDS": "0",
        }
    )
    assert SmnConfig.from_settings(settings) == SmnConfig(frozenset({TOPIC, "urn:smn:x:y:z"}), PEM.strip(), 0.0)
    assert SmnConfig.from_settings(load_settings({})).max_age_seconds == 900.0
    assert SmnConfig.from_settings(load_settings({})).pinned_pem is None


HOSTILE_CERTIFICATE_URLS = [
    "http://smn.cn-north-4.myhuaweicloud.com/smn/a.pem",
    "HTTPS://smn.cn-north-4.myhuaweicloud.com/smn/a.pem",
    "https://smn.cn-north-4.myhuaweicloud.com.attacker/smn/a.pem",
    "https://smn.cn-north-4.myhuaweicloud.com.attacker.com/smn/a.pem",
    "https://evilsmn.cn-north-4.myhuaweicloud.com/smn/a.pem",
    "https://smn.cn-north-4.evilmyhuaweicloud.com/smn/a.pem",
    "https://x.smn.cn-north-4.myhuaweicloud.com/smn/a.pem",
    "https://SMN.cn-north-4.myhuaweicloud.com/smn/a.pem",
    "https://smn.CN-north-4.myhuaweicloud.com/smn/a.pem",
    "https://smn.cn-north-4.MyHuaweiCloud.com/smn/a.pem",
    "https://smn.cn-north-4.myhuaweicloud.com./smn/a.pem",
    "https://smn.cn-north-4.myhuaweicloud.com:443/smn/a.pem",
    "https://smn.cn-north-4.myhuaweicloud.com:8443/smn/a.pem",
    "https://user@smn.cn-north-4.myhuaweicloud.com/smn/a.pem",
    "https://attacker.com@smn.cn-north-4.myhuaweicloud.com/smn/a.pem",
    "https://smn.cn-north-4.myhuaweicloud.com@attacker.com/smn/a.pem",
    "https://smn.cn-north-4.myhuaweicloud.com\\@attacker.com/smn/a.pem",
    "https://attacker.com\\smn.cn-north-4.myhuaweicloud.com/smn/a.pem",
    "https://smn.cn-north-4.myhuaweicloud.com/smn\\a.pem",
    "https://smn.cn-north-4%2emyhuaweicloud.com/smn/a.pem",
    "https://smn%2ecn-north-4.myhuaweicloud.com/smn/a.pem",
    "https://smn.cn-north-4.myhuaweicloud.com/smn/%2e%2e/a.pem",
    "https://smn.cn-north-4.myhuaweicloud.com/smn/../a.pem",
    "https://smn.cn-north-4.myhuaweicloud.com/smn/a.pem?x=1",
    "https://smn.cn-north-4.myhuaweicloud.com/smn/a.pem#x",
    "https://smn.cn-north-4.myhuaweicloud.com/smn/a.txt",
    "https://smn.cn-north-4.myhuaweicloud.com/",
    "https://smn.cn-north-4.myhuaweicloud.com",
    "https://smn.myhuaweicloud.com/smn/a.pem",
    "https://smn.cn-north-4444.myhuaweicloud.com/smn/a.pem",
    "https://smn.cn-north-2.myhuaweicloud.eu/smn/a.pem",
    "https://smn.eu-west-101.myhuaweicloud.cn/smn/a.pem",
    "https://smn.eu-west-1.myhuaweicloud.eu/smn/a.pem",
    "https://127.0.0.1/smn/a.pem",
    "https://[::1]/smn/a.pem",
    "https://169.254.169.254/latest/a.pem",
    " https://smn.cn-north-4.myhuaweicloud.com/smn/a.pem",
    "https://smn.cn-north-4.myhuaweicloud.com/smn/a.pem\n",
    "https://smn.cn-north-4.myhuaweicloud.com/smn/a b.pem",
    "https://smn.cn-north-4.myhuaweicloud.com/smn/\u00e4.pem",
    "https://smn.cn-north-4.myhuaweic\u0430oud.com/smn/a.pem",  # a Cyrillic a
    "https:///smn.cn-north-4.myhuaweicloud.com/smn/a.pem",
    "https:smn.cn-north-4.myhuaweicloud.com/smn/a.pem",
    "//smn.cn-north-4.myhuaweicloud.com/smn/a.pem",
    "",
]


@pytest.mark.parametrize("url", HOSTILE_CERTIFICATE_URLS)
def test_every_certificate_url_trick_is_refused_without_a_fetch(url: str) -> None:
    assert allowed_certificate_url(url) is False
    fetch = Fetches()
    caught = refused(sign(notification(signing_cert_url=url)), fetch=fetch)
    assert (caught.status, caught.reason, fetch.urls) == (403, "signing certificate URL not allowed", [])
    pinned = SmnConfig(frozenset({TOPIC}), PEM, 900)  # checked even when the certificate is pinned
    assert refused(sign(notification(signing_cert_url=url)), pinned).reason == "signing certificate URL not allowed"


@pytest.mark.parametrize(
    "url",
    [
        CERT_URL,
        "https://smn.ap-southeast-1.myhuaweicloud.com/smn/SMN_ap-southeast-1_0123456789abcdef0123456789abcdef.pem",
        "https://smn.la-south-2.myhuaweicloud.com/smn/a.pem",
        "https://smn.af-south-1.myhuaweicloud.com/smn/a.pem",
        "https://smn.ru-northwest-2.myhuaweicloud.com/smn/a.pem",
        "https://smn.me-east-1.myhuaweicloud.com/smn/a.pem",
        "https://smn.cn-north-2.myhuaweicloud.cn/smn/a.pem",
        "https://smn.eu-west-101.myhuaweicloud.eu/smn/a.pem",
    ],
)
def test_the_smn_certificate_hosts_are_allowed(url: str) -> None:
    assert allowed_certificate_url(url) is True


@pytest.mark.parametrize(
    "url",
    [
        SUBSCRIBE_URL,
        "https://cn-north-4-console.huaweicloud.com/smn/subscription/confirm?token=abc",
        "https://ap-southeast-1-console.huaweicloud.com/smn/confirm?a=b&c=d",
        "https://smn.cn-north-4.myhuaweicloud.com/smn/confirm?token=abc",
    ],
)
def test_huaweis_subscribe_urls_are_allowed(url: str) -> None:
    assert allowed_subscribe_url(url) is True


@pytest.mark.parametrize(
    "url",
    [
        "http://console.huaweicloud.com/smn/confirm",
        "https://console.huaweicloud.com.attacker/smn/confirm",
        "https://evilconsole.huaweicloud.com/smn/confirm",
        "https://x.console.huaweicloud.com/smn/confirm",
        "https://cn-north-4.console.huaweicloud.com/smn/confirm",
        "https://Console.huaweicloud.com/smn/confirm",
        "https://console.huaweicloud.com./smn/confirm",
        "https://console.huaweicloud.com:8443/smn/confirm",
        "https://u:p@console.huaweicloud.com/smn/confirm",
        "https://console.huaweicloud.com\\@attacker.com/smn/confirm",
        "https://console%2ehuaweicloud.com/smn/confirm",
        "https://console.huaweicloud.com/smn/../../x",
        "https://console.huaweicloud.com/smn/confirm#frag",
        "https://attacker.example/smn/confirm?console.huaweicloud.com",
        "https://10.0.0.1/smn/confirm",
        "https://console.huaweicloud.com",
        "",
    ],
)
def test_a_subscribe_url_outside_huaweis_hosts_is_refused(url: str) -> None:
    assert allowed_subscribe_url(url) is False


# --- the timestamp ------------------------------------------------------------------------------


def test_an_old_delivery_is_refused_without_a_fetch() -> None:
    fetch = Fetches()
    with pytest.raises(SmnRefused) as caught:
        verify_delivery(sign(notification()), CONFIG, fetch, at(901))
    assert (caught.value.status, caught.value.reason, fetch.urls) == (403, "delivery too old", [])
    assert verify_delivery(sign(notification()), CONFIG, Fetches(), at(899)).timestamp == SENT


def test_a_future_delivery_is_refused_without_a_fetch() -> None:
    fetch = Fetches()
    with pytest.raises(SmnRefused) as caught:
        verify_delivery(sign(notification()), CONFIG, fetch, at(-301))
    assert (caught.value.status, caught.value.reason, fetch.urls) == (403, "delivery timestamp in the future", [])
    assert verify_delivery(sign(notification()), CONFIG, Fetches(), at(-299)).message_id


def test_max_age_zero_accepts_an_old_delivery() -> None:
    config = SmnConfig(frozenset({TOPIC}), None, 0)
    assert verify_delivery(sign(notification()), config, Fetches(), at(10 * 365 * 86_400)).type == "Notification"


def test_other_iso_8601_forms_are_read() -> None:
    for stamp in ("2018-01-09T07:11:40.123Z", "2018-01-09T15:11:40+08:00", "2018-01-09T07:11:40"):
        assert verify_delivery(sign(notification(timestamp=stamp)), CONFIG, Fetches(), at()).timestamp == stamp


# --- pinned certificates ------------------------------------------------------------------------


def test_a_pinned_certificate_is_used_without_a_fetch() -> None:
    fetch = Fetches(pem="never")
    for pinned in (PEM, OTHER_PEM + PEM):  # each pinned certificate is tried
        config = SmnConfig(frozenset({TOPIC}), pinned, 900)
        assert verify_delivery(sign(notification()), config, fetch, at()).type == "Notification"
    assert fetch.urls == []


def test_a_wrong_pinned_certificate_is_refused() -> None:
    fetch = Fetches()
    caught = refused(sign(notification()), SmnConfig(frozenset({TOPIC}), OTHER_PEM, 900), fetch)
    assert (caught.status, caught.reason, fetch.urls) == (403, "signature does not verify", [])
    caught = refused(sign(notification()), SmnConfig(frozenset({TOPIC}), "-----BEGIN CERTIFICATE-----\nxx", 900))
    assert (caught.status, caught.reason) == (403, "pinned signing certificate unusable")


def test_a_fetch_that_fails_is_a_refusal() -> None:
    def broken(url: str) -> str:
        raise OSError("boom")

    with pytest.raises(SmnRefused) as caught:
        verify_delivery(sign(notification()), CONFIG, broken, at())
    assert (caught.value.status, caught.value.reason) == (403, "signing certificate unavailable")
    assert refused(sign(notification()), fetch=Fetches(pem="not a certificate")).status == 403


# --- the fetcher --------------------------------------------------------------------------------


class Server:
    """An httpx.MockTransport handler that counts its requests."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.respond = respond or (lambda request: httpx.Response(200, text=PEM))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    def fetcher(self, **options: Any) -> CertificateFetcher:
        return CertificateFetcher(httpx.MockTransport(self), **options)


def fetch_refusal(fetcher: CertificateFetcher, url: str = CERT_URL) -> SmnRefused:
    with pytest.raises(SmnRefused) as caught:
        fetcher(url)
    assert caught.value.status == 403
    return caught.value


def test_the_fetcher_gets_the_pem_and_caches_it() -> None:
    server = Server()
    fetcher = server.fetcher()
    for _ in range(2):
        assert verify_delivery(sign(notification()), CONFIG, fetcher, at()).type == "Notification"
    assert len(server.requests) == 1
    assert (server.requests[0].method, str(server.requests[0].url)) == ("GET", CERT_URL)


def test_the_fetcher_cache_is_bounded_lru() -> None:
    server = Server()
    fetcher = server.fetcher(max_entries=16)
    urls = [f"https://smn.cn-north-4.myhuaweicloud.com/smn/{n}.pem" for n in range(17)]
    for url in urls[:16]:
        fetcher(url)
    fetcher(urls[0])  # a hit: now the most recent
    assert len(server.requests) == 16
    fetcher(urls[16])  # drops urls[1], the least recently used
    fetcher(urls[0])
    assert len(server.requests) == 17
    fetcher(urls[1])
    assert len(server.requests) == 18


def test_the_default_cache_holds_sixteen() -> None:
    server = Server()
    fetcher = server.fetcher()
    urls = [f"https://smn.cn-north-4.myhuaweicloud.com/smn/{n}.pem" for n in range(17)]
    for url in urls:
        fetcher(url)
    fetcher(urls[-1])
    fetcher(urls[1])
    assert len(server.requests) == 17
    fetcher(urls[0])
    assert len(server.requests) == 18


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_the_fetcher_refuses_a_redirect(status: int) -> None:
    server = Server(lambda request: httpx.Response(status, headers={"Location": CERT_URL + "x.pem"}))
    assert fetch_refusal(server.fetcher()).reason == "signing certificate download was redirected"
    assert len(server.requests) == 1


def test_the_fetcher_refuses_an_error_status() -> None:
    server = Server(lambda request: httpx.Response(404, text="no"))
    assert fetch_refusal(server.fetcher()).reason == "signing certificate download answered 404"


def test_the_fetcher_refuses_too_big_an_answer() -> None:
    big = PEM + "\n" + "A" * (64 * 1024)
    assert fetch_refusal(Server(lambda r: httpx.Response(200, text=big)).fetcher()).reason == (
        "signing certificate is too big"
    )

    def streamed(request: httpx.Request) -> httpx.Response:  # no Content-Length
        return httpx.Response(200, content=iter([b"A" * 40_000, b"A" * 40_000]))

    assert fetch_refusal(Server(streamed).fetcher()).reason == "signing certificate is too big"
    assert Server().fetcher(max_bytes=len(PEM))(CERT_URL) == PEM


def test_the_fetcher_refuses_what_is_not_a_certificate() -> None:
    for content in (b"hello", b"\xff\xfe", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"):
        server = Server(lambda request, body=content: httpx.Response(200, content=body))  # type: ignore[misc]
        assert fetch_refusal(server.fetcher()).reason == "signing certificate is not an X.509 PEM certificate"


def test_the_fetcher_refuses_a_timeout_and_does_not_cache_it() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    server = Server(slow)
    fetcher = server.fetcher()
    assert fetch_refusal(fetcher).reason == "signing certificate download timed out"
    assert fetch_refusal(fetcher).reason == "signing certificate download timed out"
    assert len(server.requests) == 2

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    assert fetch_refusal(Server(unreachable).fetcher()).reason == "signing certificate could not be downloaded"


def test_the_fetcher_has_a_three_second_timeout_in_all() -> None:
    seen: list[Any] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, text=PEM)

    Server(record).fetcher()(CERT_URL)
    assert seen == [{"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}]


def test_the_fetcher_checks_the_url_itself() -> None:
    server = Server()
    for url in HOSTILE_CERTIFICATE_URLS:
        assert fetch_refusal(server.fetcher(), url).reason == "signing certificate URL not allowed"
    assert server.requests == []


# --- imports ------------------------------------------------------------------------------------


def test_cryptography_and_httpx_are_imported_lazily() -> None:
    code = (
        "import sys, handler.smn, handler.app; "
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in ('cryptography', 'httpx')}))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "cryptography" not in result.stdout
    code = "import sys, handler.smn; print(sorted(m for m in sys.modules if m.split('.')[0] == 'httpx'))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_fetcher_refuses_an_encoded_answer() -> None:
    server = Server(lambda request: httpx.Response(200, content=b"x", headers={"Content-Encoding": "gzip"}))
    assert fetch_refusal(server.fetcher()).reason == "signing certificate download was encoded"
    assert server.requests[0].headers["accept-encoding"] == "identity"

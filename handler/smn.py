"""Huawei Cloud SMN HTTP(S) deliveries, verified before anything is acted on.

An SMN topic with an HTTP(S) subscription POSTs a JSON body signed by SMN (RSA PKCS#1 v1.5 over
`string_to_sign`, with a certificate served from an SMN host). `verify_delivery` checks a body
in a fixed order and refuses it (`SmnRefused`) at the first failure, so that a certificate is
never downloaded for a message an earlier, local check refuses.

`cryptography` and `httpx` are imported inside the functions that use them, never at import
time: a cold start that handles no SMN delivery pays for neither.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx
    from cryptography.x509 import Certificate

    from handler.settings import Settings

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
TYPES = frozenset({NOTIFICATION, SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION})
SIGNATURE_VERSION = "v1"
REQUIRED_FIELDS = (
    "type",
    "signature",
    "signature_version",
    "topic_urn",
    "message_id",
    "message",
    "timestamp",
    "signing_cert_url",
)
NOTIFICATION_SIGNED = ("message", "message_id", "subject", "timestamp", "topic_urn", "type")
SUBSCRIPTION_SIGNED = ("message", "message_id", "subscribe_url", "timestamp", "topic_urn", "type")
FUTURE_SKEW_SECONDS = 300.0  # a timestamp this far ahead of our clock is still taken
MAX_URL_LENGTH = 2048
MAX_TIMESTAMP_LENGTH = 64
MAX_SIGNATURE_LENGTH = 4096  # base64 of a 16384-bit RSA signature is under 2800 characters
MAX_SHOWN_ID = 128

REGION = r"[a-z]{2}(?:-[a-z]+)+-\d{1,3}"
SMN_HOST_RE = re.compile(rf"smn\.{REGION}\.myhuaweicloud\.com")
SMN_SPECIAL_HOSTS = frozenset({"smn.cn-north-2.myhuaweicloud.cn", "smn.eu-west-101.myhuaweicloud.eu"})
CONSOLE_HOST_RE = re.compile(rf"(?:{REGION}-)?console\.huaweicloud\.com")
# A path of plain segments (none of them "." or ".."), and a query of URL characters.
PATH_RE = re.compile(r"(?:/[A-Za-z0-9_~-][A-Za-z0-9_.~-]*)+")
QUERY_RE = re.compile(r"[A-Za-z0-9._~:/?@!$&'()*+,;=%-]*")
ID_RE = re.compile(r"[A-Za-z0-9._:/-]{1,128}")


class SmnRefused(Exception):
    """A delivery that is not acted on. `reason` names no secret and may be an HTTP body;
    `status` is 400 (malformed) or 403 (not verified, not allowed)."""

    def __init__(self, status: int, reason: str, message_id: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.message_id = message_id


@dataclass(frozen=True)
class SmnMessage:
    """A verified delivery; every value exactly as received (`subject` None when absent or empty,
    `subscribe_url` None for a Notification)."""

    type: str
    topic_urn: str
    message_id: str
    message: str
    subject: str | None
    timestamp: str
    subscribe_url: str | None


@dataclass(frozen=True)
class SmnConfig:
    """`topic_urns`: the topics accepted (empty: every delivery refused); `pinned_pem`: the
    certificate(s) SMN signs with, then nothing is downloaded; `max_age_seconds`: the replay
    window on `timestamp` (0: none)."""

    topic_urns: frozenset[str]
    pinned_pem: str | None
    max_age_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SmnConfig:
        return cls(
            topic_urns=frozenset(settings.smn_topic_urns),
            pinned_pem=settings.smn_signing_certs,
            max_age_seconds=settings.smn_max_age_seconds,
        )


# --- the string to sign -------------------------------------------------------------------------


def string_to_sign(body: Mapping[str, Any]) -> bytes:
    """`key\\nvalue\\n` for each signed field in order, values exactly as received; a Notification's
    subject is left out when absent or empty. Raises SmnRefused(400) for an unknown type or a
    signed field that is missing or not a string."""
    kind = body.get("type")
    if kind == NOTIFICATION:
        keys = NOTIFICATION_SIGNED
    elif kind in (SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION):
        keys = SUBSCRIPTION_SIGNED
    else:
        raise SmnRefused(400, "unknown message type", _shown_id(body))
    parts: list[str] = []
    for key in keys:
        value = body.get(key)
        if key == "subject" and (value is None or value == ""):
            continue
        if not isinstance(value, str):
            raise SmnRefused(400, f"malformed delivery: {key} is missing or not a string", _shown_id(body))
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode("utf-8")


# --- the URLs -----------------------------------------------------------------------------------


def _https_parts(url: object) -> tuple[str, str, str] | None:
    """(host, path, query) of a plain `https://host/path[?query]` URL, or None: not a str, too
    long, anything but printable ASCII without spaces, backslashes or a fragment, userinfo, port."""
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL_LENGTH or not url.startswith("https://"):
        return None
    if not url.isascii() or not url.isprintable() or any(char in url for char in " \\#"):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme != "https" or parts.fragment or "%" in parts.netloc or "%" in parts.path:
        return None
    if parts.netloc != parts.hostname:  # userinfo, a port, or upper case
        return None
    if f"https://{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "") != url:
        return None
    return parts.netloc, parts.path, parts.query


def _smn_host(host: str) -> bool:
    return SMN_HOST_RE.fullmatch(host) is not None or host in SMN_SPECIAL_HOSTS


def allowed_certificate_url(url: str) -> bool:
    """Whether `url` is https on an SMN host exactly (`smn.<region>.myhuaweicloud.com`, or
    `smn.cn-north-2.myhuaweicloud.cn`, `smn.eu-west-101.myhuaweicloud.eu`), with no userinfo,
    port, query or percent-encoding, and a `.pem` path."""
    parts = _https_parts(url)
    if parts is None:
        return False
    host, path, query = parts
    if query or "?" in url:
        return False
    return _smn_host(host) and PATH_RE.fullmatch(path) is not None and path.endswith(".pem")


def allowed_subscribe_url(url: str) -> bool:
    """Whether `url` is https on `console.huaweicloud.com`, `<region>-console.huaweicloud.com` or
    an SMN host, with no userinfo or port; its query may carry percent-encoded values."""
    parts = _https_parts(url)
    if parts is None:
        return False
    host, path, query = parts
    if not (CONSOLE_HOST_RE.fullmatch(host) or _smn_host(host)):
        return False
    return PATH_RE.fullmatch(path) is not None and QUERY_RE.fullmatch(query) is not None


# --- certificates -------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _certificates(pem: str) -> tuple[Certificate, ...]:
    """The certificates of a PEM text. Raises ValueError when it holds none or is malformed."""
    from cryptography import x509

    return tuple(x509.load_pem_x509_certificates(pem.encode("ascii")))


class CertificateFetcher:
    """Downloads a signing certificate (PEM) from an allowed URL: one GET, no redirects, at most
    `max_bytes`, within `timeout` seconds in all; it must parse as X.509. The answers are kept,
    `max_entries` of them, the least recently used dropped first (per warm container).
    Raises SmnRefused(403) for any failure."""

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        *,
        timeout: float = 3.0,
        max_bytes: int = 64 * 1024,
        max_entries: int = 16,
    ) -> None:
        self._transport = transport
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    def __call__(self, url: str) -> str:
        if not allowed_certificate_url(url):
            raise SmnRefused(403, "signing certificate URL not allowed")
        with self._lock:
            if url in self._cache:
                self._cache.move_to_end(url)
                return self._cache[url]
        pem = self._download(url)
        with self._lock:
            self._cache[url] = pem
            self._cache.move_to_end(url)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        return pem

    def _http(self) -> httpx.Client:
        import httpx

        with self._lock:
            if self._client is None:
                transport = self._transport if self._transport is not None else httpx.HTTPTransport(retries=0)
                self._client = httpx.Client(
                    transport=transport, timeout=httpx.Timeout(self._timeout), follow_redirects=False
                )
            return self._client

    def _download(self, url: str) -> str:
        import httpx

        deadline = time.monotonic() + self._timeout
        try:
            with self._http().stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
                if response.is_redirect or 300 <= response.status_code < 400:
                    raise SmnRefused(403, "signing certificate download was redirected")
                if response.status_code != 200:
                    raise SmnRefused(403, f"signing certificate download answered {response.status_code}")
                if response.headers.get("content-encoding", "identity").lower() != "identity":
                    raise SmnRefused(403, "signing certificate download was encoded")  # no decompression bomb
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > self._max_bytes:
                    raise SmnRefused(403, "signing certificate is too big")
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > self._max_bytes:
                        raise SmnRefused(403, "signing certificate is too big")
                    if time.monotonic() > deadline:
                        raise SmnRefused(403, "signing certificate download timed out")
        except httpx.TimeoutException:
            raise SmnRefused(403, "signing certificate download timed out") from None
        except httpx.HTTPError:
            raise SmnRefused(403, "signing certificate could not be downloaded") from None
        try:
            pem = bytes(data).decode("ascii")
            _certificates(pem)
        except ValueError:  # UnicodeDecodeError is one
            raise SmnRefused(403, "signing certificate is not an X.509 PEM certificate") from None
        return pem


# --- the checks ---------------------------------------------------------------------------------


def _shown_id(body: Mapping[str, Any]) -> str | None:
    value = body.get("message_id")
    return value if isinstance(value, str) and ID_RE.fullmatch(value) else None


def _parse_timestamp(text: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (no zone: UTC), or None."""
    if len(text) > MAX_TIMESTAMP_LENGTH or "T" not in text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _signature(text: str) -> bytes | None:
    import base64
    import binascii

    if len(text) > MAX_SIGNATURE_LENGTH:
        return None
    try:
        return base64.b64decode(text, validate=True) or None
    except (binascii.Error, ValueError):
        return None


def _verifies(certificate: Certificate, signature: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    algorithm = certificate.signature_hash_algorithm
    allowed = (hashes.SHA1, hashes.SHA224, hashes.SHA256, hashes.SHA384, hashes.SHA512)
    key = certificate.public_key()
    if not isinstance(algorithm, allowed) or not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_delivery(
    body: Mapping[str, Any],
    config: SmnConfig,
    fetch: Callable[[str], str],
    now: Callable[[], float],
) -> SmnMessage:
    """The delivery `body`, verified, or SmnRefused. In this order: the fields are strings, the
    type is known, the signature version is v1, the topic is configured, the certificate URL
    (and a subscription's subscribe_url) is Huawei's, the timestamp is recent; only then is the
    certificate taken (pinned, else `fetch(url)`) and the signature checked."""
    if not isinstance(body, Mapping):
        raise SmnRefused(400, "malformed delivery: not a JSON object")
    message_id = _shown_id(body)

    def refuse(status: int, reason: str) -> SmnRefused:
        return SmnRefused(status, reason, message_id)

    for key in REQUIRED_FIELDS:
        if not isinstance(body.get(key), str):
            raise refuse(400, f"malformed delivery: {key} is missing or not a string")
    subject = body.get("subject")
    if subject is not None and not isinstance(subject, str):
        raise refuse(400, "malformed delivery: subject is not a string")
    kind: str = body["type"]
    if kind not in TYPES:
        raise refuse(400, "unknown message type")
    subscribe_url = body.get("subscribe_url")
    if kind != NOTIFICATION and not isinstance(subscribe_url, str):
        raise refuse(400, "malformed delivery: subscribe_url is missing or not a string")
    if body["signature_version"] != SIGNATURE_VERSION:
        raise refuse(403, "unsupported signature_version")
    if not config.topic_urns or body["topic_urn"] not in config.topic_urns:
        raise refuse(403, "topic not allowed")
    certificate_url: str = body["signing_cert_url"]
    if not allowed_certificate_url(certificate_url):
        raise refuse(403, "signing certificate URL not allowed")
    if kind != NOTIFICATION and not (isinstance(subscribe_url, str) and allowed_subscribe_url(subscribe_url)):
        raise refuse(403, "subscribe_url not allowed")
    sent = _parse_timestamp(body["timestamp"])
    if sent is None:
        raise refuse(400, "malformed delivery: timestamp is not ISO 8601")
    if config.max_age_seconds:
        current = now()
        if current - sent > config.max_age_seconds:
            raise refuse(403, "delivery too old")
        if sent - current > FUTURE_SKEW_SECONDS:
            raise refuse(403, "delivery timestamp in the future")
    signature = _signature(body["signature"])
    if signature is None:
        raise refuse(403, "signature is not base64")
    data = string_to_sign(body)

    if config.pinned_pem is not None:
        try:
            certificates = _certificates(config.pinned_pem)
        except ValueError:
            raise refuse(403, "pinned signing certificate unusable") from None
    else:
        try:
            certificates = _certificates(fetch(certificate_url))
        except SmnRefused as exc:
            raise refuse(exc.status, exc.reason) from None
        except Exception:  # a fetcher's failure of any kind is a refusal, never a crash
            raise refuse(403, "signing certificate unavailable") from None
    if not any(_verifies(certificate, signature, data) for certificate in certificates):
        raise refuse(403, "signature does not verify")
    return SmnMessage(
        type=kind,
        topic_urn=body["topic_urn"],
        message_id=body["message_id"],
        message=body["message"],
        subject=subject or None,
        timestamp=body["timestamp"],
        subscribe_url=subscribe_url if isinstance(subscribe_url, str) else None,
    )

"""Huawei Cloud AK/SK request signing (SDK-HMAC-SHA256).

`sign` is a pure function: request parts in, headers out. `AkSkAuth` wraps it as an
`httpx.Auth` that stamps the date, the project and the token on every attempt.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable, Generator, Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, unquote, unquote_plus

import httpx

from handler.sdrs.credentials import Credentials, CredentialSource, StaticCredentials
from handler.values import value_object

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


def _encode(text: str) -> str:
    return quote(text, safe="~")


# Cached: the same few paths (a group's listing, its DELETE) are signed in every run; they hold ids, never a secret.
@functools.lru_cache(maxsize=1024)
def canonical_uri(path: str) -> str:
    """Decode the path, re-encode each segment, and end it with '/' (only for signing)."""
    encoded = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return encoded if encoded.endswith("/") else encoded + "/"


def canonical_query(pairs: Iterable[tuple[str, object]]) -> str:
    """Sorted `key=value` pairs, each side percent-encoded with only '~' left alone."""
    encoded = sorted((_encode(str(key)), _encode(str(value))) for key, value in pairs)
    return "&".join(f"{key}={value}" for key, value in encoded)


@functools.lru_cache(maxsize=256)
def _canonical_form(sent_query: str) -> str:
    return canonical_query(parse_query(sent_query))


def parse_query(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in raw_query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((unquote_plus(key), unquote_plus(value)))
    return pairs


@value_object
class Signature:
    """An SDK-HMAC-SHA256 signature and what it was computed from (for the tests and the vectors)."""

    canonical_request: str
    string_to_sign: str
    signed_headers: str
    signature: str
    authorization: str


def sign(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    access_key: str,
    secret_key: str,
    sdk_date: str,
) -> Signature:
    """Sign one request. `headers` are exactly the headers to sign (Host and X-Sdk-Date
    among them); `query` is the canonical query string, which is also what must be sent."""
    normalized = sorted((name.lower(), value.strip()) for name, value in headers.items())
    signed_headers = ";".join(name for name, _ in normalized)
    canonical_request = "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            query,
            "".join(f"{name}:{value}\n" for name, value in normalized),
            signed_headers,
            hashlib.sha256(body).hexdigest() if body else EMPTY_BODY_SHA256,
        ]
    )
    string_to_sign = "\n".join([ALGORITHM, sdk_date, hashlib.sha256(canonical_request.encode()).hexdigest()])
    signature = hmac.new(secret_key.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = f"{ALGORITHM} Access={access_key}, SignedHeaders={signed_headers}, Signature={signature}"
    return Signature(canonical_request, string_to_sign, signed_headers, signature, authorization)


def host_header(url: httpx.URL) -> str:
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    return url.host if url.port in (None, default_port) else f"{url.host}:{url.port}"


# Headers the gateway must see signed; anything else a proxy may rewrite is left out.
_SIGNED_HEADER_NAMES = ("content-type", "host", "x-project-id", "x-sdk-date", "x-security-token")


class AkSkAuth(httpx.Auth):
    """Signs each request (and each retry) afresh with the current UTC time."""

    def __init__(
        self,
        credentials: Credentials | CredentialSource,
        project_id: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.source = StaticCredentials(credentials) if isinstance(credentials, Credentials) else credentials
        self._project_id = project_id
        self._clock = clock

    def __repr__(self) -> str:
        return f"AkSkAuth({self.source!r})"

    def secrets(self) -> tuple[str, ...]:
        return self.source.secrets()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        yield self.sign_request(request)

    def sign_request(self, request: httpx.Request, credentials: Credentials | None = None) -> httpx.Request:
        """Stamp and sign `request` in place (also what `auth_flow` yields), with `credentials`
        or else the source's current ones."""
        credentials = credentials or self.source.current()
        sent_query = request.url.query.decode("ascii")
        query = _canonical_form(sent_query)
        if query != sent_query:  # send exactly what is signed (URL parsing is costly: only when needed)
            request.url = request.url.copy_with(query=query.encode("ascii") or None)
        request.headers["Host"] = host_header(request.url)
        request.headers["X-Sdk-Date"] = self._clock().strftime(DATE_FORMAT)
        if self._project_id and "X-Project-Id" not in request.headers:
            request.headers["X-Project-Id"] = self._project_id
        if credentials.security_token:
            request.headers["X-Security-Token"] = credentials.security_token
        to_sign = {name: value for name, value in request.headers.items() if name.lower() in _SIGNED_HEADER_NAMES}
        signature = sign(
            method=request.method,
            path=request.url.path,
            query=query,
            headers=to_sign,
            body=request.content,
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            sdk_date=request.headers["X-Sdk-Date"],
        )
        request.headers["Authorization"] = signature.authorization
        return request

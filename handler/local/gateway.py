"""The API gateway's side of AK/SK signing (SDK-HMAC-SHA256): verify a request as received.

Written from the algorithm's description (docs/signing.md) and nothing else: it imports
nothing from `handler.sdrs`, so that the doubles that use it (the loopback emulator and the
unit tests' respx double) catch a bug in the signer under test instead of sharing it. It
works on the request as it arrived on the wire: the request-target exactly as sent (raw
path, raw query), the headers, the body.

    problem = signature_problem(GatewayRequest("GET", "/v1/p/x?a=1", headers, b""),
                                access_key=AK, secret_key=SK, now=datetime.now(UTC))

`problem` is None when the gateway would let the request through, else what is wrong (the
text the emulator puts after "Incorrect IAM authentication information: ").
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote_to_bytes

ALGORITHM = "SDK-HMAC-SHA256"
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
ALLOWED_CLOCK_SKEW = timedelta(minutes=15)
_SDK_DATE = re.compile(r"\d{8}T\d{6}Z")
_AUTHORIZATION = re.compile(
    rf"{ALGORITHM} Access=(?P<ak>[^,\s]+), SignedHeaders=(?P<signed>[^,\s]+), Signature=(?P<sig>[0-9a-f]{{64}})"
)
# RFC 3986 unreserved characters: the only bytes the canonical form leaves as they are.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_FAIL = "verify aksk signature fail"


@dataclass(frozen=True)
class GatewayRequest:
    """A request as the gateway receives it. `target`: the request-target, path and query
    exactly as sent (no decoding); `headers`: names in any case."""

    method: str
    target: str
    headers: Mapping[str, str] | Iterable[tuple[str, str]]
    body: bytes = b""
    _lowered: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        items = self.headers.items() if isinstance(self.headers, Mapping) else self.headers
        object.__setattr__(self, "_lowered", {name.lower(): value for name, value in items})

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def header(self, name: str) -> str | None:
        return self._lowered.get(name.lower())


@dataclass(frozen=True)
class Authorization:
    access_key: str
    signed_headers: list[str]
    signature: str


def parse_authorization(value: str | None) -> Authorization | None:
    match = _AUTHORIZATION.fullmatch(value or "")
    if match is None:
        return None
    return Authorization(match["ak"], match["signed"].split(";"), match["sig"])


def percent_encode(raw: bytes) -> str:
    """Every byte but the unreserved ones as %XX (upper-case hex): a space is %20, never '+'."""
    return "".join(chr(byte) if byte in _UNRESERVED else f"%{byte:02X}" for byte in raw)


def canonical_uri(raw_path: str) -> str:
    """Decode the path, split it on '/', encode each segment, join, and end it with '/'."""
    segments = unquote_to_bytes(raw_path).split(b"/")
    uri = "/".join(percent_encode(segment) for segment in segments)
    return uri if uri.endswith("/") else uri + "/"


def query_pairs(raw_query: str) -> list[tuple[bytes, bytes]]:
    """The (key, value) pairs of a query as received, percent-decoded ('+' is a plus)."""
    pairs = []
    for part in raw_query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((unquote_to_bytes(key), unquote_to_bytes(value)))
    return pairs


def canonical_query(raw_query: str) -> str:
    encoded = sorted((percent_encode(key), percent_encode(value)) for key, value in query_pairs(raw_query))
    return "&".join(f"{key}={value}" for key, value in encoded)


def canonical_request(request: GatewayRequest, signed_headers: list[str]) -> str:
    """The six parts, from the request as received and the header names it says it signed."""
    names = sorted(name.lower() for name in signed_headers)
    header_lines = "".join(f"{name}:{(request.header(name) or '').strip()}\n" for name in names)
    return "\n".join(
        [
            request.method.upper(),
            canonical_uri(request.path),
            canonical_query(request.query),
            header_lines,
            ";".join(names),
            hashlib.sha256(request.body).hexdigest(),
        ]
    )


def string_to_sign(sdk_date: str, canonical: str) -> str:
    return f"{ALGORITHM}\n{sdk_date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def expected_signature(request: GatewayRequest, signed_headers: list[str], secret_key: str) -> str:
    to_sign = string_to_sign(request.header("X-Sdk-Date") or "", canonical_request(request, signed_headers))
    return hmac.new(secret_key.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def signature_problem(
    request: GatewayRequest,
    *,
    access_key: str,
    secret_key: str,
    security_token: str | None = None,
    now: datetime | None = None,
) -> str | None:
    """What the gateway would refuse this request for, or None. `security_token`: the one
    the AK was issued with (None: a permanent AK, any token passes); `now`: the gateway's
    clock (default: the real UTC time)."""
    auth = parse_authorization(request.header("Authorization"))
    if auth is None:
        return "Authorization header missing or malformed"
    signed = {name.lower() for name in auth.signed_headers}
    required = {"host", "x-sdk-date"} | {
        name for name in ("x-project-id", "x-security-token") if request.header(name) is not None
    }
    if not required <= signed:
        return f"{_FAIL}: headers not signed: {sorted(required - signed)}"
    if missing := sorted(name for name in signed if request.header(name) is None):
        return f"{_FAIL}: signed headers missing from the request: {missing}"
    sdk_date = request.header("X-Sdk-Date") or ""
    try:
        if not _SDK_DATE.fullmatch(sdk_date):
            raise ValueError(sdk_date)
        signed_at = datetime.strptime(sdk_date, SDK_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return f"{_FAIL}: X-Sdk-Date missing or malformed"
    if abs((now or datetime.now(UTC)) - signed_at) > ALLOWED_CLOCK_SKEW:
        return f"{_FAIL}: request expired, the X-Sdk-Date time differs from the server time"
    if auth.access_key != access_key:
        return f"{_FAIL}: the access key does not exist"
    if security_token is not None and request.header("X-Security-Token") != security_token:
        return f"{_FAIL}: the security token is missing or invalid"
    if not hmac.compare_digest(expected_signature(request, auth.signed_headers, secret_key), auth.signature):
        return _FAIL
    return None

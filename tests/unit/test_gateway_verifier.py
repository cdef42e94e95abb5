"""The doubles' gateway verifier (handler/local/gateway.py) against the official SDK's vectors,
and proof that the doubles no longer share the signer under test: a signer with a broken
canonicalisation is refused by the loopback emulator and by the respx double."""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import respx

import handler.local.gateway
import handler.local.sdrs_behaviour
from handler.local import emulator as emulator_module
from handler.local.emulator import DEMO_GROUP_WITH_FAILURES, DEMO_PROJECT_ID, SdrsEmulator, demo_state
from handler.local.gateway import (
    GatewayRequest,
    canonical_request,
    parse_authorization,
    signature_problem,
    string_to_sign,
)
from handler.sdrs import signing
from handler.sdrs.credentials import Credentials
from handler.sdrs.signing import AkSkAuth
from tests.fake_sdrs import ACCESS_KEY, GROUP_WITH_FAILURES, PROJECT_ID, SDRS_HOST, SECRET_KEY, FakeSdrs

VECTORS_FILE = Path(__file__).resolve().parents[1] / "data" / "official-sdk-hmac-sha256.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text())["vectors"]
HEX = "0123456789abcdef"


def as_received(vector: dict[str, Any]) -> GatewayRequest:
    """The vector's request as the gateway gets it: the request line's URI and the headers sent."""
    expected = vector["expected"]
    method = vector["inputs"].get("method") or expected["method"]
    body = (vector["inputs"].get("body") or expected.get("body") or "").encode()
    return GatewayRequest(method, expected["request_line_uri"], dict(expected["headers"]), body)


def verify(vector: dict[str, Any], request: GatewayRequest) -> str | None:
    inputs = vector["inputs"]
    sdk_date = vector["expected"]["headers"]["X-Sdk-Date"]
    now = datetime.strptime(sdk_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signature_problem(
        request, access_key=inputs["ak"], secret_key=inputs["sk"], security_token=inputs["security_token"], now=now
    )


def one_char_changes(text: str) -> Iterator[tuple[int, str]]:
    """`text` with each character in turn replaced by one that means something else: a hex
    digit of a %XX escape by another digit (not just another case), anything else by a
    different letter or digit."""
    escape_digits = {i + k for i, c in enumerate(text) if c == "%" for k in (1, 2)}
    for i, char in enumerate(text):
        if i in escape_digits:
            replacement = HEX[(HEX.index(char.lower()) + 1) % 16]
        elif char.isdigit():
            replacement = str((int(char) + 1) % 10)
        else:
            replacement = "b" if char == "a" else "a"
        yield i, text[:i] + replacement + text[i + 1 :]


def with_header(request: GatewayRequest, name: str, value: str) -> GatewayRequest:
    headers = {k: v for k, v in dict(request.headers).items() if k.lower() != name.lower()}
    return GatewayRequest(request.method, request.target, {**headers, name: value}, request.body)


def test_there_are_vectors() -> None:
    assert len(VECTORS) == 7
    assert all("request_line_uri" in v["expected"] and "headers" in v["expected"] for v in VECTORS)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_accepts_every_official_vector(vector: dict[str, Any]) -> None:
    request = as_received(vector)
    expected = vector["expected"]
    auth = parse_authorization(request.header("Authorization"))
    assert auth is not None
    canonical = canonical_request(request, auth.signed_headers)
    assert canonical == expected["canonical_request"]
    assert string_to_sign(expected["headers"]["X-Sdk-Date"], canonical) == expected["string_to_sign"]
    assert verify(vector, request) is None


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_rejects_one_character_changed_in_the_path(vector: dict[str, Any]) -> None:
    request = as_received(vector)
    path, query = request.path, request.query
    for i, changed in one_char_changes(path):
        target = changed + (f"?{query}" if query else "")
        altered = GatewayRequest(request.method, target, request.headers, request.body)
        assert verify(vector, altered) is not None, f"path changed at {i}: {changed}"


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS if "?" in v["expected"]["request_line_uri"]], ids=lambda v: str(v["id"])
)
def test_rejects_one_character_changed_in_the_query(vector: dict[str, Any]) -> None:
    request = as_received(vector)
    for i, changed in one_char_changes(request.query):
        altered = GatewayRequest(request.method, f"{request.path}?{changed}", request.headers, request.body)
        assert verify(vector, altered) is not None, f"query changed at {i}: {changed}"


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_rejects_one_character_changed_in_any_signed_header(vector: dict[str, Any]) -> None:
    request = as_received(vector)
    auth = parse_authorization(request.header("Authorization"))
    assert auth is not None
    headers = dict(vector["expected"]["headers"])
    by_lower = {name.lower(): name for name in headers}
    for signed in auth.signed_headers:
        name = by_lower[signed]
        for i, changed in one_char_changes(headers[name]):
            assert verify(vector, with_header(request, name, changed)) is not None, f"{name} changed at {i}"
        dropped = GatewayRequest(request.method, request.target, {k: v for k, v in headers.items() if k != name})
        assert verify(vector, dropped) is not None, f"{name} left out"


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_rejects_a_changed_body_or_signature_or_method(vector: dict[str, Any]) -> None:
    request = as_received(vector)
    for body in (b" ", b"{}", b"a"):
        assert verify(vector, GatewayRequest(request.method, request.target, request.headers, body)) is not None
    other = "GET" if request.method == "DELETE" else "DELETE"
    assert verify(vector, GatewayRequest(other, request.target, request.headers, request.body)) is not None
    authorization = request.header("Authorization") or ""
    signature = authorization.rsplit("Signature=", 1)[1]
    for i, changed in one_char_changes(signature):
        tampered = authorization[: -len(signature)] + changed
        assert verify(vector, with_header(request, "Authorization", tampered)) is not None, f"signature at {i}"


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_unsigned_headers_may_change(vector: dict[str, Any]) -> None:
    request = as_received(vector)
    assert verify(vector, with_header(request, "X-Forwarded-For", "10.0.0.1")) is None
    assert verify(vector, with_header(request, "Accept", "*/*")) is None


def test_date_window_token_and_access_key() -> None:
    vector = VECTORS[1]  # with a security token
    request = as_received(vector)
    inputs = vector["inputs"]
    signed_at = datetime(2026, 1, 15, 8, 30, tzinfo=UTC)
    base = {"access_key": inputs["ak"], "secret_key": inputs["sk"]}
    assert signature_problem(request, **base, now=signed_at.replace(minute=44)) is None
    assert "expired" in (signature_problem(request, **base, now=signed_at.replace(minute=46)) or "")
    assert "token" in (signature_problem(request, **base, security_token="another", now=signed_at) or "")
    assert "access key" in (signature_problem(request, **{**base, "access_key": "OTHER"}, now=signed_at) or "")


def imported_modules(module: Any) -> set[str]:
    tree = ast.parse(Path(module.__file__).read_text())
    names = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    return names | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}


def test_the_doubles_do_not_import_the_signer_under_test() -> None:
    assert not {m for m in imported_modules(handler.local.gateway) if m.startswith("handler")}
    for module in (emulator_module, handler.local.sdrs_behaviour):
        assert "handler.sdrs.signing" not in imported_modules(module)
        assert {m for m in imported_modules(module) if m.startswith("handler.sdrs")} <= {"handler.sdrs.api"}


# --- a broken signer is refused ----------------------------------------------------------


def local_sign(
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    ak: str,
    sk: str,
    *,
    trailing_slash: bool = True,
    space: str = "%20",
    sort_query: bool = True,
) -> tuple[str, dict[str, str]]:
    """A small signer of its own, right by default, wrong in the one way asked; the URI it
    sends (the query as the right signer would send it) and the headers."""

    def enc(text: str) -> str:
        return quote(text, safe="~").replace("%20", space)

    uri = "/".join(enc(seg) for seg in path.split("/"))
    uri = uri + "/" if trailing_slash and not uri.endswith("/") else uri
    pairs = [(enc(k), enc(v)) for k, v in query]
    signed_query = "&".join(f"{k}={v}" for k, v in (sorted(pairs) if sort_query else pairs))
    sent_query = "&".join(f"{k}={v}" for k, v in sorted((quote(k, safe="~"), quote(v, safe="~")) for k, v in query))
    headers = {**headers, "X-Sdk-Date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")}
    names = sorted(headers, key=str.lower)
    canonical = "\n".join(
        [
            method,
            uri,
            signed_query,
            "".join(f"{n.lower()}:{headers[n].strip()}\n" for n in names),
            ";".join(n.lower() for n in names),
            hashlib.sha256(b"").hexdigest(),
        ]
    )
    to_sign = f"SDK-HMAC-SHA256\n{headers['X-Sdk-Date']}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(sk.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    signed_names = ";".join(n.lower() for n in names)
    headers["Authorization"] = f"SDK-HMAC-SHA256 Access={ak}, SignedHeaders={signed_names}, Signature={signature}"
    return path + (f"?{sent_query}" if sent_query else ""), headers


BUGS: dict[str, dict[str, Any]] = {
    "right": {},
    "no-trailing-slash": {"trailing_slash": False},
    "space-as-plus": {"space": "+"},
    "query-not-sorted": {"sort_query": False},
}
# Listing with a query that has a space (sorting and encoding both matter).
QUERY = [("server_group_id", DEMO_GROUP_WITH_FAILURES), ("limit", "10"), ("offset", "0"), ("x note", "a b")]


@pytest.fixture(scope="module")
def emulator() -> Iterator[SdrsEmulator]:
    with SdrsEmulator(demo_state()) as running:
        yield running


@pytest.mark.parametrize("bug", BUGS)
def test_emulator_refuses_a_wrong_canonicalisation(bug: str, emulator: SdrsEmulator) -> None:
    state = emulator.state
    with state.lock:
        state._bad_signatures, state._locked_until = 0, 0.0
    host = emulator.endpoint.removeprefix("http://")
    path = f"/v1/{DEMO_PROJECT_ID}/task-center/failure-jobs"
    base = {"Host": host, "X-Project-Id": DEMO_PROJECT_ID}
    target, headers = local_sign("GET", path, QUERY, base, state.access_key, state.secret_key, **BUGS[bug])
    with httpx.Client(trust_env=False) as client:  # straight to 127.0.0.1, whatever proxy is set
        answer = client.get(emulator.endpoint + target, headers=headers)
    if bug == "right":
        assert answer.status_code == 200, answer.text
        assert answer.json()["count"] == 3
    else:
        assert answer.status_code == 401, answer.text
        assert answer.json()["error_code"] == "APIGW.0301"


@pytest.mark.parametrize("bug", BUGS)
def test_fake_sdrs_refuses_a_wrong_canonicalisation(bug: str) -> None:
    path = f"/v1/{PROJECT_ID}/task-center/failure-jobs"
    query = [("server_group_id", GROUP_WITH_FAILURES), ("limit", "10"), ("offset", "0"), ("x note", "a b")]
    base = {"Host": SDRS_HOST, "X-Project-Id": PROJECT_ID}
    target, headers = local_sign("GET", path, query, base, ACCESS_KEY, SECRET_KEY, **BUGS[bug])
    with respx.mock(assert_all_called=False) as router:
        FakeSdrs().install(router)
        with httpx.Client(trust_env=False) as client:
            answer = client.get(f"https://{SDRS_HOST}{target}", headers=headers)
    assert answer.status_code == (200 if bug == "right" else 401), answer.text


def broken_canonical_uri(path: str) -> str:
    """canonical_uri without the trailing '/' (the bug the docs warn about)."""
    return "/".join(quote(segment, safe="~") for segment in path.split("/"))


@pytest.mark.parametrize("broken", [False, True], ids=["signer-as-is", "signer-broken"])
def test_a_broken_signer_under_test_is_caught_over_loopback(
    broken: bool, emulator: SdrsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Break handler.sdrs.signing for real: the emulator, which used to verify with that very
    module, now refuses what it signs (it verified with the same bug before, and accepted)."""
    state = emulator.state
    with state.lock:
        state._bad_signatures, state._locked_until = 0, 0.0
    if broken:
        monkeypatch.setattr(signing, "canonical_uri", broken_canonical_uri)
    auth = AkSkAuth(Credentials(state.access_key, state.secret_key, None), DEMO_PROJECT_ID)
    params = {"server_group_id": DEMO_GROUP_WITH_FAILURES, "limit": "10", "offset": "0"}
    with httpx.Client(base_url=emulator.endpoint, auth=auth, trust_env=False) as client:
        answer = client.get(f"/v1/{DEMO_PROJECT_ID}/task-center/failure-jobs", params=params)
    assert answer.status_code == (401 if broken else 200), answer.text


def test_fake_sdrs_signature_problem_catches_a_broken_signer_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fake_sdrs import signature_problem as fake_signature_problem

    monkeypatch.setattr(signing, "canonical_uri", broken_canonical_uri)
    auth = AkSkAuth(Credentials(ACCESS_KEY, SECRET_KEY, None), PROJECT_ID)
    seen: list[httpx.Request] = []

    def sign_only(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    with httpx.Client(transport=httpx.MockTransport(sign_only), auth=auth) as client:
        client.delete(f"https://{SDRS_HOST}/v1/{PROJECT_ID}/task-center/{GROUP_WITH_FAILURES}/failure-jobs/batch")
    assert fake_signature_problem(seen[0], ACCESS_KEY, SECRET_KEY) is not None

"""Every status the API lists (plus 429) x every body shape -> one clear SdrsApiError."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import pytest

from handler.sdrs.api import SdrsApiError
from handler.sdrs.errors import error_from_response, error_from_transport

LISTED_STATUSES = (400, 401, 403, 404, 405, 406, 407, 408, 409, 500, 501, 502, 503, 504)
ALL_STATUSES = (*LISTED_STATUSES, 429)
RETRYABLE = frozenset({429, 500, 502, 503, 504})
NEVER_RETRIED = tuple(s for s in ALL_STATUSES if s not in RETRYABLE)

API_MESSAGE = "Protection group decf224d-87fe-403a-8721-037a1a45c287 does not exist"
HEADER_REQUEST_ID = "hdr-7f3c2a1e9b8d4c6f"
BODY_REQUEST_ID = "body-0a1b2c3d4e5f6a7b"


@dataclass(frozen=True)
class Shape:
    """One error body shape and what must be read from it."""

    name: str
    content: bytes
    content_type: str
    code: str | None  # the API code, or None when the body is not an SDRS/APIGW error
    body_request_id: str | None = None

    @property
    def parsed(self) -> bool:
        return self.code is not None


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


SHAPES = (
    Shape(
        "sdrs-error", _json({"error": {"code": "SDRS.1013", "message": API_MESSAGE}}), "application/json", "SDRS.1013"
    ),
    Shape(
        "sdrs-badrequest",
        _json({"badrequest": {"code": "SDRS.0207", "message": API_MESSAGE}}),
        "application/json",
        "SDRS.0207",
    ),
    Shape(
        "sdrs-itemNotFound",
        _json({"itemNotFound": {"code": "SDRS.0404", "message": API_MESSAGE}}),
        "application/json;charset=UTF-8",
        "SDRS.0404",
    ),
    Shape(
        "gateway-flat",
        _json({"error_code": "APIGW.0301", "error_msg": API_MESSAGE, "request_id": BODY_REQUEST_ID}),
        "application/json",
        "APIGW.0301",
        BODY_REQUEST_ID,
    ),
    Shape("empty", b"", "application/json", None),
    Shape(
        "html",
        b"<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>",
        "text/html",
        None,
    ),
    Shape("text", b"upstream connect error or disconnect/reset before headers", "text/plain", None),
    Shape("json-list", _json([{"error": {"code": "SDRS.1013", "message": API_MESSAGE}}]), "application/json", None),
    Shape("json-string", _json("Service Unavailable"), "application/json", None),
    Shape("json-unknown-object", _json({"message": API_MESSAGE, "status": 500}), "application/json", None),
)


def _response(status: int, shape: Shape, *, request_id_header: bool) -> httpx.Response:
    headers = {"Content-Type": shape.content_type}
    if request_id_header:
        headers["X-Request-Id"] = HEADER_REQUEST_ID
    return httpx.Response(status, headers=headers, content=shape.content)


@pytest.mark.parametrize("request_id_header", [True, False], ids=["with-header", "no-header"])
@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@pytest.mark.parametrize("status", ALL_STATUSES)
def test_every_status_and_body_shape(status: int, shape: Shape, request_id_header: bool) -> None:
    error = error_from_response(_response(status, shape, request_id_header=request_id_header))

    assert isinstance(error, SdrsApiError)
    assert error.status_code == status
    assert error.retryable is (status in RETRYABLE)
    assert error.code == (shape.code if shape.parsed else f"HTTP.{status}")
    expected_request_id = HEADER_REQUEST_ID if request_id_header else shape.body_request_id
    assert error.request_id == expected_request_id
    # Every listed status has its own meaning: none falls through to the generic text.
    assert "unexpected status" not in error.message
    if shape.parsed:
        assert API_MESSAGE in error.message
    elif shape.content:
        assert "body was not an SDRS error" in error.message
        assert shape.content_type.split(";")[0] in error.message
        assert str(len(shape.content)) in error.message
        # The raw body (HTML, proxy text) is not pasted into the message.
        assert shape.content.decode() not in error.message
    else:
        assert "empty body" in error.message
    text = str(error)
    assert text.startswith(f"HTTP {status} {error.code}: ")
    assert error.message in text


def test_statuses_have_distinct_meanings() -> None:
    """A clear outcome per status: no two statuses give the same message for the same body."""
    shape = SHAPES[4]  # empty body: the message is the meaning alone
    messages = {
        status: error_from_response(_response(status, shape, request_id_header=False)).message
        for status in ALL_STATUSES
    }
    assert len(set(messages.values())) == len(ALL_STATUSES), messages


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_say_they_are_not_retried(status: int) -> None:
    body = {
        "error_code": "APIGW.0301",
        "error_msg": "Incorrect IAM authentication information: verify aksk signature fail",
    }
    error = error_from_response(httpx.Response(status, json=body))
    assert error.retryable is False
    assert "not retried" in error.message


def test_throttling_is_named_and_retryable() -> None:
    body = {"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached", "request_id": "r1"}
    error = error_from_response(httpx.Response(429, json=body))
    assert (error.code, error.retryable, error.request_id) == ("APIGW.0308", True, "r1")
    assert "throttl" in error.message.lower()
    assert "The throttling threshold has been reached" in error.message


def test_unlisted_status_is_not_retried_and_says_unexpected() -> None:
    error = error_from_response(httpx.Response(418, content=b""))
    assert (error.code, error.retryable, error.status_code) == ("HTTP.418", False, 418)
    assert "unexpected status" in error.message


def test_header_request_id_wins_over_body() -> None:
    body = {"error_code": "APIGW.0101", "error_msg": "The API does not exist", "request_id": BODY_REQUEST_ID}
    response = httpx.Response(404, headers={"X-Request-Id": HEADER_REQUEST_ID}, json=body)
    assert error_from_response(response).request_id == HEADER_REQUEST_ID


def test_non_string_body_request_id_is_ignored() -> None:
    body = {"error_code": "APIGW.0101", "error_msg": "The API does not exist", "request_id": 12345}
    assert error_from_response(httpx.Response(404, json=body)).request_id is None


@pytest.mark.parametrize("key", ["error", "badrequest", "itemNotFound"])
def test_long_messages_are_clipped(key: str) -> None:
    long_message = "volume is error! " * 200  # 3400 characters
    error = error_from_response(httpx.Response(500, json={key: {"code": "SDRS.0006", "message": long_message}}))
    api_part = error.message.split(": ", 1)[1]
    assert len(api_part) <= 300
    assert len(error.message) < len(long_message) // 5
    assert api_part.endswith("…")
    assert api_part.startswith("volume is error! volume is error!")


def test_flat_long_message_is_clipped_and_whitespace_collapsed() -> None:
    long_message = "line one\n\n\tline two   " + "x" * 2000
    error = error_from_response(httpx.Response(400, json={"error_code": "SDRS.0201", "error_msg": long_message}))
    assert "\n" not in error.message
    assert "\t" not in error.message
    assert "line one line two x" in error.message
    assert len(error.message) < 400


def test_short_message_is_not_clipped() -> None:
    error = error_from_response(httpx.Response(400, json={"error": {"code": "SDRS.0201", "message": API_MESSAGE}}))
    assert error.message.endswith(API_MESSAGE)
    assert "…" not in error.message


@pytest.mark.parametrize(
    "api_message",
    [
        "Incorrect IAM authentication information: the request has expired",
        "Incorrect IAM authentication information: x-sdk-date is expired",
        "Incorrect IAM authentication information: request TIME is out of range",
    ],
)
def test_401_about_time_gets_a_clock_hint(api_message: str) -> None:
    error = error_from_response(httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": api_message}))
    assert api_message in error.message
    assert "clock" in error.message
    assert error.retryable is False


def test_401_without_time_has_no_clock_hint() -> None:
    api_message = "Incorrect IAM authentication information: verify aksk signature fail"
    error = error_from_response(httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": api_message}))
    assert "clock" not in error.message


def test_403_about_expiry_has_no_clock_hint() -> None:
    error = error_from_response(
        httpx.Response(403, json={"error": {"code": "SDRS.0003", "message": "the token has expired"}})
    )
    assert "clock" not in error.message


SECRET_URL = "https://sdrs.cn-north-4.myhuaweicloud.com/v1/0123456789abcdef0123456789abcdef/task-center/failure-jobs"
SECRET = "SKTRANSPORTCANARY"


@pytest.mark.parametrize(
    ("exc_type", "code"),
    [
        (httpx.ConnectError, "Network.Error"),
        (httpx.ReadError, "Network.Error"),
        (httpx.WriteError, "Network.Error"),
        (httpx.RemoteProtocolError, "Network.Error"),
        (httpx.ProxyError, "Network.Error"),
        (httpx.ConnectTimeout, "Network.Timeout"),
        (httpx.ReadTimeout, "Network.Timeout"),
        (httpx.WriteTimeout, "Network.Timeout"),
        (httpx.PoolTimeout, "Network.Timeout"),
    ],
)
def test_transport_errors(exc_type: type[httpx.TransportError], code: str) -> None:
    request = httpx.Request(
        "GET", SECRET_URL, headers={"Authorization": f"SDK-HMAC-SHA256 Access={SECRET}", "X-Security-Token": SECRET}
    )
    exc = exc_type(f"[Errno 111] failed talking to {SECRET_URL} with {SECRET}", request=request)

    error = error_from_transport(exc)

    assert error.code == code
    assert error.retryable is True
    assert error.status_code is None
    assert error.request_id is None
    assert exc_type.__name__ in error.message
    for text in (error.message, str(error), repr(error)):
        assert "https://" not in text
        assert "myhuaweicloud" not in text
        assert SECRET not in text
        assert "0123456789abcdef" not in text


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"code": "SDRS.0006"}},
        {"itemNotFound": {"code": "SDRS.1013", "message": ""}},
        {"error_code": "APIGW.0201", "request_id": BODY_REQUEST_ID},
    ],
    ids=["wrapper-no-message", "wrapper-empty-message", "flat-no-message"],
)
def test_recognised_error_without_message_is_not_called_foreign(body: dict[str, object]) -> None:
    """The body was an SDRS/APIGW error (its code is used), just without a message: saying
    'body was not an SDRS error' would contradict the code reported next to it."""
    error = error_from_response(httpx.Response(500, json=body))
    inner = next(iter(v for v in body.values() if isinstance(v, dict)), body)
    assert error.code == (inner.get("code") or inner.get("error_code"))
    assert error.message
    assert "not an SDRS error" not in error.message

"""One error type for everything the SDRS API (or the road to it) can answer."""

from __future__ import annotations

import json
from collections.abc import Iterable

import httpx

from handler.sdrs.api import RETRYABLE_STATUSES, SdrsApiError

STATUS_MEANINGS = {
    400: "bad request",
    401: "authentication failed (check the credentials: HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, the credentials "
    "secret, or on FunctionGraph the agency's temporary AK/SK and security token; not retried, repeated "
    "signature failures lock the key for five minutes)",
    403: "forbidden (the credentials lack SDRS permission for this project; not retried)",
    404: "not found",
    405: "method not allowed",
    406: "not acceptable",
    407: "proxy authentication required",
    408: "request timeout reported by the server",
    409: "conflict (the group may be busy with another task)",
    429: "throttled by the API gateway",
    500: "internal server error",
    501: "not implemented",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}
_SDRS_WRAPPER_KEYS = ("error", "badrequest", "itemNotFound")
_MESSAGE_LIMIT = 300


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every credential value in it replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _parse_body(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    """(code, message, request_id) from either error body shape; Nones when neither."""
    try:
        body = json.loads(response.content) if response.content else None
    except (ValueError, RecursionError):
        return None, None, None
    if not isinstance(body, dict):
        return None, None, None
    if "error_code" in body or "error_msg" in body:  # the API gateway's flat shape
        request_id = body.get("request_id")
        return (
            str(body.get("error_code") or "") or None,
            str(body.get("error_msg") or "") or None,
            request_id if isinstance(request_id, str) else None,
        )
    for key in _SDRS_WRAPPER_KEYS:
        inner = body.get(key)
        if isinstance(inner, dict):
            return str(inner.get("code") or "") or None, str(inner.get("message") or "") or None, None
    return None, None, None


def request_id_of(
    response: httpx.Response, secrets: Iterable[str] = (), body_request_id: str | None = None
) -> str | None:
    """The answer's request id (for support), redacted and clipped: it is what a proxy says it is."""
    request_id = response.headers.get("X-Request-Id") or body_request_id
    return redact(request_id, secrets)[:128] if request_id else None


def error_from_response(response: httpx.Response, secrets: Iterable[str] = ()) -> SdrsApiError:
    """The gateway may echo the AK in a message (`ak:<AK>,err:ak not exist`): redacted."""
    status = response.status_code
    code, api_message, body_request_id = _parse_body(response)
    secrets = tuple(secrets)
    code = redact(code, secrets) if code else code
    api_message = redact(api_message, secrets) if api_message else api_message
    meaning = STATUS_MEANINGS.get(status, "unexpected status")
    if api_message:
        message = f"{meaning}: {_clip(api_message)}"
    elif code:
        message = f"{meaning} ({code}, no message in the body)"
    elif response.content:
        kind = response.headers.get("content-type", "unknown content type").split(";")[0]
        message = f"{meaning} (body was not an SDRS error: {kind}, {len(response.content)} bytes)"
    else:
        message = f"{meaning} (empty body)"
    if status == 401 and api_message and any(w in api_message.lower() for w in ("expire", "time")):
        message += "; the request date was rejected: check this machine's clock (UTC, NTP)"
    return SdrsApiError(
        code=code or f"HTTP.{status}",
        message=message,
        retryable=status in RETRYABLE_STATUSES,
        status_code=status,
        request_id=request_id_of(response, secrets, body_request_id),
    )


def error_from_transport(exc: httpx.TransportError | httpx.DecodingError) -> SdrsApiError:
    if isinstance(exc, httpx.TimeoutException):
        code, what = "Network.Timeout", f"no answer in time ({type(exc).__name__})"
    elif isinstance(exc, httpx.DecodingError):
        code, what = "Response.Invalid", "the answer's body does not match its Content-Encoding"
    else:
        code, what = "Network.Error", f"connection failed ({type(exc).__name__})"
    return SdrsApiError(code=code, message=what, retryable=True)

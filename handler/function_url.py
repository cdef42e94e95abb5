"""The Function URL edge: Huawei Cloud SMN deliveries over HTTPS (payload format 2.0).

A public URL authenticates every request itself: the delivery is verified (handler.smn)
before anything in it is acted on. Then: a subscription is confirmed (GET on its
subscribe_url, only on Huawei Cloud's hosts, no redirects), an unsubscription acknowledged,
and a notification's message handed to the core like any other event.

Answers: 2xx accepted (a verified message that asks for nothing included), 4xx refused (the
body says why), 5xx only when a redelivery can do what this one could not. Imported only for
Function URL events: the other triggers never load it, nor the X.509 code.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from handler.core import Disposition, Invocation, Runtime, handle_smn_message
from handler.observability import logger
from handler.settings import ConfigurationError, load_settings
from handler.smn import CertificateFetcher, SmnConfig, SmnMessage, SmnRefused, allowed_subscribe_url, verify_delivery

if TYPE_CHECKING:
    from handler.models import InvocationResult

MAX_BODY_BYTES = 256 * 1024  # an SMN message is at most 256 KB
CONFIRM_TIMEOUT_SECONDS = 5.0
_certificates = CertificateFetcher()  # downloaded certificates, kept by the warm container


def answer(
    event: dict[str, Any], remaining: float, env: Mapping[str, str], runtime: Runtime
) -> tuple[dict[str, Any], tuple[InvocationResult, ...]]:
    """The HTTP response for one request, and the cleanup results it led to (for metrics)."""
    try:
        body = _body(event)
        settings = load_settings(env)
        delivery = verify_delivery(body, SmnConfig.from_settings(settings), _certificates, time.time)
    except SmnRefused as refused:
        logger.warning("SMN delivery refused", extra={"reason": refused.reason, "message_id": refused.message_id})
        return _response(refused.status, {"accepted": False, "reason": refused.reason}), ()
    except ConfigurationError as exc:
        logger.error("SMN delivery not handled: configuration", extra={"error_message": str(exc)})
        return _response(500, {"accepted": False, "reason": f"configuration: {exc}"}), ()
    log = {"message_id": delivery.message_id, "topic_urn": delivery.topic_urn, "type": delivery.type}
    if delivery.type == "SubscriptionConfirmation":
        return _confirm(delivery, log), ()
    if delivery.type == "UnsubscribeConfirmation":
        logger.info("SMN unsubscription acknowledged", extra=log)
        return _response(200, {"accepted": True, "type": delivery.type}), ()
    logger.info("SMN notification verified", extra=log)
    disposition = handle_smn_message(Invocation(event, remaining, env, runtime), delivery.message)
    return _notification_response(disposition), disposition.results


def _body(event: dict[str, Any]) -> dict[str, Any]:
    method = event["requestContext"]["http"].get("method")
    if method != "POST":
        raise SmnRefused(405, f"only POST is accepted, not {str(method)[:10]}")
    raw = event.get("body") or ""
    if not isinstance(raw, str) or len(raw) > 2 * MAX_BODY_BYTES:
        raise SmnRefused(413, f"the body is over {MAX_BODY_BYTES} bytes")
    data = raw.encode()
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise SmnRefused(400, "the body is not base64, though isBase64Encoded says so") from None
    if len(data) > MAX_BODY_BYTES:
        raise SmnRefused(413, f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        raise SmnRefused(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise SmnRefused(400, "the body is not a JSON object")
    return body


def _confirm(delivery: SmnMessage, log: dict[str, Any]) -> dict[str, Any]:
    url = delivery.subscribe_url or ""
    if not allowed_subscribe_url(url):
        logger.warning("SMN subscription not confirmed: subscribe_url not on Huawei Cloud's hosts", extra=log)
        return _response(403, {"accepted": False, "reason": "subscribe_url is not on a Huawei Cloud console host"})
    import httpx  # only to confirm a subscription

    try:
        with httpx.Client(timeout=CONFIRM_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client:
            confirmed = client.get(url)
    except httpx.HTTPError as exc:
        logger.error("SMN subscription confirmation failed", extra={**log, "error": type(exc).__name__})
        return _response(502, {"accepted": False, "reason": "the subscription could not be confirmed; redeliver"})
    if not confirmed.is_success:
        logger.error("SMN subscription confirmation refused", extra={**log, "status_code": confirmed.status_code})
        return _response(502, {"accepted": False, "reason": f"confirming answered HTTP {confirmed.status_code}"})
    logger.info("SMN subscription confirmed", extra=log)
    return _response(200, {"accepted": True, "type": delivery.type, "confirmed": True})


def _notification_response(disposition: Disposition) -> dict[str, Any]:
    error = disposition.body.get("error") or {}
    if disposition.must_raise:  # a redelivery may do what this run could not
        return _response(503, disposition.body)
    if error.get("type") == "invalid_event":
        return _response(400, disposition.body)
    if error.get("type") == "configuration":
        return _response(500, disposition.body)
    return _response(200, disposition.body)


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, default=str),
    }

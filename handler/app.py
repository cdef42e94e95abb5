"""The Lambda edge: event in, structured result out (or a raise Lambda can retry)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handler.cleanup import CleanupPolicy, invocation_result, run_cleanup
from handler.models import ErrorType, InvocationError, InvocationResult
from handler.observability import logger, metric_counts
from handler.sdrs.api import Deadline
from handler.sdrs.client import RetryPolicy, SdrsClient, connect
from handler.sdrs.credentials import CredentialSource, CredentialsUnavailable, StaticCredentials
from handler.settings import ConfigurationError, Settings, load_settings
from handler.triggers import (
    Defaults,
    InvalidEvent,
    NeedsConfiguration,
    ParsedEvent,
    check_sqs_event,
    is_sqs_event,
    parse_event,
    parse_sqs_body,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "SdrsCleanup"))
_clients: dict[tuple[object, ...], SdrsClient] = {}


class TransientFailure(Exception):
    """Raised for asynchronous triggers when groups still fail transiently, so that Lambda
    retries the event and, after that, hands it to the on-failure destination."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


def credential_source(settings: Settings) -> CredentialSource:
    if settings.credentials_secret_arn is None:
        return StaticCredentials(settings.require_credentials())
    from handler.sdrs.secrets_extension import SecretsExtensionCredentials  # only for secret-based setups

    return SecretsExtensionCredentials(
        settings.credentials_secret_arn,
        settings.aws_session_token,
        port=settings.secrets_extension_port,
        ttl=settings.credentials_ttl,
    )


def sdrs_client(settings: Settings) -> SdrsClient:
    """One client (and connection pool) per configuration, reused by warm invocations: a
    secret's credentials are cached with it, for SDRS_CREDENTIALS_TTL_SECONDS."""
    if settings.credentials_secret_arn is None:
        settings.require_credentials()
    endpoint = settings.require_endpoint()
    key = (
        endpoint,
        settings.credentials,
        settings.credentials_secret_arn,
        settings.credentials_ttl,
        settings.secrets_extension_port,
        hashlib.sha256(settings.aws_session_token.encode()).digest(),  # the key's repr must not show it
        settings.connect_timeout,
        settings.read_timeout,
        settings.max_attempts,
        settings.retry_base_delay,
        settings.retry_max_delay,
        settings.max_concurrency,
        settings.page_size,
    )
    client = _clients.get(key)
    if client is None:
        for stale in _clients.values():
            stale.close()
        _clients.clear()
        connection = connect(
            endpoint,
            credential_source(settings),
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_connections=settings.max_concurrency,
        )
        retry = RetryPolicy(settings.max_attempts, settings.retry_base_delay, settings.retry_max_delay)
        client = _clients[key] = SdrsClient(connection, retry, page_size=settings.page_size)
    return client


def _refused(trigger: str, kind: ErrorType, message: str, retryable: bool = False) -> InvocationResult:
    logger.error("invocation refused", extra={"error_type": str(kind), "error_message": message, "trigger": trigger})
    return InvocationResult(trigger, error=InvocationError(kind, message, retryable))


def _defaults(settings: Settings) -> Defaults:
    return Defaults(settings.default_project_id, settings.default_server_group_ids, settings.sweep_on_schedule)


def _execute(parsed: ParsedEvent, settings: Settings, deadline: Deadline) -> InvocationResult:
    """Clean what a validated event asks for; every failure is in the result."""
    request = replace(parsed.request, dry_run=True) if settings.force_dry_run else parsed.request
    logger.info(
        "cleanup requested",
        extra={
            "trigger": parsed.trigger,
            "dry_run": request.dry_run,
            "groups": len(request.targets),
            "sweep_project_id": request.sweep_project_id,
        },
    )
    if not request.has_work:
        return InvocationResult(parsed.trigger, request.dry_run)
    try:
        client = sdrs_client(settings)
        client.credentials.current()  # a secret is read now: its problems stop the run before any request
    except ConfigurationError as exc:
        return _refused(parsed.trigger, ErrorType.CONFIGURATION, str(exc))
    except CredentialsUnavailable as exc:
        return _refused(parsed.trigger, ErrorType.CONFIGURATION, str(exc), exc.retryable)
    policy = CleanupPolicy(settings.max_concurrency, settings.max_failed_tasks, settings.group_start_margin)
    report = run_cleanup(request, client, deadline, policy)
    return invocation_result(parsed.trigger, request.dry_run, report)


def run(event: Any, remaining_seconds: float, env: Mapping[str, str]) -> tuple[InvocationResult, bool]:
    """Validate, clean, report. Returns the result and whether it should raise (asynchronous
    triggers, when a retry of the event may do what this run could not)."""
    try:
        settings = load_settings(env)
    except ConfigurationError as exc:
        return _refused("unknown", ErrorType.CONFIGURATION, str(exc)), False
    try:
        parsed = parse_event(event, _defaults(settings))
    except InvalidEvent as exc:
        return _refused(exc.trigger, ErrorType.INVALID_EVENT, str(exc)), False
    except NeedsConfiguration as exc:
        return _refused(exc.trigger, ErrorType.CONFIGURATION, str(exc)), False
    if parsed.correlation_id:
        logger.set_correlation_id(parsed.correlation_id)
    deadline = Deadline(remaining_seconds, margin=settings.deadline_margin)
    result = _execute(parsed, settings, deadline)
    return result, parsed.raise_on_transient_failure and result.needs_retry(parsed.recurring)


class RecordNeedsRetry(Exception):
    """An SQS record to be reported in batchItemFailures (SQS delivers it again)."""


def run_sqs_batch(event: dict[str, Any], context: LambdaContext, env: Mapping[str, str]) -> dict[str, Any]:
    """Each record's body is a direct request. Records that fail transiently (or are deferred)
    go back to the queue; a record that can never succeed is reported and logged, not retried."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    try:
        check_sqs_event(event)
    except InvalidEvent as exc:
        result = _refused("sqs", ErrorType.INVALID_EVENT, str(exc))
        _record_metrics(result)
        return {"batchItemFailures": [], **result.to_dict()}
    results: list[tuple[str, InvocationResult]] = []
    try:
        settings: Settings | None = load_settings(env)
    except ConfigurationError as exc:
        settings, config_error = None, str(exc)
    deadline = Deadline(context.get_remaining_time_in_millis() / 1000, settings.deadline_margin if settings else 0)

    def handle(record: SQSRecord) -> None:
        if settings is None:
            results.append((record.message_id, _refused("sqs", ErrorType.CONFIGURATION, config_error)))
            raise RecordNeedsRetry("configuration error")
        try:
            parsed = parse_sqs_body(record.body, _defaults(settings))
        except InvalidEvent as exc:
            results.append((record.message_id, _refused("sqs", ErrorType.INVALID_EVENT, str(exc))))
            return  # never valid: retrying would only loop it to the dead-letter queue
        except NeedsConfiguration as exc:
            results.append((record.message_id, _refused("sqs", ErrorType.CONFIGURATION, str(exc))))
            raise RecordNeedsRetry("configuration error") from None
        result = _execute(parsed, settings, deadline)
        results.append((record.message_id, result))
        configuration_problem = result.error is not None and result.error.type is ErrorType.CONFIGURATION
        if configuration_problem or result.needs_retry(recurring=False):  # SQS is the retry: what is left goes back
            raise RecordNeedsRetry(f"record {record.message_id}: transient failures or deferred groups")

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
    for _, result in results:
        _record_metrics(result)
    return fit_response(
        {
            **response,
            "ok": all(result.ok for _, result in results),
            "trigger": "sqs",
            "records": [{"message_id": message_id, **result.to_dict()} for message_id, result in results],
        }
    )


# Lambda refuses a response over 6 MB (the invocation then fails after the deletes were
# done); the audit record is in the logs, so an oversized response drops the task lists.
MAX_RESPONSE_BYTES = 5_000_000
# A failed task takes about 450 bytes in the response: below this many, no need to measure.
_TASKS_BEFORE_MEASURING = 4_000


def _groups_in(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for record in payload.get("records", [payload]):
        yield from record.get("groups", [])


def fit_response(payload: dict[str, Any], limit: int = MAX_RESPONSE_BYTES) -> dict[str, Any]:
    if sum(len(g["failure_jobs"]) for g in _groups_in(payload)) < _TASKS_BEFORE_MEASURING:
        return payload
    if len(json.dumps(payload, default=str)) <= limit:
        return payload
    for group in _groups_in(payload):
        group["failure_jobs_count"] = len(group["failure_jobs"])
        group["failure_jobs"] = []
    payload["failure_jobs_omitted"] = (
        "the response would exceed Lambda's 6 MB limit: failure_jobs lists are empty here, "
        "failure_jobs_count says how many there were, and every one is in the logs"
    )
    logger.warning("failure_jobs omitted from the response", extra={"limit_bytes": limit})
    return payload


def _record_metrics(result: InvocationResult) -> None:
    for name, value in metric_counts(result).items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    if is_sqs_event(event):
        return run_sqs_batch(event, context, os.environ)
    result, must_raise = run(event, context.get_remaining_time_in_millis() / 1000, os.environ)
    _record_metrics(result)
    logger.info(
        "invocation finished",
        extra={"ok": result.ok, "trigger": result.trigger, "summary": result.summary()},
    )
    if must_raise:
        reason = result.error.message if result.error else "transient failures"
        raise TransientFailure(f"{reason}; raised so that Lambda retries the event", result.to_dict())
    return fit_response(result.to_dict())

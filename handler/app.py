"""The Lambda edge: event in, structured result out (or a raise Lambda can retry)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handler.cleanup import clean_groups
from handler.models import ErrorType, InvocationError, InvocationResult, Outcome
from handler.observability import logger
from handler.sdrs.client import Deadline, RetryPolicy, SdrsClient, build_http_client
from handler.settings import ConfigurationError, Settings, load_settings
from handler.triggers import Defaults, InvalidEvent, NeedsConfiguration, parse_event

metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "SdrsCleanup"))
_clients: dict[tuple[object, ...], SdrsClient] = {}


class TransientFailure(Exception):
    """Raised for asynchronous triggers when groups still fail transiently, so that Lambda
    retries the event and, after that, hands it to the on-failure destination."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


def sdrs_client(settings: Settings) -> SdrsClient:
    """One client (and connection pool) per configuration, reused by warm invocations."""
    credentials, endpoint = settings.require_credentials(), settings.require_endpoint()
    key = (endpoint, credentials, settings.connect_timeout, settings.read_timeout, settings.max_attempts)
    client = _clients.get(key)
    if client is None:
        for stale in _clients.values():
            stale.close()
        _clients.clear()
        http = build_http_client(
            endpoint, credentials, connect_timeout=settings.connect_timeout, read_timeout=settings.read_timeout
        )
        client = _clients[key] = SdrsClient(http, RetryPolicy(max_attempts=settings.max_attempts))
    return client


def _refused(trigger: str, kind: ErrorType, message: str) -> InvocationResult:
    logger.error("invocation refused", extra={"error_type": str(kind), "error_message": message, "trigger": trigger})
    return InvocationResult(trigger, error=InvocationError(kind, message))


def run(event: Any, remaining_seconds: float, env: Mapping[str, str]) -> tuple[InvocationResult, bool]:
    """Validate, clean, report. Returns the result and whether a transient failure should raise."""
    try:
        settings = load_settings(env)
    except ConfigurationError as exc:
        return _refused("unknown", ErrorType.CONFIGURATION, str(exc)), False
    try:
        parsed = parse_event(event, Defaults(settings.default_project_id, settings.default_server_group_ids))
    except InvalidEvent as exc:
        return _refused(exc.trigger, ErrorType.INVALID_EVENT, str(exc)), False
    except NeedsConfiguration as exc:
        return _refused(exc.trigger, ErrorType.CONFIGURATION, str(exc)), False
    request = replace(parsed.request, dry_run=True) if settings.force_dry_run else parsed.request
    if parsed.correlation_id:
        logger.set_correlation_id(parsed.correlation_id)
    logger.info(
        "cleanup requested",
        extra={"trigger": parsed.trigger, "dry_run": request.dry_run, "groups": len(request.targets)},
    )
    if not request.targets:
        return InvocationResult(parsed.trigger, request.dry_run), False
    try:
        client = sdrs_client(settings)
    except ConfigurationError as exc:
        return _refused(parsed.trigger, ErrorType.CONFIGURATION, str(exc)), False
    groups = clean_groups(request, client, Deadline(remaining_seconds, margin=settings.deadline_margin))
    failed = [g for g in groups if g.outcome is Outcome.FAILED]
    error = None
    if failed:
        summary = "; ".join(f"{g.server_group_id}: {g.error.code if g.error else '?'}" for g in failed)
        error = InvocationError(ErrorType.GROUP_FAILURES, f"{len(failed)} of {len(groups)} groups failed: {summary}")
    return InvocationResult(parsed.trigger, request.dry_run, groups, error), parsed.raise_on_transient_failure


def _record_metrics(result: InvocationResult) -> None:
    if result.error and result.error.type is ErrorType.INVALID_EVENT:
        metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
    elif result.error and result.error.type is ErrorType.CONFIGURATION:
        metrics.add_metric(name="ConfigurationErrors", unit=MetricUnit.Count, value=1)
    outcomes = [g.outcome for g in result.groups]
    metrics.add_metric(name="GroupsProcessed", unit=MetricUnit.Count, value=len(outcomes))
    deleted = sum(len(g.failure_jobs) for g in result.groups if g.outcome is Outcome.DELETED)
    metrics.add_metric(name="FailedTasksDeleted", unit=MetricUnit.Count, value=deleted)
    if result.dry_run:
        would = sum(len(g.failure_jobs) for g in result.groups if g.outcome is Outcome.WOULD_DELETE)
        metrics.add_metric(name="FailedTasksWouldDelete", unit=MetricUnit.Count, value=would)
    transient = len(result.retryable_failures)
    permanent = outcomes.count(Outcome.FAILED) - transient
    if transient:
        metrics.add_metric(name="TransientApiFailures", unit=MetricUnit.Count, value=transient)
    if permanent:
        metrics.add_metric(name="PermanentApiFailures", unit=MetricUnit.Count, value=permanent)


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    result, raise_on_transient = run(event, context.get_remaining_time_in_millis() / 1000, os.environ)
    _record_metrics(result)
    outcomes = [str(g.outcome) for g in result.groups]
    logger.info(
        "invocation finished",
        extra={"ok": result.ok, "trigger": result.trigger, "outcomes": {o: outcomes.count(o) for o in set(outcomes)}},
    )
    if raise_on_transient and result.retryable_failures:
        failing = ", ".join(g.server_group_id for g in result.retryable_failures)
        raise TransientFailure(
            f"transient SDRS failures for {len(result.retryable_failures)} group(s) ({failing}); "
            "raised so Lambda retries the event",
            result.to_dict(),
        )
    return result.to_dict()

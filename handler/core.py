"""The one call every edge makes: a platform-neutral invocation in, what the edge must do out.

    Invocation(event, time left, environment, runtime)
      → settings → trigger → validated request → cleanup → result(s)
      → Disposition: return this body, raise with it, or (a batch) report these items failed

Edges (`handler.app` for Lambda, `handler.function_url` for SMN over HTTPS on a Function URL,
`handler.functiongraph` for FunctionGraph) only adapt their platform to an `Invocation` and a
`Disposition` back to the platform.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import field, replace
from datetime import datetime
from typing import Any, Protocol

from handler.models import ErrorType, InvocationError, InvocationResult, Outcome, Retry
from handler.observability import logger
from handler.sdrs.api import Deadline, SdrsApi
from handler.sdrs.credentials import CredentialsUnavailable
from handler.settings import ConfigurationError, Settings, load_settings
from handler.triggers import (
    Defaults,
    InvalidEvent,
    NeedsConfiguration,
    ParsedEvent,
    check_sqs_event,
    is_sqs_event,
    parse_event,
    parse_functiongraph_event,
    parse_smn_message,
    parse_sqs_body,
    preload_aws_envelopes,
)
from handler.values import value_object


class SdrsProvider(Protocol):
    """How to reach SDRS: the client for these settings, credentials read (raises
    ConfigurationError or CredentialsUnavailable). `handler.sdrs.factory.ClientFactory` is one."""

    def __call__(self, settings: Settings) -> SdrsApi: ...


@value_object
class Runtime:
    """What an edge lends the core besides the event: the way to SDRS, and the clock that
    measures the time left."""

    sdrs: SdrsProvider
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time  # where a sweep starts when no schedule says when


@value_object
class Invocation:
    """One invocation as the core sees it, whatever the platform: the event, the time left, the environment, the
    runtime."""

    event: Any
    remaining_seconds: float
    env: Mapping[str, str] = field(repr=False)  # may hold credentials
    runtime: Runtime


class TransientFailure(Exception):
    """What an edge raises for an asynchronous trigger when a retry of the event may do what this
    run could not, so that the platform retries it (and then hands it to its failure destination)."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


@value_object
class Disposition:
    """What the edge must do. `body` is the structured result (a batch's has `batchItemFailures`);
    `results` are the invocation's results (one per record for a batch), for metrics."""

    body: dict[str, Any]
    results: tuple[InvocationResult, ...]
    must_raise: bool = False
    failed_items: tuple[str, ...] = field(default=())

    @property
    def failure(self) -> str:
        """What failed, in a line (for the exception an edge raises)."""
        error = self.results[0].error if len(self.results) == 1 else None
        return error.message if error else "transient failures"


def should_retry(result: InvocationResult, retry: Retry) -> bool:
    """Whether the platform should deliver the event (or the record) again: the one place
    this is decided. Groups deferred for lack of time count only for one-off work: a timer
    runs again anyway. A queue record also goes back on a configuration problem (it may be
    fixed before the queue gives up on it)."""
    if retry is Retry.NONE:
        return False
    if retry is Retry.RECORD and result.error is not None and result.error.type is ErrorType.CONFIGURATION:
        return True
    if result.retryable_failures:
        return True
    error = result.error
    if error is not None and error.retryable and error.type in (ErrorType.DISCOVERY_FAILED, ErrorType.CONFIGURATION):
        return True
    return retry is not Retry.TIMER and result.count(Outcome.DEFERRED) > 0


# The deadline margin when SDRS_DEADLINE_MARGIN_SECONDS is unset: a tenth of the time given, within
# these bounds (returning the result takes milliseconds; a long run keeps more in reserve).
AUTO_MARGIN_BOUNDS = (0.2, 2.0)


def deadline_margin(settings: Settings | None, remaining: float) -> float:
    if settings is not None and settings.deadline_margin is not None:
        return settings.deadline_margin
    low, high = AUTO_MARGIN_BOUNDS
    return min(high, max(low, remaining / 10))


def preload() -> None:
    """What the first request imports besides the HTTP stack (the domain), and the models of every
    AWS trigger family, for SnapStart's init (Lambda's); without it, an event that needs no request
    never loads the domain, and an event loads only its own family's models."""
    import handler.cleanup  # noqa: F401

    preload_aws_envelopes()


def _deadline(invocation: Invocation, settings: Settings | None) -> Deadline:
    margin = deadline_margin(settings, invocation.remaining_seconds)
    return Deadline(invocation.remaining_seconds, margin, invocation.runtime.clock)


def sweep_start(scheduled_at: str | None, rotation_hours: float, wall_clock: Callable[[], float]) -> float:
    """Where a sweep starts in its sorted groups, as a fraction: the scheduled time's position in
    a window of `rotation_hours` (0: always the first). Runs spread over the window start at
    points spread round the groups, so if each run gets through at least its share of them
    (interval / window), every group is reached within one window of runs."""
    if rotation_hours <= 0:
        return 0.0
    moment = wall_clock()
    if scheduled_at:
        with contextlib.suppress(ValueError):  # not a time (the field is the caller's): the wall clock
            moment = datetime.fromisoformat(scheduled_at).timestamp()
    window = rotation_hours * 3600
    return (moment % window) / window


def with_retry_meaning(result: InvocationResult, retry: Retry) -> InvocationResult:
    """`retryable` is true only where a retry of the same event will happen (or, for a caller
    that reads the result, can help). Groups a timer run deferred wait for the next run: nothing
    retries them, so they are not retryable."""
    if retry is not Retry.TIMER or not result.count(Outcome.DEFERRED):
        return result
    groups = [
        replace(g, error=replace(g.error, retryable=False)) if g.outcome is Outcome.DEFERRED and g.error else g
        for g in result.groups
    ]
    error = result.error
    if error is not None and error.type in (ErrorType.DEADLINE, ErrorType.GROUP_FAILURES):
        transient = any(g.outcome is Outcome.FAILED and g.error and g.error.retryable for g in groups)
        error = replace(error, retryable=transient)
    return replace(result, groups=groups, error=error)


def handle(invocation: Invocation) -> Disposition:
    """Validate, clean, report. Every failure is in the result; nothing raises."""
    if is_sqs_event(invocation.event):
        return _batch(invocation)
    return handle_parsed(invocation, lambda defaults: parse_event(invocation.event, defaults))


def handle_parsed(invocation: Invocation, parse: Callable[[Defaults], ParsedEvent]) -> Disposition:
    """As `handle`, for an edge that has recognised its event itself (a verified SMN delivery):
    `parse` turns it into the request, raising InvalidEvent or NeedsConfiguration."""
    result, retry = _single(invocation, parse)
    payload = result.to_dict()
    logger.info(
        "invocation finished", extra={"ok": payload["ok"], "trigger": result.trigger, "summary": payload["summary"]}
    )
    return Disposition(fit_response(payload, result.listed_bytes), (result,), should_retry(result, retry))


def handle_smn_message(invocation: Invocation, message: str) -> Disposition:
    """The message of a verified SMN delivery (a direct request, or a Cloud Eye alarm)."""
    return handle_parsed(invocation, lambda defaults: parse_smn_message(message, defaults))


def handle_functiongraph(invocation: Invocation) -> Disposition:
    """A FunctionGraph event: a TIMER trigger's, an SMN trigger's, or a direct request."""
    return handle_parsed(invocation, lambda defaults: parse_functiongraph_event(invocation.event, defaults))


def _single(invocation: Invocation, parse: Callable[[Defaults], ParsedEvent]) -> tuple[InvocationResult, Retry]:
    try:
        settings = load_settings(invocation.env)
    except ConfigurationError as exc:
        return _refused("unknown", ErrorType.CONFIGURATION, str(exc)), Retry.NONE
    try:
        parsed = parse(_defaults(settings))
    except (InvalidEvent, NeedsConfiguration) as exc:
        return _refusal(exc), Retry.NONE
    if parsed.correlation_id:
        logger.set_correlation_id(parsed.correlation_id)
    deadline = _deadline(invocation, settings)
    return with_retry_meaning(_execute(parsed, settings, deadline, invocation.runtime), parsed.retry), parsed.retry


def _batch(invocation: Invocation) -> Disposition:
    """An SQS batch: each record's body is a request, handled in turn against one deadline.
    Records worth another delivery are reported failed; one that can never be valid is
    reported in the result and logged, not sent back (it would only loop to the dead-letter queue)."""
    try:
        check_sqs_event(invocation.event)
    except InvalidEvent as exc:
        refused = _refusal(exc)
        return Disposition({"batchItemFailures": [], **refused.to_dict()}, (refused,))
    try:
        settings: Settings | ConfigurationError = load_settings(invocation.env)
    except ConfigurationError as exc:
        settings = exc
    deadline = _deadline(invocation, settings if isinstance(settings, Settings) else None)
    records: list[tuple[str, InvocationResult]] = []
    failed: list[str] = []
    for record in invocation.event["Records"]:
        message_id = record["messageId"]
        try:
            result = _record(record["body"], settings, deadline, invocation.runtime)
        except Exception:  # a bug must not lose the other records: this one goes back to the queue
            logger.exception("SQS record failed unexpectedly", extra={"message_id": message_id})
            failed.append(message_id)
            continue
        records.append((message_id, result))
        if should_retry(result, Retry.RECORD):
            failed.append(message_id)
    body = {
        "batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed],
        "ok": all(result.ok for _, result in records),
        "trigger": "sqs",
        "records": [{"message_id": message_id, **result.to_dict()} for message_id, result in records],
    }
    weights = [result.listed_bytes for _, result in records]
    weight = None if None in weights else sum(w or 0 for w in weights)
    return Disposition(fit_response(body, weight), tuple(result for _, result in records), failed_items=tuple(failed))


def _record(
    body: str, settings: Settings | ConfigurationError, deadline: Deadline, runtime: Runtime
) -> InvocationResult:
    if isinstance(settings, ConfigurationError):
        return _refused("sqs", ErrorType.CONFIGURATION, str(settings))
    try:
        parsed = parse_sqs_body(body, _defaults(settings))
    except (InvalidEvent, NeedsConfiguration) as exc:
        return _refusal(exc)
    return with_retry_meaning(_execute(parsed, settings, deadline, runtime), parsed.retry)


def _execute(parsed: ParsedEvent, settings: Settings, deadline: Deadline, runtime: Runtime) -> InvocationResult:
    """Clean what a validated event asks for; every failure is in the result."""
    request = replace(parsed.request, dry_run=True) if settings.force_dry_run else parsed.request
    if request.sweep_project_id is not None:
        start = sweep_start(parsed.scheduled_at, settings.sweep_rotation_hours, runtime.wall_clock)
        request = replace(request, sweep_start=start)
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
        if parsed.ignored:
            logger.info("nothing to do", extra={"trigger": parsed.trigger, "reason": parsed.ignored})
        return InvocationResult(parsed.trigger, request.dry_run, note=parsed.ignored)
    try:
        api = runtime.sdrs(settings)
    except ConfigurationError as exc:
        return _refused(parsed.trigger, ErrorType.CONFIGURATION, str(exc))
    except CredentialsUnavailable as exc:
        return _refused(parsed.trigger, ErrorType.CONFIGURATION, str(exc), exc.retryable)
    from handler.cleanup import CleanupPolicy, invocation_result, run_cleanup  # the domain: for work only

    policy = CleanupPolicy(settings.max_concurrency, settings.max_failed_tasks, settings.group_start_margin)
    report = run_cleanup(request, api, deadline, policy)
    return invocation_result(parsed.trigger, request.dry_run, report)


def _defaults(settings: Settings) -> Defaults:
    return Defaults(settings.default_project_id, settings.default_server_group_ids, settings.sweep_on_schedule)


def _refusal(exc: InvalidEvent | NeedsConfiguration) -> InvocationResult:
    kind = ErrorType.INVALID_EVENT if isinstance(exc, InvalidEvent) else ErrorType.CONFIGURATION
    return _refused(exc.trigger, kind, str(exc))


def _refused(trigger: str, kind: ErrorType, message: str, retryable: bool = False) -> InvocationResult:
    logger.error("invocation refused", extra={"error_type": str(kind), "error_message": message, "trigger": trigger})
    return InvocationResult(trigger, error=InvocationError(kind, message, retryable))


# Lambda refuses a response over 6 MB (the invocation then fails after the deletes were
# done); the audit record is in the logs, so an oversized response drops the task lists.
MAX_RESPONSE_BYTES = 5_000_000
# A result's size as Lambda serialises it, from what its failed tasks weighed as the API sent them:
# JSON escapes (\uXXXX for UTF-8 bytes) and separators make it at most about three times that,
# plus a few hundred bytes per group.
_WEIGHT_FACTOR, _BYTES_PER_GROUP, _BYTES_OF_THE_REST = 3, 600, 20_000


def _groups_in(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for record in payload.get("records", [payload]):
        yield from record.get("groups", [])


def fit_response(
    payload: dict[str, Any], listed_bytes: int | None = None, limit: int = MAX_RESPONSE_BYTES
) -> dict[str, Any]:
    """The payload, or, when it would be over `limit`, the payload without its failure_jobs lists
    (their counts stay). A response whose listings weighed little is not measured: its bound
    (from `listed_bytes`, a running size) is under the limit; any other is measured exactly,
    and measured again once trimmed."""
    groups = list(_groups_in(payload))
    if listed_bytes is not None:
        bound = _WEIGHT_FACTOR * listed_bytes + _BYTES_PER_GROUP * len(groups) + _BYTES_OF_THE_REST
        if bound <= limit:
            return payload
    size = len(json.dumps(payload, default=str))
    if size <= limit:
        return payload
    for group in groups:
        group["failure_jobs_count"] = len(group["failure_jobs"])
        group["failure_jobs"] = []
    payload["failure_jobs_omitted"] = (
        "the response would exceed Lambda's 6 MB limit: failure_jobs lists are empty here, "
        "failure_jobs_count says how many there were, and every one is in the logs"
    )
    trimmed = len(json.dumps(payload, default=str))
    if trimmed > limit:  # groups alone too many to answer: the summary and the logs remain
        for record in payload.get("records", [payload]):
            record["groups_omitted"] = len(record.get("groups", []))
            record["groups"] = []
        trimmed = len(json.dumps(payload, default=str))
    logger.warning(
        "failure_jobs omitted from the response", extra={"limit_bytes": limit, "bytes": size, "trimmed_bytes": trimmed}
    )
    return payload

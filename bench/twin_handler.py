"""The benchmark's twin of `handler.app`: the same function, its SDRS client the official SDK.

Only the client differs. `SdkSdrsApi` implements `handler.cleanup.SdrsApi` on top of
`huaweicloudsdksdrs` (`list_failure_jobs` with the `server_group_id` filter, paged by
limit/offset until `count`; `delete_server_group_failure_jobs`; `list_protection_groups` for
sweeps), turns the SDK's exceptions into `SdrsApiError` and its models back into dicts. The rest
is the function's own code, unchanged: `handler.cleanup.run_cleanup` (the pool, the safety
brake, the deadline checks), `handler.triggers.parse_event`, `handler.models`, the Powertools
logger of `handler.observability`.

The edge below mirrors `handler.app` (`run`, `_execute`, `_record_metrics`, `lambda_handler`,
the same log lines and metrics) instead of importing it: `handler.app` imports
`handler.settings` and `handler.sdrs.client`, which import httpx, and the twin would pay for
loading it. What it leaves out: the settings are read without `handler.settings`' validation,
SQS batches (not benchmarked) and `fit_response` (a count of the failed tasks for results this
small). The SDK retries nothing by default, and neither does the adapter.

The twin's artifact holds the SDK, Powertools, pydantic, this module, and the handler modules
that import no httpx: `handler/{models,observability,triggers,cleanup}.py` and
`handler/sdrs/api.py`. Never shipped: `bench/sdk_benchmark.py` builds and measures it.

Importing the SDK writes `$HOME/.huaweicloud/application_id`: run it with HOME set to a
scratch directory.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import (
    ConnectionException,
    RequestTimeoutException,
    SdkException,
    ServiceResponseException,
)
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdksdrs.v1 import (
    DeleteServerGroupFailureJobsRequest,
    ListFailureJobsRequest,
    ListProtectionGroupsRequest,
    SdrsClient,
)

from handler.cleanup import CleanupPolicy, invocation_result, run_cleanup
from handler.models import ErrorType, InvocationError, InvocationResult
from handler.observability import logger, metric_counts
from handler.sdrs.api import (
    RETRYABLE_STATUSES,
    Deadline,
    FailureJobListing,
    Reply,
    SdrsApiError,
    ServerGroupPage,
    invalid_response,
    listing_complete,
)
from handler.triggers import Defaults, InvalidEvent, NeedsConfiguration, ParsedEvent, parse_event

metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "SdrsCleanup"))
# As `handler.sdrs.client.RetryPolicy.min_attempt_time`: no call started with less time left.
MIN_ATTEMPT_TIME = 1.0
# X-Request-Id of the last answer on this thread: the SDK's typed responses drop the headers.
_last_answer = threading.local()


# --- the settings: the function's variables, read without its validation ----------------------------


@dataclass(frozen=True, slots=True)
class TwinSettings:
    access_key: str
    secret_key: str
    security_token: str | None
    endpoint: str | None
    region: str | None
    default_project_id: str | None
    default_server_group_ids: tuple[str, ...]
    sweep_on_schedule: bool
    force_dry_run: bool
    connect_timeout: float
    read_timeout: float
    max_concurrency: int
    max_failed_tasks: int
    group_start_margin: float
    deadline_margin: float
    page_size: int


def load_settings(env: Mapping[str, str]) -> TwinSettings:
    groups = env.get("SDRS_SERVER_GROUP_IDS", "").strip()
    sweep = groups.lower() == "all"
    ids = () if sweep else tuple(dict.fromkeys(g.strip() for g in groups.split(",") if g.strip()))
    return TwinSettings(
        access_key=env.get("HUAWEICLOUD_SDK_AK", "").strip(),
        secret_key=env.get("HUAWEICLOUD_SDK_SK", "").strip(),
        security_token=env.get("HUAWEICLOUD_SDK_SECURITY_TOKEN", "").strip() or None,
        endpoint=env.get("SDRS_ENDPOINT", "").strip().rstrip("/") or None,
        region=env.get("SDRS_REGION", "").strip() or None,
        default_project_id=env.get("HUAWEICLOUD_SDK_PROJECT_ID", "").strip() or None,
        default_server_group_ids=ids,
        sweep_on_schedule=sweep,
        force_dry_run=env.get("SDRS_DRY_RUN", "").strip().lower() in ("true", "1", "yes"),
        connect_timeout=float(env.get("SDRS_CONNECT_TIMEOUT") or 5),
        read_timeout=float(env.get("SDRS_READ_TIMEOUT") or 30),
        max_concurrency=int(env.get("SDRS_MAX_CONCURRENCY") or 16),
        max_failed_tasks=int(env.get("SDRS_MAX_FAILED_TASKS") or 2000),
        group_start_margin=float(env.get("SDRS_GROUP_START_MARGIN_SECONDS") or 5),
        deadline_margin=float(env.get("SDRS_DEADLINE_MARGIN_SECONDS") or 2),
        page_size=int(env.get("SDRS_PAGE_SIZE") or 1000),
    )


# --- the client: handler.cleanup.SdrsApi over the official SDK ---------------------------------------


def _keep_request_id(**kwargs: Any) -> None:
    _last_answer.request_id = kwargs["response"].headers.get("X-Request-Id")


def _error(exc: SdkException) -> SdrsApiError:
    """The SDK's exceptions as `SdrsApiError`, classified as the function's client classifies them."""
    if isinstance(exc, ServiceResponseException):  # ClientRequestException (4xx), ServerResponseException (5xx)
        status = int(exc.status_code)
        return SdrsApiError(
            exc.error_code or f"HTTP.{status}",
            str(exc.error_msg or "no message in the body"),
            retryable=status in RETRYABLE_STATUSES,
            status_code=status,
            request_id=exc.request_id,
        )
    if isinstance(exc, RequestTimeoutException):  # CallTimeoutException, RetryOutageException
        return SdrsApiError("Network.Timeout", f"no answer in time ({type(exc).__name__})", retryable=True)
    if isinstance(exc, ConnectionException):  # HostUnreachableException, SslHandShakeException
        return SdrsApiError("Network.Error", f"connection failed ({type(exc).__name__})", retryable=True)
    return SdrsApiError("Response.Invalid", f"{type(exc).__name__}: {exc.error_msg}", retryable=True)


class SdkSdrsApi:
    """`handler.cleanup.SdrsApi` on `huaweicloudsdksdrs`: one SDK client (a `requests` session)
    per project, since the SDK binds the project to the credentials, made on first use."""

    def __init__(self, settings: TwinSettings) -> None:
        self._settings = settings
        self._clients: dict[str, Any] = {}
        self._making_client = threading.Lock()  # a sweep's audits ask for it from many threads at once

    def client(self, project_id: str) -> Any:
        client = self._clients.get(project_id)
        if client is not None:
            return client
        with self._making_client:
            if project_id in self._clients:
                return self._clients[project_id]
            s = self._settings
            credentials = BasicCredentials(s.access_key, s.secret_key, project_id)
            if s.security_token:
                credentials = credentials.with_security_token(s.security_token)
            config = HttpConfig(
                timeout=(s.connect_timeout, s.read_timeout), pool_connections=1, pool_maxsize=s.max_concurrency
            )
            builder = (
                SdrsClient.new_builder()
                .with_credentials(credentials)
                .with_http_config(config)
                .with_http_handler(HttpHandler().add_response_handler(_keep_request_id))
            )
            if s.endpoint:
                builder = builder.with_endpoints([s.endpoint])
            else:
                from huaweicloudsdksdrs.v1.region.sdrs_region import SdrsRegion

                builder = builder.with_region(SdrsRegion.value_of(s.region))
            client = self._clients[project_id] = builder.build()
            return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def _call(self, method: Callable[[Any], Any], request: Any, deadline: Deadline) -> tuple[Any, Reply]:
        """One request through the SDK (which cannot bound it by the deadline: its timeouts are
        the client's), its failures as SdrsApiError."""
        left = deadline.remaining()
        if left < MIN_ATTEMPT_TIME:
            message = f"not enough invocation time left to call the API ({left:.1f}s)"
            raise SdrsApiError("Deadline.Exceeded", message, retryable=True, attempts=0)
        try:
            response = method(request)
        except SdkException as exc:
            raise _error(exc) from None
        return response, Reply(response.status_code, _last_answer.request_id, 1)

    def list_failure_jobs(self, project_id: str, server_group_id: str, deadline: Deadline) -> FailureJobListing:
        """Every failed task of one group, all pages (the audit record)."""
        client = self.client(project_id)
        jobs: list[dict[str, Any]] = []
        while True:
            request = ListFailureJobsRequest(
                server_group_id=server_group_id, limit=self._settings.page_size, offset=len(jobs)
            )
            response, reply = self._call(client.list_failure_jobs, request, deadline)
            count = response.count
            if type(count) is not int or response.failure_jobs is None:
                raise invalid_response("the listing was not the expected JSON ({count, failure_jobs})", reply)
            page = [job.to_dict() for job in response.failure_jobs]  # the SDK's fields only
            if listing_complete(jobs, page, count, reply):
                return FailureJobListing(jobs, reply)

    def delete_group_failure_jobs(self, project_id: str, server_group_id: str, deadline: Deadline) -> Reply:
        request = DeleteServerGroupFailureJobsRequest(server_group_id=server_group_id)
        _, reply = self._call(self.client(project_id).delete_server_group_failure_jobs, request, deadline)
        if reply.status_code != 204:
            raise invalid_response(f"expected HTTP 204, got {reply.status_code}", reply)
        return reply

    def server_groups_page(self, project_id: str, offset: int, deadline: Deadline) -> ServerGroupPage:
        request = ListProtectionGroupsRequest(limit=self._settings.page_size, offset=offset)
        response, reply = self._call(self.client(project_id).list_protection_groups, request, deadline)
        count = response.count
        if type(count) is not int or response.server_groups is None:
            raise invalid_response("the listing was not the expected JSON ({count, server_groups})", reply)
        return ServerGroupPage(count, [group.to_dict() for group in response.server_groups], reply)


_apis: dict[TwinSettings, SdkSdrsApi] = {}


def sdk_api(settings: TwinSettings) -> SdkSdrsApi:
    """One adapter per configuration, reused by warm invocations (as `handler.app.sdrs_client`)."""
    api = _apis.get(settings)
    if api is None:
        for stale in _apis.values():
            stale.close()
        _apis.clear()
        api = _apis[settings] = SdkSdrsApi(settings)
    return api


# --- the edge: handler.app's, with the adapter in place of handler.sdrs.client ----------------------


class TransientFailure(Exception):
    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


def _refused(trigger: str, kind: ErrorType, message: str, retryable: bool = False) -> InvocationResult:
    logger.error("invocation refused", extra={"error_type": str(kind), "error_message": message, "trigger": trigger})
    return InvocationResult(trigger, error=InvocationError(kind, message, retryable))


def _execute(parsed: ParsedEvent, settings: TwinSettings, deadline: Deadline) -> InvocationResult:
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
    if not (settings.access_key and settings.secret_key) or not (settings.endpoint or settings.region):
        return _refused(parsed.trigger, ErrorType.CONFIGURATION, "no credentials or no endpoint")
    policy = CleanupPolicy(settings.max_concurrency, settings.max_failed_tasks, settings.group_start_margin)
    report = run_cleanup(request, sdk_api(settings), deadline, policy)
    return invocation_result(parsed.trigger, request.dry_run, report)


def run(event: Any, remaining_seconds: float, env: Mapping[str, str]) -> tuple[InvocationResult, bool]:
    settings = load_settings(env)
    defaults = Defaults(settings.default_project_id, settings.default_server_group_ids, settings.sweep_on_schedule)
    try:
        parsed = parse_event(event, defaults)
    except InvalidEvent as exc:
        return _refused(exc.trigger, ErrorType.INVALID_EVENT, str(exc)), False
    except NeedsConfiguration as exc:
        return _refused(exc.trigger, ErrorType.CONFIGURATION, str(exc)), False
    if parsed.correlation_id:
        logger.set_correlation_id(parsed.correlation_id)
    deadline = Deadline(remaining_seconds, margin=settings.deadline_margin)
    result = _execute(parsed, settings, deadline)
    return result, parsed.raise_on_transient_failure and result.needs_retry(parsed.recurring)


def _record_metrics(result: InvocationResult) -> None:
    for name, value in metric_counts(result).items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    result, must_raise = run(event, context.get_remaining_time_in_millis() / 1000, os.environ)
    _record_metrics(result)
    logger.info(
        "invocation finished",
        extra={"ok": result.ok, "trigger": result.trigger, "summary": result.summary()},
    )
    if must_raise:
        reason = result.error.message if result.error else "transient failures"
        raise TransientFailure(f"{reason}; raised so that Lambda retries the event", result.to_dict())
    return result.to_dict()

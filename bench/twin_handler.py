"""The benchmark's twin of `handler.app`: the same function, its SDRS client the official SDK.

Only the client differs. `SdkSdrsApi` implements the port `handler.sdrs.api.SdrsApi` on
`huaweicloudsdksdrs` (`list_failure_jobs` with the `server_group_id` filter, paged by
limit/offset until `count`; `delete_server_group_failure_jobs`; `list_protection_groups` for
sweeps), turns the SDK's exceptions into `SdrsApiError` and its models back into dicts.
`lambda_handler` is `handler.app.lambda_handler` with a `Runtime` whose provider makes these
adapters: the edge, the core (settings, event validation, the cleanup, the result, the retry
decision), the logger and the metrics are the function's own. The SDK retries nothing by
default, and neither does the adapter.

No httpx: nothing the twin imports loads it (`bench/sdk_benchmark.py` checks). Its artifact
holds the SDK, Powertools, pydantic, this module and the handler modules of
`sdk_benchmark.TWIN_HANDLER_MODULES`. Never shipped.

Importing the SDK writes `$HOME/.huaweicloud/application_id`: run it with HOME set to a
scratch directory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

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

from handler import app
from handler.core import Runtime
from handler.sdrs.api import (
    RETRYABLE_STATUSES,
    Deadline,
    FailureJobListing,
    ListingPage,
    Reply,
    SdrsApiError,
    ServerGroupPage,
    invalid_response,
    read_listing,
)
from handler.sdrs.config import ClientConfig
from handler.sdrs.credentials import Credentials
from handler.settings import ConfigurationError, Settings

# X-Request-Id of the last answer on this thread: the SDK's typed responses drop the headers.
_last_answer = threading.local()


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
    """`handler.sdrs.api.SdrsApi` on `huaweicloudsdksdrs`: one SDK client (a `requests` session)
    per project, since the SDK binds the project to the credentials, made on first use."""

    def __init__(self, config: ClientConfig, credentials: Credentials) -> None:
        self._config, self._credentials = config, credentials
        self._clients: dict[str, Any] = {}
        self._making_client = threading.Lock()  # a sweep's audits ask for it from many threads at once

    def client(self, project_id: str) -> Any:
        client = self._clients.get(project_id)
        if client is not None:
            return client
        with self._making_client:
            if project_id in self._clients:
                return self._clients[project_id]
            c, keys = self._config, self._credentials
            credentials = BasicCredentials(keys.access_key, keys.secret_key, project_id)
            if keys.security_token:
                credentials = credentials.with_security_token(keys.security_token)
            http = HttpConfig(
                timeout=(c.connect_timeout, c.read_timeout), pool_connections=1, pool_maxsize=c.max_connections
            )
            client = self._clients[project_id] = (
                SdrsClient.new_builder()
                .with_credentials(credentials)
                .with_http_config(http)
                .with_http_handler(HttpHandler().add_response_handler(_keep_request_id))
                .with_endpoints([c.endpoint])  # the settings resolve a region to its endpoint
                .build()
            )
            return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def _call(self, method: Callable[[Any], Any], request: Any, deadline: Deadline) -> tuple[Any, Reply]:
        """One request through the SDK (which cannot bound it by the deadline: its timeouts are
        the client's), its failures as SdrsApiError."""
        left = deadline.remaining()
        if left < self._config.retry.min_attempt_time:
            message = f"not enough invocation time left to call the API ({left:.1f}s)"
            raise SdrsApiError("Deadline.Exceeded", message, retryable=True, attempts=0)
        try:
            response = method(request)
        except SdkException as exc:
            raise _error(exc) from None
        return response, Reply(response.status_code, _last_answer.request_id, 1)

    def call_time(self) -> float:
        """The SDK's calls are not timed here: the client's prior (no benchmark call runs short)."""
        return self._config.retry.min_attempt_time

    def list_failure_jobs(self, project_id: str, server_group_id: str, deadline: Deadline) -> FailureJobListing:
        """Every failed task of one group, all pages (the audit record)."""
        client = self.client(project_id)

        def fetch(offset: int) -> ListingPage:
            request = ListFailureJobsRequest(
                server_group_id=server_group_id, limit=self._config.page_size, offset=offset
            )
            response, reply = self._call(client.list_failure_jobs, request, deadline)
            count = response.count
            if type(count) is not int or response.failure_jobs is None:
                raise invalid_response("the listing was not the expected JSON ({count, failure_jobs})", reply)
            return count, [job.to_dict() for job in response.failure_jobs], reply  # the SDK's fields only

        return read_listing(fetch)

    def delete_group_failure_jobs(self, project_id: str, server_group_id: str, deadline: Deadline) -> Reply:
        request = DeleteServerGroupFailureJobsRequest(server_group_id=server_group_id)
        _, reply = self._call(self.client(project_id).delete_server_group_failure_jobs, request, deadline)
        if reply.status_code != 204:
            raise invalid_response(f"expected HTTP 204, got {reply.status_code}", reply)
        return reply

    def server_groups_page(self, project_id: str, offset: int, deadline: Deadline) -> ServerGroupPage:
        request = ListProtectionGroupsRequest(limit=self._config.page_size, offset=offset)
        response, reply = self._call(self.client(project_id).list_protection_groups, request, deadline)
        count = response.count
        if type(count) is not int or response.server_groups is None:
            raise invalid_response("the listing was not the expected JSON ({count, server_groups})", reply)
        return ServerGroupPage(count, [group.to_dict() for group in response.server_groups], reply)


class SdkApis:
    """The twin's `handler.core.SdrsProvider`: one adapter per configuration (the function's
    `ClientConfig`, as `handler.sdrs.factory.ClientFactory` keys its client), reused by warm
    invocations. Static AK/SK only: the SDK does not read the secrets extension."""

    def __init__(self) -> None:
        self._config: ClientConfig | None = None
        self._api: SdkSdrsApi | None = None

    def __call__(self, settings: Settings) -> SdkSdrsApi:
        config = ClientConfig.from_settings(settings)  # ConfigurationError: no credentials or no endpoint
        if not isinstance(config.credentials, Credentials):
            raise ConfigurationError("the SDK twin signs with HUAWEICLOUD_SDK_AK/SK only, not a secret")
        if self._api is None or config != self._config:
            if self._api is not None:
                self._api.close()
            self._api, self._config = SdkSdrsApi(config, config.credentials), config
        return self._api


TWIN_RUNTIME = Runtime(SdkApis())


def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    result: dict[str, Any] = app.lambda_handler(event, context, runtime=TWIN_RUNTIME)
    return result

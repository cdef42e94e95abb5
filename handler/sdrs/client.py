"""The SDRS task-center calls this function needs, over one reusable httpx client.

It knows no events: it takes validated ids and a deadline, signs, retries what can be
retried, and turns every failure into `SdrsApiError`.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from handler.sdrs.api import (
    Deadline,
    FailureJobListing,
    ListingPage,
    Reply,
    SdrsApiError,
    ServerGroupPage,
    check_project_id,
    check_server_group_id,
    invalid_response,
    read_listing,
)
from handler.sdrs.config import RetryPolicy
from handler.sdrs.credentials import Credentials, CredentialSource, CredentialsUnavailable
from handler.sdrs.errors import error_from_response, error_from_transport, request_id_of
from handler.sdrs.signing import AkSkAuth, canonical_query
from handler.values import value_object

PAGE_SIZE = 1000
# Jitter from the OS: no PRNG state that the restored copies of a SnapStart snapshot would share.
system_random = random.SystemRandom().random
# After a 401 no more requests are signed with the rejected credentials for this long: five
# bad signatures in a row lock the AK for five minutes, and a sweep sends many at once.
REJECTED_CREDENTIALS_HOLD_SECONDS = 60.0
# The project-wide batch delete would clear every group in the project: never sent.
_PROJECT_WIDE_DELETE = re.compile(r"/v1/[^/]+/task-center/failure-jobs/batch/?")


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@value_object
class Connection:
    """Where and how requests go: the endpoint, the signer, the timeouts, one connection pool.

    Requests go straight to the transport: httpx.Client's redirects, cookies and hooks are
    not wanted here, and skipping them saves a noticeable share of the CPU time of each call."""

    endpoint: str
    auth: AkSkAuth
    transport: httpx.BaseTransport
    timeout: httpx.Timeout

    def close(self) -> None:
        self.transport.close()


# The artifact's CA certificates as an OpenSSL hashed directory (the build's handler/local/ca_directory.py,
# from certifi's bundle): a TLS context then reads only the issuer a handshake needs.
CA_DIRECTORY = Path(__file__).with_name("ca")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context every connection pool of the process verifies with, made once (during
    SnapStart's init when it is on)."""
    return tls_context_for(CA_DIRECTORY)


def tls_context_for(ca_directory: Path) -> ssl.SSLContext:
    """SSL_CERT_FILE and SSL_CERT_DIR win, as they do in httpx; then `ca_directory` when it holds
    hashed certificates (the artifact's); then certifi's bundle (a run from the source tree)."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    if ca_directory.is_dir() and any(ca_directory.glob("*.0")):
        return ssl.create_default_context(capath=str(ca_directory))
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def connect(
    endpoint: str,
    credentials: Credentials | CredentialSource,
    *,
    connect_timeout: float,
    read_timeout: float,
    max_connections: int = 16,
    transport: httpx.BaseTransport | None = None,
    proxy: str | None = None,
) -> Connection:
    """No connection is opened here: the pool connects on the first request. `proxy` (an http(s)
    URL, maybe with user:password@, chosen from the environment by handler.settings.choose_proxy):
    every request goes through it; the transport takes nothing from the environment itself, as
    requests do not go through httpx.Client."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return Connection(
        endpoint=endpoint.rstrip("/"),
        auth=AkSkAuth(credentials),
        transport=transport or httpx.HTTPTransport(verify=tls_context(), limits=limits, proxy=proxy),
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
    )


@functools.lru_cache(maxsize=1024)
def _url(text: str) -> httpx.URL:
    """Parsed once: URL parsing is the largest CPU item of a warm request, and the same few URLs
    (a group's listing, its DELETE) come back in every run. The text holds ids, never a secret."""
    return httpx.URL(text)


@functools.lru_cache(maxsize=1024)
def _query_text(pairs: tuple[tuple[str, Any], ...]) -> str:
    """The canonical query of a listing page (a group's id, a page's offset), made once per page."""
    return canonical_query(pairs)


_HEADERS = {"User-Agent": "sdrs-cleanup/0.1", "Accept": "application/json"}
# No call is expected to take less than this, however fast the answers so far.
MIN_CALL_TIME = 0.1
CALL_TIMES_KEPT = 32


class CallTimes:
    """How long the API's answers take, for the time budget: twice the slowest of the last few
    attempts (this invocation's and, in a warm container, the earlier ones'), within
    [MIN_CALL_TIME, `ceiling`] (the attempt's timeouts); `prior` before any answer."""

    def __init__(self, prior: float, ceiling: float) -> None:
        self._prior, self._ceiling = prior, ceiling
        self._recent: deque[float] = deque(maxlen=CALL_TIMES_KEPT)
        self._lock = threading.Lock()

    def record(self, seconds: float) -> None:
        with self._lock:
            self._recent.append(seconds)

    def estimate(self) -> float:
        with self._lock:
            if not self._recent:
                return self._prior
            return min(self._ceiling, max(MIN_CALL_TIME, 2 * max(self._recent)))


@value_object
class _Request:
    """A request as the client sends it (signed per attempt)."""

    method: str
    url: str  # path and canonical query
    project_id: str


@dataclass(slots=True)
class _Failed:
    """An attempt that failed: the error, the answer it came with (None: no answer at all),
    and the wait the server asked for (Retry-After)."""

    error: SdrsApiError
    reply: Reply | None = None
    wait: float | None = None


class SdrsClient:
    def __init__(
        self,
        connection: Connection,
        retry: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = system_random,
        page_size: int = PAGE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connection = connection
        self.page_size = page_size
        self._retry = retry
        self._sleep = sleep
        self._rng = rng
        self._clock = clock
        self._rejected: dict[Credentials, float] = {}
        self._accepted: set[Credentials] = set()
        self._first_use = threading.Lock()
        timeout = connection.timeout
        self._call_times = CallTimes(retry.min_attempt_time, (timeout.connect or 0.0) + (timeout.read or 0.0))

    def call_time(self) -> float:
        return self._call_times.estimate()

    @property
    def credentials(self) -> CredentialSource:
        return self._connection.auth.source

    def close(self) -> None:
        """Close the connection pool and whatever the credential source opened."""
        self._connection.close()
        self._connection.auth.source.close()

    def list_failure_jobs(self, project_id: str, server_group_id: str, deadline: Deadline) -> FailureJobListing:
        """Every failed task of one group, all pages (the audit record)."""
        path = f"/v1/{check_project_id(project_id)}/task-center/failure-jobs"
        group = check_server_group_id(server_group_id)

        def fetch(offset: int) -> ListingPage:
            query = {"server_group_id": group, "limit": self.page_size, "offset": offset}
            (count, page), reply = self._call_parsed("GET", path, project_id, deadline, _listing("failure_jobs"), query)
            return count, page, reply

        return read_listing(fetch)

    def server_groups_page(self, project_id: str, offset: int, deadline: Deadline) -> ServerGroupPage:
        """One page of GET /v1/{project_id}/server-groups; `count` tells how many pages there are."""
        path = f"/v1/{check_project_id(project_id)}/server-groups"
        query = {"limit": self.page_size, "offset": offset}
        (count, groups), reply = self._call_parsed("GET", path, project_id, deadline, _listing("server_groups"), query)
        return ServerGroupPage(count, groups, reply)

    def delete_group_failure_jobs(self, project_id: str, server_group_id: str, deadline: Deadline) -> Reply:
        """DELETE /v1/{project_id}/task-center/{server_group_id}/failure-jobs/batch (204)."""
        path = (
            f"/v1/{check_project_id(project_id)}/task-center/"
            f"{check_server_group_id(server_group_id)}/failure-jobs/batch"
        )
        return self._call("DELETE", path, project_id, deadline, expect_status=204)[1]

    def _call(
        self,
        method: str,
        path: str,
        project_id: str,
        deadline: Deadline,
        query: dict[str, Any] | None = None,
        expect_status: int | None = None,
    ) -> tuple[httpx.Response, Reply]:
        return self._call_parsed(method, path, project_id, deadline, _as_is, query, expect_status)

    def _call_parsed[T](
        self,
        method: str,
        path: str,
        project_id: str,
        deadline: Deadline,
        parse: Callable[[httpx.Response, Reply], T],
        query: dict[str, Any] | None = None,
        expect_status: int | None = None,
    ) -> tuple[T, Reply]:
        """`parse` turns a successful answer into the result; when it raises SdrsApiError (the
        body is not what the API sends: a proxy's page), the answer is retried like a 502."""
        if method == "DELETE" and _PROJECT_WIDE_DELETE.fullmatch(path):
            raise AssertionError("refusing the project-wide failure-jobs batch delete")
        request = _Request(method, path + ("?" + _query_text(tuple(query.items())) if query else ""), project_id)
        credentials = self._credentials(0)
        last_reply: Reply | None = None
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            budget = self._budget(deadline, attempt)
            answer = self._attempt(request, budget, credentials, attempt, parse, expect_status)
            if not isinstance(answer, _Failed):
                return answer
            failure, last_reply = answer.error, answer.reply or last_reply
            if answer.reply is None and last_reply is not None:  # the result reports the group's last response
                failure.status_code, failure.request_id = last_reply.status_code, last_reply.request_id
            if answer.reply is not None and answer.reply.status_code == 401 and not refreshed:
                refreshed = True  # (_send_signed has put the credentials on hold)
                fresh = self._refreshed(credentials, attempt)
                if fresh is not None:  # a rotated secret: one more try, with its new version
                    credentials = fresh
                    continue
            failure.attempts = attempt
            self._back_off(failure, answer.wait, attempt, deadline)

    def _budget(self, deadline: Deadline, attempt: int) -> float:
        """The time this attempt may take; Deadline.Exceeded when there is too little for one."""
        budget = deadline.remaining()
        if budget < self.call_time():
            raise SdrsApiError(
                "Deadline.Exceeded",
                f"not enough invocation time left to call the API ({budget:.1f}s)",
                retryable=True,
                attempts=attempt - 1,
            )
        return budget

    def _attempt[T](
        self,
        request: _Request,
        budget: float,
        credentials: Credentials,
        attempt: int,
        parse: Callable[[httpx.Response, Reply], T],
        expect_status: int | None,
    ) -> tuple[T, Reply] | _Failed:
        """One signed request: the parsed answer, or why it failed (and whether to wait)."""
        try:
            response = self._send_signed(request, budget, credentials, attempt)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            return _Failed(error_from_transport(exc))
        secrets = self._connection.auth.secrets()
        reply = Reply(response.status_code, request_id_of(response, secrets), attempt, len(response.content))
        if response.is_success and expect_status in (None, response.status_code):
            try:
                return parse(response, reply), reply
            except SdrsApiError as invalid:
                return _Failed(invalid, reply)
        if response.is_success:  # a proxy's page, say: whether the call took effect is unknown
            return _Failed(invalid_response(f"expected HTTP {expect_status}, got {response.status_code}", reply), reply)
        return _Failed(error_from_response(response, secrets), reply, retry_after_seconds(response))

    def _back_off(self, failure: SdrsApiError, wait: float | None, attempt: int, deadline: Deadline) -> None:
        """Sleep before the next attempt, or raise `failure` when there will be none."""
        if not failure.retryable or attempt >= self._retry.max_attempts:
            raise failure
        delay = wait if wait is not None else self._retry.backoff(attempt, self._rng)
        if deadline.remaining() - delay < self.call_time():
            failure.message += f" (gave up after {attempt} attempts: invocation time running out)"
            raise failure
        self._sleep(delay)

    def _credentials(self, attempts: int) -> Credentials:
        try:
            credentials = self._connection.auth.source.current()
        except CredentialsUnavailable as exc:
            raise SdrsApiError("Credentials.Unavailable", str(exc), exc.retryable, attempts=attempts) from None
        self._check_not_on_hold(credentials, attempts)
        return credentials

    def _check_not_on_hold(self, credentials: Credentials, attempts: int) -> None:
        rejected_at = self._rejected.get(credentials)
        if rejected_at is not None and self._clock() - rejected_at < REJECTED_CREDENTIALS_HOLD_SECONDS:
            raise SdrsApiError(
                "Credentials.Rejected",
                "not sent: the API rejected these credentials (HTTP 401) less than "
                f"{REJECTED_CREDENTIALS_HOLD_SECONDS:.0f}s ago, and repeated signature failures lock the AK",
                retryable=False,
                attempts=attempts,
            )

    def _send_signed(self, request: _Request, budget: float, credentials: Credentials, attempt: int) -> httpx.Response:
        """Credentials the API has not accepted yet go out one request at a time: if they are
        wrong, one bad signature is spent, not one per request in flight. A 401 puts them on hold."""
        if credentials not in self._accepted:
            if not self._first_use.acquire(timeout=budget):
                raise SdrsApiError(
                    "Deadline.Exceeded", "no time left while new credentials were tried", True, attempts=attempt - 1
                )
            try:
                if credentials not in self._accepted:  # still untried: this request is the trial
                    self._check_not_on_hold(credentials, attempt - 1)
                    return self._judged(credentials, self._send(request, budget, credentials))
            finally:
                self._first_use.release()
        return self._judged(credentials, self._send(request, budget, credentials))

    def _judged(self, credentials: Credentials, response: httpx.Response) -> httpx.Response:
        if response.status_code == 401:
            self._accepted.discard(credentials)
            self._rejected[credentials] = self._clock()
        elif response.status_code < 500 and response.status_code != 429:  # the gateway checked the signature
            self._accepted.add(credentials)
        return response

    def _refreshed(self, rejected: Credentials, attempts: int) -> Credentials | None:
        try:
            return self._connection.auth.source.refresh(rejected)
        except CredentialsUnavailable as exc:
            raise SdrsApiError("Credentials.Unavailable", str(exc), exc.retryable, attempts=attempts) from None

    def _send(self, call: _Request, budget: float, credentials: Credentials) -> httpx.Response:
        connection = self._connection
        configured = connection.timeout
        timeout = httpx.Timeout(
            min(configured.read or budget, budget), connect=min(configured.connect or budget, budget)
        )
        request = httpx.Request(
            call.method,
            _url(connection.endpoint + call.url),
            headers={**_HEADERS, "X-Project-Id": call.project_id},
            extensions={"timeout": timeout.as_dict()},
        )
        signed = connection.auth.sign_request(request, credentials)
        started = self._clock()
        ends = time.monotonic() + budget
        try:
            response = connection.transport.handle_request(signed)
            response.stream = _Bounded(response.stream, ends, request)
            try:
                response.read()
            finally:
                response.close()
        finally:
            self._call_times.record(self._clock() - started)
        return response


class _Bounded(httpx.SyncByteStream):
    """A body that must have arrived by `ends`: httpx's read timeout bounds each read, not their sum."""

    def __init__(self, stream: httpx.SyncByteStream | httpx.AsyncByteStream, ends: float, request: httpx.Request):
        assert isinstance(stream, httpx.SyncByteStream)
        self._stream, self._ends, self._request = stream, ends, request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            if time.monotonic() > self._ends:
                raise httpx.ReadTimeout(
                    "the answer was still coming in when the attempt's time ran out", request=self._request
                )
            yield chunk

    def close(self) -> None:
        self._stream.close()


def _as_is(response: httpx.Response, reply: Reply) -> httpx.Response:
    return response


def _listing(items: str) -> Callable[[httpx.Response, Reply], tuple[int, list[dict[str, Any]]]]:
    return lambda response, reply: _parse_listing(response, reply, items)


def _parse_listing(response: httpx.Response, reply: Reply, items: str) -> tuple[int, list[dict[str, Any]]]:
    try:
        body = json.loads(response.content)
        count, listed = body["count"], body[items]
        if not (type(count) is int and count >= 0 and isinstance(listed, list)):  # not bool
            raise TypeError
        if not all(isinstance(item, dict) for item in listed):
            raise TypeError
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested too deep
        raise invalid_response(f"the listing was not the expected JSON ({{count, {items}}})", reply) from None
    return count, listed

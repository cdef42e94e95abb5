"""SdrsClient over a real httpx.Client against respx: paging, retries, deadline, ids, signing.

Time is fake: `ManualClock` drives the Deadline and advances only when the client sleeps
(or when a mocked response says the server took time), so every deadline test is exact.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from handler.sdrs import client as client_module
from handler.sdrs.api import MAX_LISTING_READS, Deadline, SdrsApiError
from handler.sdrs.client import PAGE_SIZE, SdrsClient, connect
from handler.sdrs.config import RetryPolicy
from handler.sdrs.credentials import Credentials
from handler.sdrs.signing import ALGORITHM, Signature, sign
from tests.clock import ManualClock
from tests.fake_sdrs import make_failure_jobs, signature_problem

ENDPOINT = "https://sdrs.cn-north-4.myhuaweicloud.com"
PROJECT = "0123456789abcdef0123456789abcdef"
GROUP = "decf224d-87fe-403a-8721-037a1a45c287"
CREDENTIALS = Credentials("AKCLIENTTEST0001", "SKCLIENTTEST-secret", "TOKENCLIENTTEST")
LIST_PATH = f"/v1/{PROJECT}/task-center/failure-jobs"
SERVER_GROUPS_URL = f"{ENDPOINT}/v1/{PROJECT}/server-groups"
DELETE_PATH = f"/v1/{PROJECT}/task-center/{GROUP}/failure-jobs/batch"
PROJECT_WIDE_PATH = f"/v1/{PROJECT}/task-center/failure-jobs/batch"
LIST_URL, DELETE_URL, PROJECT_WIDE_URL = (ENDPOINT + p for p in (LIST_PATH, DELETE_PATH, PROJECT_WIDE_PATH))
RETRYABLE_STATUSES = (429, 500, 502, 503, 504)
NEVER_RETRIED = (400, 401, 403, 404, 405, 406, 407, 408, 409, 501)


class SequenceRng:
    """Deterministic rng: returns the given values in turn and remembers how many it gave."""

    def __init__(self, values: list[float]) -> None:
        self.values = list(values)
        self.given: list[float] = []

    def __call__(self) -> float:
        value = self.values[len(self.given) % len(self.values)]
        self.given.append(value)
        return value


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
def make_client(clock: ManualClock) -> Iterator[Callable[..., SdrsClient]]:
    made: list[SdrsClient] = []

    def make(
        retry: RetryPolicy | None = None,
        rng: Callable[[], float] | None = None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        page_size: int = PAGE_SIZE,
    ) -> SdrsClient:
        connection = connect(ENDPOINT, CREDENTIALS, connect_timeout=connect_timeout, read_timeout=read_timeout)
        client = SdrsClient(
            connection,
            retry or RetryPolicy(),
            sleep=clock.sleep,
            rng=rng or SequenceRng([0.5]),
            page_size=page_size,
            clock=clock,  # the deadline's: calls are timed as the deadline counts
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def deadline(clock: ManualClock, seconds: float = 300.0, margin: float = 0.0) -> Deadline:
    return Deadline(seconds, margin=margin, clock=clock)


def listing(count: int, jobs: list[dict[str, Any]], request_id: str = "rid-list") -> httpx.Response:
    return httpx.Response(200, headers={"X-Request-Id": request_id}, json={"count": count, "failure_jobs": jobs})


def paged_listing(total: int, request_ids: Iterator[str] | None = None) -> Callable[[httpx.Request], httpx.Response]:
    """A server honouring limit/offset over `total` failed tasks."""
    all_jobs = make_failure_jobs(total, GROUP)

    def respond(request: httpx.Request) -> httpx.Response:
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        rid = next(request_ids) if request_ids else f"rid-offset-{offset}"
        return listing(total, all_jobs[offset : offset + limit], rid)

    return respond


def sdrs_error(
    status: int, code: str = "SDRS.0006", request_id: str | None = "rid-err", **headers: str
) -> httpx.Response:
    if request_id:
        headers["X-Request-Id"] = request_id
    return httpx.Response(status, headers=headers, json={"error": {"code": code, "message": f"failure {status}"}})


def cap(policy: RetryPolicy, attempt: int) -> float:
    return min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))


# --- success paths ------------------------------------------------------------------------


def test_list_one_page(sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock) -> None:
    jobs = make_failure_jobs(2, GROUP)
    route = sdrs_api.get(LIST_URL).mock(return_value=listing(2, jobs, "rid-abc"))

    result = make_client().list_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert result.jobs == jobs
    assert (result.last.status_code, result.last.request_id, result.last.attempts) == (200, "rid-abc", 1)
    assert route.call_count == 1
    params = route.calls.last.request.url.params
    assert dict(params) == {"server_group_id": GROUP, "limit": str(PAGE_SIZE), "offset": "0"}
    assert clock.sleeps == []


def test_list_no_jobs(sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock) -> None:
    route = sdrs_api.get(LIST_URL).mock(return_value=listing(0, []))

    result = make_client().list_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert result.jobs == []
    assert route.call_count == 1


def test_list_exactly_one_full_page(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    route = sdrs_api.get(LIST_URL).mock(side_effect=paged_listing(PAGE_SIZE))

    result = make_client().list_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert len(result.jobs) == PAGE_SIZE
    assert route.call_count == 1


def test_list_two_pages(sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock) -> None:
    total = PAGE_SIZE + 1
    route = sdrs_api.get(LIST_URL).mock(side_effect=paged_listing(total))

    result = make_client().list_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert result.jobs == make_failure_jobs(total, GROUP)
    assert route.call_count == 2
    offsets = [call.request.url.params["offset"] for call in route.calls]
    assert offsets == ["0", str(PAGE_SIZE)]
    assert result.last.request_id == f"rid-offset-{PAGE_SIZE}"


def test_list_count_never_reached_is_invalid(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    """count says 1500 but the pages deliver 1000 then nothing: an error, not an endless loop."""
    first = make_failure_jobs(PAGE_SIZE, GROUP)
    route = sdrs_api.get(LIST_URL).mock(side_effect=[listing(1500, first, "rid-1"), listing(1500, [], "rid-2")])

    with pytest.raises(SdrsApiError) as caught:
        make_client().list_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert caught.value.code == "Response.Invalid"
    assert "1000 of 1500" in caught.value.message
    assert caught.value.request_id == "rid-2"
    assert route.call_count == 2


def test_list_short_pages_are_followed_until_count(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    """A server may return fewer than `limit`: paging continues from what was received."""
    all_jobs = make_failure_jobs(5, GROUP)

    def two_at_a_time(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return listing(5, all_jobs[offset : offset + 2])

    route = sdrs_api.get(LIST_URL).mock(side_effect=two_at_a_time)

    result = make_client().list_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert result.jobs == all_jobs
    assert [call.request.url.params["offset"] for call in route.calls] == ["0", "2", "4"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"<html><body>OK</body></html>",
        b"",
        b"[]",
        b'"count"',
        b"null",
        b'{"failure_jobs": []}',
        b'{"count": 1}',
        b'{"count": "1", "failure_jobs": []}',
        b'{"count": -1, "failure_jobs": []}',
        b'{"count": 1.5, "failure_jobs": []}',
        b'{"count": 1, "failure_jobs": {"job_id": "x"}}',
        b'{"count": 2, "failure_jobs": [{"job_id": "x"}, "y"]}',
    ],
)
def test_malformed_listing_is_response_invalid(
    body: bytes, sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    malformed = httpx.Response(200, headers={"X-Request-Id": "rid-bad"}, content=body)
    route = sdrs_api.get(LIST_URL).mock(return_value=malformed)

    with pytest.raises(SdrsApiError) as caught:
        make_client().list_failure_jobs(PROJECT, GROUP, deadline(clock))

    error = caught.value
    assert (error.code, error.status_code, error.request_id, error.attempts) == ("Response.Invalid", 200, "rid-bad", 4)
    assert error.retryable is True
    assert route.call_count == 4  # a proxy's page instead of the listing is retried like a 502
    assert len(clock.sleeps) == 3


def test_custom_page_size_is_the_listing_limit(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    route = sdrs_api.get(LIST_URL).mock(side_effect=paged_listing(7))
    result = make_client(page_size=3).list_failure_jobs(PROJECT, GROUP, deadline(clock))
    assert result.jobs == make_failure_jobs(7, GROUP)
    assert [(c.request.url.params["limit"], c.request.url.params["offset"]) for c in route.calls] == [
        ("3", "0"),
        ("3", "3"),
        ("3", "6"),
    ]


# --- the protection-group listing (sweeps) ---------------------------------------------------


def groups_page(count: int, ids: list[str], request_id: str = "rid-groups") -> httpx.Response:
    body = {"count": count, "server_groups": [{"id": gid, "name": f"pg-{gid[:8]}"} for gid in ids]}
    return httpx.Response(200, headers={"X-Request-Id": request_id}, json=body)


@pytest.mark.parametrize(("offset", "page_size"), [(0, PAGE_SIZE), (0, 5), (10, 5)])
def test_server_groups_page(
    offset: int,
    page_size: int,
    sdrs_api: respx.Router,
    make_client: Callable[..., SdrsClient],
    clock: ManualClock,
) -> None:
    ids = [GROUP, "5f8a7e3c-2b1d-4c6e-9a0f-1e2d3c4b5a69"]
    route = sdrs_api.get(SERVER_GROUPS_URL).mock(return_value=groups_page(12, ids, "rid-page"))

    page = make_client(page_size=page_size).server_groups_page(PROJECT, offset, deadline(clock))

    assert page.count == 12  # the project's total, not this page's length
    assert [group["id"] for group in page.server_groups] == ids
    assert (page.reply.status_code, page.reply.request_id, page.reply.attempts) == (200, "rid-page", 1)
    request = route.calls.last.request
    assert request.url.query.decode() == f"limit={page_size}&offset={offset}"  # canonical, as signed
    assert request.headers["X-Project-Id"] == PROJECT
    assert signature_problem(request, CREDENTIALS.access_key, CREDENTIALS.secret_key) is None


def test_server_groups_page_is_retried(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    route = sdrs_api.get(SERVER_GROUPS_URL).mock(side_effect=[sdrs_error(503), groups_page(1, [GROUP], "rid-ok")])
    page = make_client().server_groups_page(PROJECT, 0, deadline(clock))
    assert (page.count, page.reply.request_id, page.reply.attempts) == (1, "rid-ok", 2)
    assert route.call_count == 2
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"server_groups": []}',
        b'{"count": 1}',
        b'{"count": 1, "failure_jobs": []}',
        b'{"count": -1, "server_groups": []}',
        b'{"count": true, "server_groups": []}',
        b'{"count": 1, "server_groups": ["decf224d-87fe-403a-8721-037a1a45c287"]}',
    ],
)
def test_malformed_server_groups_page_is_response_invalid(
    body: bytes, sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    sdrs_api.get(SERVER_GROUPS_URL).mock(return_value=httpx.Response(200, headers={"X-Request-Id": "r"}, content=body))
    with pytest.raises(SdrsApiError) as caught:
        make_client().server_groups_page(PROJECT, 0, deadline(clock))
    assert (caught.value.code, caught.value.retryable, caught.value.request_id) == ("Response.Invalid", True, "r")
    assert "server_groups" in caught.value.message


def test_delete_group(sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock) -> None:
    route = sdrs_api.delete(DELETE_URL).mock(return_value=httpx.Response(204, headers={"X-Request-Id": "rid-del"}))

    reply = make_client().delete_group_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert (reply.status_code, reply.request_id, reply.attempts) == (204, "rid-del", 1)
    assert route.call_count == 1
    sent = route.calls.last.request
    assert sent.method == "DELETE"
    assert sent.url.raw_path.decode() == DELETE_PATH
    assert sent.content == b""


def test_reply_without_request_id(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    sdrs_api.delete(DELETE_URL).mock(return_value=httpx.Response(204))
    assert make_client().delete_group_failure_jobs(PROJECT, GROUP, deadline(clock)).request_id is None


@pytest.mark.parametrize("status", [200, 202])
def test_delete_answered_with_another_success_is_invalid_and_retried(
    status: int, sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    # A 200 page from a proxy does not prove the delete happened; the delete is idempotent.
    page = httpx.Response(status, text="<html>ok</html>", headers={"X-Request-Id": "rid-proxy"})
    route = sdrs_api.delete(DELETE_URL).mock(side_effect=[page, httpx.Response(204, headers={"X-Request-Id": "ok"})])

    reply = make_client().delete_group_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert (reply.status_code, reply.request_id, reply.attempts, route.call_count) == (204, "ok", 2, 2)


def test_delete_always_answered_with_200_fails_as_invalid(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    route = sdrs_api.delete(DELETE_URL).mock(return_value=httpx.Response(200, json={}, headers={"X-Request-Id": "r"}))

    with pytest.raises(SdrsApiError) as caught:
        make_client(RetryPolicy(max_attempts=3)).delete_group_failure_jobs(PROJECT, GROUP, deadline(clock))

    error = caught.value
    assert (error.code, error.retryable, error.attempts, error.status_code) == ("Response.Invalid", True, 3, 200)
    assert "expected HTTP 204, got 200" in error.message
    assert route.call_count == 3


# --- retries ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", RETRYABLE_STATUSES)
@pytest.mark.parametrize("max_attempts", [1, 3, 4])
def test_retryable_status_retried_up_to_max_attempts(
    status: int,
    max_attempts: int,
    sdrs_api: respx.Router,
    make_client: Callable[..., SdrsClient],
    clock: ManualClock,
) -> None:
    responses = [sdrs_error(status, request_id=f"rid-{n}") for n in range(1, max_attempts + 1)]
    route = sdrs_api.delete(DELETE_URL).mock(side_effect=responses)

    with pytest.raises(SdrsApiError) as caught:
        make_client(RetryPolicy(max_attempts=max_attempts)).delete_group_failure_jobs(PROJECT, GROUP, deadline(clock))

    error = caught.value
    assert route.call_count == max_attempts
    assert error.attempts == max_attempts
    assert (error.status_code, error.code, error.retryable) == (status, "SDRS.0006", True)
    assert error.request_id == f"rid-{max_attempts}"  # the last answer's id
    assert len(clock.sleeps) == max_attempts - 1


@pytest.mark.parametrize("status", RETRYABLE_STATUSES)
def test_retryable_status_then_success(
    status: int, sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    route = sdrs_api.delete(DELETE_URL).mock(
        side_effect=[sdrs_error(status), sdrs_error(status), httpx.Response(204, headers={"X-Request-Id": "ok"})]
    )

    reply = make_client().delete_group_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert (reply.status_code, reply.request_id, reply.attempts) == (204, "ok", 3)
    assert route.call_count == 3
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize("status", NEVER_RETRIED)
def test_non_retryable_status_is_sent_once(
    status: int, sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    # Even with a Retry-After header, 4xx (and 501) are final.
    route = sdrs_api.delete(DELETE_URL).mock(
        side_effect=[sdrs_error(status, "SDRS.0001", "rid-once", **{"Retry-After": "1"}), httpx.Response(204)]
    )

    with pytest.raises(SdrsApiError) as caught:
        make_client(RetryPolicy(max_attempts=10)).delete_group_failure_jobs(PROJECT, GROUP, deadline(clock))

    error = caught.value
    assert route.call_count == 1
    assert (error.status_code, error.retryable, error.attempts, error.request_id) == (status, False, 1, "rid-once")
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [401, 403])
def test_listing_auth_failure_is_sent_once(
    status: int, sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    body = {"error_code": "APIGW.0301", "error_msg": "verify aksk signature fail", "request_id": "rid-gw"}
    route = sdrs_api.get(LIST_URL).mock(return_value=httpx.Response(status, json=body))

    with pytest.raises(SdrsApiError) as caught:
        make_client(RetryPolicy(max_attempts=10)).list_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert route.call_count == 1
    assert (caught.value.code, caught.value.request_id) == ("APIGW.0301", "rid-gw")


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.ReadError("connection reset"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transport_error_then_success(
    failure: httpx.TransportError, sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    route = sdrs_api.delete(DELETE_URL).mock(side_effect=[failure, httpx.Response(204, headers={"X-Request-Id": "ok"})])

    reply = make_client().delete_group_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert (reply.status_code, reply.attempts, reply.request_id) == (204, 2, "ok")
    assert route.call_count == 2
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize(
    ("failure", "code"),
    [(httpx.ConnectError("refused"), "Network.Error"), (httpx.ReadTimeout("slow"), "Network.Timeout")],
    ids=["connect", "timeout"],
)
def test_transport_errors_exhaust_attempts(
    failure: httpx.TransportError,
    code: str,
    sdrs_api: respx.Router,
    make_client: Callable[..., SdrsClient],
    clock: ManualClock,
) -> None:
    route = sdrs_api.get(LIST_URL).mock(side_effect=failure)

    with pytest.raises(SdrsApiError) as caught:
        make_client(RetryPolicy(max_attempts=4)).list_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert route.call_count == 4
    assert (caught.value.code, caught.value.retryable, caught.value.attempts) == (code, True, 4)
    assert caught.value.status_code is None


def test_backoff_is_capped_exponential_with_full_jitter(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    policy = RetryPolicy(max_attempts=8, base_delay=0.5, max_delay=3.0, min_attempt_time=1.0)
    draws = [0.999, 0.0, 0.25, 0.75, 1.0, 0.4, 0.6]
    rng = SequenceRng(draws)
    sdrs_api.delete(DELETE_URL).mock(return_value=sdrs_error(503))

    with pytest.raises(SdrsApiError):
        make_client(policy, rng).delete_group_failure_jobs(PROJECT, GROUP, deadline(clock, 1000.0))

    assert len(clock.sleeps) == policy.max_attempts - 1
    expected = [draw * cap(policy, attempt) for attempt, draw in enumerate(draws, start=1)]
    assert clock.sleeps == pytest.approx(expected)
    for attempt, delay in enumerate(clock.sleeps, start=1):
        assert 0.0 <= delay <= min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))


def test_backoff_upper_bound_reaches_the_cap(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    policy = RetryPolicy(max_attempts=7, base_delay=0.5, max_delay=4.0)
    sdrs_api.get(LIST_URL).mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(SdrsApiError):
        make_client(policy, SequenceRng([1.0])).list_failure_jobs(PROJECT, GROUP, deadline(clock, 1000.0))

    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_backoff_with_seeded_random_stays_within_bounds(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=0.25, max_delay=2.0)
    seeded = random.Random(1234)  # noqa: S311
    draws = [seeded.random() for _ in range(9)]
    sdrs_api.delete(DELETE_URL).mock(return_value=sdrs_error(500))

    with pytest.raises(SdrsApiError):
        make_client(policy, SequenceRng(draws)).delete_group_failure_jobs(PROJECT, GROUP, deadline(clock, 1000.0))

    assert clock.sleeps == pytest.approx([d * cap(policy, n) for n, d in enumerate(draws, start=1)])
    assert len(set(clock.sleeps)) == len(clock.sleeps)  # jittered, not fixed steps


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("seconds", ["0", "7", "12"])
def test_retry_after_seconds_is_honoured(
    status: int, seconds: str, sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    throttled = httpx.Response(
        status, headers={"Retry-After": seconds}, json={"error_code": "APIGW.0308", "error_msg": "throttled"}
    )
    route = sdrs_api.delete(DELETE_URL).mock(side_effect=[throttled, httpx.Response(204)])

    reply = make_client(rng=SequenceRng([0.9])).delete_group_failure_jobs(PROJECT, GROUP, deadline(clock, 60.0))

    assert clock.sleeps == [float(seconds)]
    assert reply.attempts == 2
    assert route.call_count == 2


def retry_after_date(monkeypatch: pytest.MonkeyPatch, offset: timedelta) -> str:
    """Pin the client's wall clock and give the HTTP date `offset` from it, as a Retry-After value."""
    wall = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    monkeypatch.setattr(client_module.time, "time", wall.timestamp)
    return format_datetime(wall + offset, usegmt=True)


def test_retry_after_http_date_is_honoured(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    when = retry_after_date(monkeypatch, timedelta(seconds=25))
    throttled = httpx.Response(429, headers={"Retry-After": when}, json={"error_code": "APIGW.0308", "error_msg": "x"})
    route = sdrs_api.delete(DELETE_URL).mock(side_effect=[throttled, httpx.Response(204)])

    reply = make_client().delete_group_failure_jobs(PROJECT, GROUP, deadline(clock, 60.0))

    assert when.endswith("GMT")
    assert clock.sleeps == [25.0]
    assert reply.attempts == 2
    assert route.call_count == 2


def test_retry_after_http_date_in_the_past_means_now(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    when = retry_after_date(monkeypatch, -timedelta(minutes=5))
    unavailable = httpx.Response(503, headers={"Retry-After": when})
    sdrs_api.delete(DELETE_URL).mock(side_effect=[unavailable, httpx.Response(204)])

    make_client().delete_group_failure_jobs(PROJECT, GROUP, deadline(clock, 60.0))

    assert clock.sleeps == [0.0]


def test_unparseable_retry_after_falls_back_to_backoff(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    policy = RetryPolicy(base_delay=0.5)
    sdrs_api.delete(DELETE_URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "soon"}), httpx.Response(204)]
    )

    make_client(policy, SequenceRng([0.5])).delete_group_failure_jobs(PROJECT, GROUP, deadline(clock, 60.0))

    assert clock.sleeps == [0.5 * cap(policy, 1)]


def test_retry_after_beyond_the_deadline_gives_up_without_sleeping(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    throttled = httpx.Response(
        429,
        headers={"Retry-After": "120", "X-Request-Id": "rid-429"},
        json={"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached"},
    )
    route = sdrs_api.delete(DELETE_URL).mock(side_effect=[throttled, httpx.Response(204)])

    with pytest.raises(SdrsApiError) as caught:
        make_client().delete_group_failure_jobs(PROJECT, GROUP, deadline(clock, 30.0))

    error = caught.value
    assert route.call_count == 1
    assert clock.sleeps == []
    assert (error.code, error.retryable, error.status_code, error.request_id) == ("APIGW.0308", True, 429, "rid-429")
    assert error.attempts == 1
    assert "time running out" in error.message
    assert "The throttling threshold has been reached" in error.message


def test_backoff_beyond_the_deadline_gives_up_without_sleeping(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    """2.5 s left; the 502 took 0.5 s, so a call is expected to take up to 1 s; a 2 s backoff
    would leave 0 s: stop now."""
    policy = RetryPolicy(max_attempts=5, base_delay=2.0, max_delay=8.0, min_attempt_time=1.0)

    def slow_502(request: httpx.Request) -> httpx.Response:
        clock.advance(0.5)
        return sdrs_error(502)

    route = sdrs_api.delete(DELETE_URL).mock(side_effect=slow_502)

    with pytest.raises(SdrsApiError) as caught:
        make_client(policy, SequenceRng([1.0])).delete_group_failure_jobs(PROJECT, GROUP, deadline(clock, 2.5))

    assert route.call_count == 1
    assert clock.sleeps == []
    assert caught.value.retryable is True
    assert "time running out" in caught.value.message


def test_retries_stop_when_slow_answers_use_up_the_time(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    """Each 503 takes 4 s (or its read timeout, if shorter) of fake time; 10 s in all. After the
    first, a call is expected to take up to 8 s: with under 6 s left, no second attempt starts."""
    start = clock.now

    def slow_503(request: httpx.Request) -> httpx.Response:
        clock.advance(min(4.0, _timeouts(request)["read"]))
        return sdrs_error(503)

    route = sdrs_api.delete(DELETE_URL).mock(side_effect=slow_503)

    with pytest.raises(SdrsApiError) as caught:
        make_client(RetryPolicy(max_attempts=10), SequenceRng([0.5])).delete_group_failure_jobs(
            PROJECT, GROUP, deadline(clock, 10.0)
        )

    assert route.call_count == 1
    assert caught.value.retryable is True
    assert "time running out" in caught.value.message
    assert clock.now - start <= 10.0


# --- deadline and timeouts ----------------------------------------------------------------


def _timeouts(request: httpx.Request) -> dict[str, float]:
    timeout = request.extensions["timeout"]
    return {name: timeout[name] for name in ("connect", "read", "write", "pool")}


@pytest.mark.parametrize("remaining", [3.0, 7.5, 29.0])
def test_attempt_timeout_never_exceeds_remaining_time(
    remaining: float, sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    route = sdrs_api.delete(DELETE_URL).mock(return_value=httpx.Response(204))

    make_client(connect_timeout=5.0, read_timeout=30.0).delete_group_failure_jobs(
        PROJECT, GROUP, deadline(clock, remaining)
    )

    timeouts = _timeouts(route.calls.last.request)
    assert all(value is not None and 0 < value <= remaining for value in timeouts.values()), timeouts
    assert timeouts["read"] == min(30.0, remaining)
    assert timeouts["connect"] == min(5.0, remaining)


def test_attempt_timeout_keeps_configured_values_with_time_to_spare(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    route = sdrs_api.get(LIST_URL).mock(return_value=listing(0, []))

    make_client(connect_timeout=2.0, read_timeout=12.0).list_failure_jobs(PROJECT, GROUP, deadline(clock, 600.0))

    assert _timeouts(route.calls.last.request) == {"connect": 2.0, "read": 12.0, "write": 12.0, "pool": 12.0}


def test_attempt_timeouts_shrink_across_retries(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    limit = deadline(clock, 20.0)
    seen: list[tuple[float, dict[str, float]]] = []

    def slow_failure(request: httpx.Request) -> httpx.Response:
        seen.append((limit.remaining(), _timeouts(request)))
        clock.advance(3.0)
        return sdrs_error(504)

    sdrs_api.delete(DELETE_URL).mock(side_effect=slow_failure)

    with pytest.raises(SdrsApiError):
        make_client(RetryPolicy(max_attempts=4), SequenceRng([1.0]), read_timeout=30.0).delete_group_failure_jobs(
            PROJECT, GROUP, limit
        )

    assert len(seen) >= 2
    for remaining, timeouts in seen:
        assert max(timeouts.values()) <= remaining
    reads = [timeouts["read"] for _, timeouts in seen]
    assert reads == sorted(reads, reverse=True)
    assert reads[0] > reads[-1]


@pytest.mark.parametrize(("seconds", "margin"), [(0.0, 0.0), (0.5, 0.0), (10.0, 9.5), (5.0, 10.0)])
def test_too_little_time_before_the_first_attempt(
    seconds: float,
    margin: float,
    sdrs_api: respx.Router,
    make_client: Callable[..., SdrsClient],
    clock: ManualClock,
) -> None:
    route = sdrs_api.route().mock(return_value=httpx.Response(204))
    client = make_client(RetryPolicy(min_attempt_time=1.0))

    for call in (client.delete_group_failure_jobs, client.list_failure_jobs):
        with pytest.raises(SdrsApiError) as caught:
            call(PROJECT, GROUP, deadline(clock, seconds, margin))
        assert (caught.value.code, caught.value.retryable, caught.value.attempts) == ("Deadline.Exceeded", True, 0)

    assert route.call_count == 0
    assert clock.sleeps == []


def test_deadline_remaining_follows_the_clock(clock: ManualClock) -> None:
    limit = Deadline(10.0, margin=2.0, clock=clock)
    assert limit.remaining() == 8.0
    clock.advance(5.0)
    assert limit.remaining() == 3.0
    clock.advance(100.0)
    assert limit.remaining() == 0.0


# --- ids and the project-wide path --------------------------------------------------------

BAD_PROJECT_IDS = [
    "",
    "..",
    "../../etc/passwd",
    "0123456789ABCDEF0123456789ABCDEF",
    "0123456789abcdef0123456789abcde",
    "0123456789abcdef0123456789abcdef0",
    "0123456789abcdef%2F123456789abcd",
    "0123456789abcdef/0123456789abcde",
    "0123456789abcdef0123456789abcdef\n",
    " 0123456789abcdef0123456789abcdef",
]
BAD_GROUP_IDS = [
    "",
    "..",
    "../failure-jobs",
    "failure-jobs",
    "DECF224D-87FE-403A-8721-037A1A45C287",
    "decf224d-87fe-403a-8721-037a1a45c28",
    "decf224d-87fe-403a-8721-037a1a45c287/..",
    "decf224d-87fe-403a-8721-037a1a45c287/",
    "decf224d%2F87fe-403a-8721-037a1a45c287",
    "decf224d-87fe-403a-8721-037a1a45%2F7",
    "decf224d-87fe-403a-8721-037a1a45c287\n",
    "decf224d-87fe-403a-8721-037a1a45c287?x=1",
    "decf224d87fe403a8721037a1a45c287",
]


@pytest.fixture
def any_request(sdrs_api: respx.Router) -> respx.Route:
    return sdrs_api.route().mock(return_value=httpx.Response(204))


@pytest.mark.parametrize("bad", BAD_PROJECT_IDS)
def test_bad_project_id_is_refused_before_any_request(
    bad: str, any_request: respx.Route, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="project id"):
        client.delete_group_failure_jobs(bad, GROUP, deadline(clock))
    with pytest.raises(ValueError, match="project id"):
        client.list_failure_jobs(bad, GROUP, deadline(clock))
    with pytest.raises(ValueError, match="project id"):
        client.server_groups_page(bad, 0, deadline(clock))
    assert any_request.call_count == 0


@pytest.mark.parametrize("bad", BAD_GROUP_IDS)
def test_bad_group_id_is_refused_before_any_request(
    bad: str, any_request: respx.Route, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="protection group id"):
        client.delete_group_failure_jobs(PROJECT, bad, deadline(clock))
    with pytest.raises(ValueError, match="protection group id"):
        client.list_failure_jobs(PROJECT, bad, deadline(clock))
    assert any_request.call_count == 0


@pytest.mark.parametrize("path", [PROJECT_WIDE_PATH, PROJECT_WIDE_PATH + "/"])
def test_project_wide_delete_is_refused(
    path: str, any_request: respx.Route, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    with pytest.raises((AssertionError, ValueError), match="project-wide"):
        make_client()._call("DELETE", path, PROJECT, deadline(clock))
    assert any_request.call_count == 0


def test_no_public_call_reaches_the_project_wide_path(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    project_wide = sdrs_api.delete(PROJECT_WIDE_URL).mock(return_value=httpx.Response(204))
    pages = paged_listing(3)
    anything = sdrs_api.route().mock(
        side_effect=lambda request: pages(request) if request.method == "GET" else httpx.Response(204)
    )
    client = make_client()

    client.list_failure_jobs(PROJECT, GROUP, deadline(clock))
    client.delete_group_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert project_wide.call_count == 0
    assert anything.call_count == 2
    assert all(not re.search(r"/task-center/failure-jobs/batch", str(c.request.url)) for c in anything.calls)


# --- headers and signature ----------------------------------------------------------------

_AUTHORIZATION = re.compile(
    rf"{ALGORITHM} Access=(?P<ak>[^,]+), SignedHeaders=(?P<signed>[^,]+), Signature=(?P<sig>[0-9a-f]{{64}})"
)


def resign(request: httpx.Request, signed_names: list[str], secret_key: str) -> Signature:
    """Sign `request` again from what it carries, over the headers it names, with `secret_key`."""
    return sign(
        method=request.method,
        path=request.url.path,
        query=request.url.query.decode(),
        headers={name: request.headers[name] for name in signed_names},
        body=request.content,
        access_key=CREDENTIALS.access_key,
        secret_key=secret_key,
        sdk_date=request.headers["X-Sdk-Date"],
    )


def assert_signed(request: httpx.Request) -> None:
    assert request.headers["X-Project-Id"] == PROJECT
    assert request.headers["X-Security-Token"] == CREDENTIALS.security_token
    assert re.fullmatch(r"\d{8}T\d{6}Z", request.headers["X-Sdk-Date"])
    match = _AUTHORIZATION.fullmatch(request.headers["Authorization"])
    assert match, request.headers["Authorization"]
    assert match["ak"] == CREDENTIALS.access_key
    signed_names = match["signed"].split(";")
    assert {"host", "x-project-id", "x-sdk-date", "x-security-token"} <= set(signed_names)
    assert request.headers["Host"] == httpx.URL(ENDPOINT).host
    recomputed = resign(request, signed_names, CREDENTIALS.secret_key)
    assert recomputed.signature == match["sig"]
    assert recomputed.authorization == request.headers["Authorization"]


def test_every_request_is_signed_and_names_the_project(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    listing_route = sdrs_api.get(LIST_URL).mock(side_effect=paged_listing(PAGE_SIZE + 5))
    delete_route = sdrs_api.delete(DELETE_URL).mock(
        side_effect=[httpx.ConnectError("refused"), sdrs_error(503), httpx.Response(204)]
    )
    client = make_client()

    client.list_failure_jobs(PROJECT, GROUP, deadline(clock))
    client.delete_group_failure_jobs(PROJECT, GROUP, deadline(clock))

    requests = [call.request for call in [*listing_route.calls, *delete_route.calls]]
    assert len(requests) == 2 + 3
    for request in requests:
        assert_signed(request)


def test_signature_check_detects_a_wrong_secret(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    """The recomputation above can fail: with another secret key it does not match."""
    route = sdrs_api.delete(DELETE_URL).mock(return_value=httpx.Response(204))
    make_client().delete_group_failure_jobs(PROJECT, GROUP, deadline(clock))
    request = route.calls.last.request
    signed_names = _AUTHORIZATION.fullmatch(request.headers["Authorization"])["signed"].split(";")  # type: ignore[index]
    other = resign(request, signed_names, "another-secret")
    assert other.authorization != request.headers["Authorization"]


def test_listing_query_is_sent_canonical(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    route = sdrs_api.get(LIST_URL).mock(return_value=listing(0, []))
    make_client().list_failure_jobs(PROJECT, GROUP, deadline(clock))
    assert route.calls.last.request.url.query.decode() == f"limit={PAGE_SIZE}&offset=0&server_group_id={GROUP}"


def test_repr_hides_credentials(make_client: Callable[..., SdrsClient]) -> None:
    client = make_client()
    for text in (repr(client), str(client), repr(client._connection), repr(client._connection.auth)):
        for secret in CREDENTIALS.secrets():
            assert secret not in text


def test_signature_also_verifies_with_the_independent_checker(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    route = sdrs_api.get(LIST_URL).mock(side_effect=paged_listing(3))
    make_client().list_failure_jobs(PROJECT, GROUP, deadline(clock))
    request = route.calls.last.request
    assert signature_problem(request, CREDENTIALS.access_key, CREDENTIALS.secret_key) is None
    assert signature_problem(request, CREDENTIALS.access_key, "wrong-secret") == "signature mismatch"


def test_error_echoing_the_access_key_is_redacted(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    """The API gateway documents 401 bodies that name the AK
    ("Get secretKey failed,ak:<AK>,err:ak not exist"): the error must not carry it on."""
    body = {
        "error_code": "APIGW.0301",
        "error_msg": f"Incorrect IAM authentication information: Get secretKey failed,ak:{CREDENTIALS.access_key},"
        "err:ak not exist",
        "request_id": "rid-echo",
    }
    sdrs_api.get(LIST_URL).mock(return_value=httpx.Response(401, json=body))

    with pytest.raises(SdrsApiError) as caught:
        make_client().list_failure_jobs(PROJECT, GROUP, deadline(clock))

    error = caught.value
    assert (error.code, error.request_id, error.retryable) == ("APIGW.0301", "rid-echo", False)
    assert "ak not exist" in error.message
    for text in (error.message, str(error), repr(error)):
        assert CREDENTIALS.access_key not in text


# --- a listing that changes while it is paged (another run deleting meanwhile) -------------------


def test_a_listing_whose_count_moves_is_read_again_from_the_start(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    """1500 tasks, then another run deletes 300 while page 2 is asked for: offset 1000 of what is
    left skips tasks that moved up. The count moved: read again; the second read is consistent."""
    jobs = make_failure_jobs(1500, GROUP)
    route = sdrs_api.get(
        LIST_URL
    ).mock(
        side_effect=[
            listing(1500, jobs[:PAGE_SIZE], "r1"),
            listing(1200, jobs[PAGE_SIZE:1200], "r2"),  # 200 tasks: with 1000 they make the new count
            listing(1200, jobs[300:1300], "r3"),
            listing(1200, jobs[1300:], "r4"),
        ]
    )

    result = make_client().list_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert [j["job_id"] for j in result.jobs] == [j["job_id"] for j in jobs[300:]]
    assert [call.request.url.params["offset"] for call in route.calls] == ["0", "1000", "0", "1000"]
    assert result.last.request_id == "r4"


def test_a_short_page_with_tasks_still_to_come_is_read_again(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    jobs = make_failure_jobs(5, GROUP)
    route = sdrs_api.get(
        LIST_URL
    ).mock(
        side_effect=[
            listing(5, jobs[:2], "r1"),
            listing(5, jobs[2:3], "r2"),  # shorter than the first page, two still to come
            listing(5, jobs[:2], "r3"),
            listing(5, jobs[2:4], "r4"),
            listing(5, jobs[4:], "r5"),
        ]
    )
    result = make_client().list_failure_jobs(PROJECT, GROUP, deadline(clock))
    assert result.jobs == jobs
    assert route.call_count == 5


def test_a_listing_that_never_settles_is_unsettled_and_retryable(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    jobs = make_failure_jobs(2000, GROUP)
    pages = []
    for n in range(MAX_LISTING_READS):
        pages += [listing(2000 - n, jobs[:PAGE_SIZE], f"a{n}"), listing(1999 - n, jobs[PAGE_SIZE:1500], f"b{n}")]
    route = sdrs_api.get(LIST_URL).mock(side_effect=pages)

    with pytest.raises(SdrsApiError) as caught:
        make_client().list_failure_jobs(PROJECT, GROUP, deadline(clock))

    assert (caught.value.code, caught.value.retryable, caught.value.request_id) == ("Listing.Unsettled", True, "b2")
    assert "not deleted" in caught.value.message
    assert route.call_count == 2 * MAX_LISTING_READS


def test_a_backoff_that_leaves_time_for_a_call_as_fast_as_the_last_is_taken(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    """2.5 s left, answers in no time: after a 2 s backoff, 0.5 s is plenty for one more call."""
    policy = RetryPolicy(max_attempts=5, base_delay=2.0, max_delay=8.0, min_attempt_time=1.0)
    route = sdrs_api.delete(DELETE_URL).mock(side_effect=[sdrs_error(502), httpx.Response(204)])

    reply = make_client(policy, SequenceRng([1.0])).delete_group_failure_jobs(PROJECT, GROUP, deadline(clock, 2.5))

    assert (reply.status_code, reply.attempts, route.call_count) == (204, 2, 2)
    assert clock.sleeps == [2.0]


def test_before_any_answer_an_attempt_needs_the_prior_then_what_calls_take(
    sdrs_api: respx.Router, make_client: Callable[..., SdrsClient], clock: ManualClock
) -> None:
    client = make_client(RetryPolicy(min_attempt_time=1.0))
    assert client.call_time() == 1.0  # nothing timed yet
    with pytest.raises(SdrsApiError) as caught:
        client.delete_group_failure_jobs(PROJECT, GROUP, deadline(clock, 0.9))
    assert (caught.value.code, caught.value.attempts) == ("Deadline.Exceeded", 0)

    def answer_in(seconds: float) -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            clock.advance(seconds)
            return httpx.Response(204)

        return answer

    route = sdrs_api.delete(DELETE_URL).mock(side_effect=answer_in(0.02))
    client.delete_group_failure_jobs(PROJECT, GROUP, deadline(clock, 5.0))
    assert client.call_time() == 0.1  # twice 0.02 s, but never below MIN_CALL_TIME
    client.delete_group_failure_jobs(PROJECT, GROUP, deadline(clock, 0.3))  # now 0.3 s is enough
    route.side_effect = answer_in(3.0)
    client.delete_group_failure_jobs(PROJECT, GROUP, deadline(clock, 5.0))
    assert client.call_time() == 6.0  # the slowest of the recent calls, twice
    assert route.call_count == 3

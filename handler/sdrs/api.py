"""What the cleanup gets back from an SDRS client: replies, listings, the one error type, and
the deadline it passes down. No HTTP library here, so that the domain (`handler.cleanup`)
imports without one. This is the port: every name here has this one import path.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from handler.values import value_object

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
PROJECT_ID_RE = re.compile(r"[0-9a-f]{32}")
SERVER_GROUP_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EXAMPLE_PROJECT_ID = "0123456789abcdef0123456789abcdef"
EXAMPLE_SERVER_GROUP_ID = "decf224d-87fe-403a-8721-037a1a45c287"


def check_project_id(value: str) -> str:
    """Raise ValueError unless `value` is safe to put in a URL path as a project id."""
    if not PROJECT_ID_RE.fullmatch(value):
        raise ValueError(f"must be a project id: 32 lowercase hex characters, e.g. {EXAMPLE_PROJECT_ID}")
    return value


def check_server_group_id(value: str) -> str:
    """Raise ValueError unless `value` is safe to put in a URL path as a protection group id."""
    if not SERVER_GROUP_ID_RE.fullmatch(value):
        raise ValueError(f"must be a protection group id: a lowercase UUID, e.g. {EXAMPLE_SERVER_GROUP_ID}")
    return value


class Deadline:
    """The time left in this invocation, less a margin kept for returning the result."""

    def __init__(self, seconds: float, margin: float = 0.0, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._ends_at = clock() + seconds - margin

    def remaining(self) -> float:
        return max(0.0, self._ends_at - self._clock())


@dataclass(slots=True)
class SdrsApiError(Exception):
    """A failed call: `code` is the API's (SDRS.xxxx, APIGW.xxxx) or our own (HTTP.502,
    Network.Timeout, Response.Invalid, Deadline.Exceeded)."""

    code: str
    message: str
    retryable: bool
    status_code: int | None = None
    request_id: str | None = None
    attempts: int = 1

    def __str__(self) -> str:
        status = f"HTTP {self.status_code} " if self.status_code else ""
        return f"{status}{self.code}: {self.message}"


@value_object
class Reply:
    """An answer of the API: its status, request id, the attempts it took and its size."""

    status_code: int
    request_id: str | None
    attempts: int
    body_bytes: int = 0  # the answer's size, when the client knows it (0: unknown)


def invalid_response(message: str, reply: Reply) -> SdrsApiError:
    """A successful answer whose body does not add up (a proxy's page, a listing changing
    under us): retryable, since the next answer may well be right."""
    return SdrsApiError(
        "Response.Invalid",
        message,
        retryable=True,
        status_code=reply.status_code,
        request_id=reply.request_id,
        attempts=reply.attempts,
    )


@value_object
class FailureJobListing:
    """A group's failed tasks as listed (every page), and the last answer."""

    jobs: list[dict[str, Any]]
    last: Reply
    # What the listing's pages weighed as the API sent them, for the response size guard (0: unknown).
    body_bytes: int = 0


@value_object
class ServerGroupPage:
    """One page of the project's protection groups."""

    count: int  # the total number of groups in the project, not this page's size
    server_groups: list[dict[str, Any]]
    reply: Reply


# A group's listing that changes while it is paged is read again from the start this many times
# at most; then the group is left alone in this run (Listing.Unsettled).
MAX_LISTING_READS = 3
ListingPage = tuple[int, list[dict[str, Any]], Reply]  # (count, the page's failed tasks, the answer)


class _Changed(Exception):
    pass


def read_listing(fetch: Callable[[int], ListingPage]) -> FailureJobListing:
    """Every failed task of a group, paged by offset with `fetch(offset)`.

    The audit record must hold every task the DELETE removes. Offset paging while another run
    deletes can skip tasks: a listing whose `count` moves between pages, or whose page comes back
    shorter than the first while tasks remain, is read again from the start; after
    MAX_LISTING_READS reads that never settled, Listing.Unsettled (retryable), and the group is
    not deleted. A listing that overshoots its count, or ends before it with the count unchanged,
    is Response.Invalid.
    """
    reply: Reply | None = None
    for _ in range(MAX_LISTING_READS):
        try:
            return _read_once(fetch)
        except _Changed as changed:
            reply = changed.args[0]
    assert reply is not None
    raise SdrsApiError(
        "Listing.Unsettled",
        f"the failed-task listing changed while it was read, {MAX_LISTING_READS} times in a row (another run "
        "deleting or tasks failing meanwhile); the group was not deleted, so that nothing is deleted unaudited",
        retryable=True,
        status_code=reply.status_code,
        request_id=reply.request_id,
        attempts=reply.attempts,
    )


def _read_once(fetch: Callable[[int], ListingPage]) -> FailureJobListing:
    count, page, reply = fetch(0)
    first_count, first_size = count, len(page)
    jobs = list(page)
    weight = reply.body_bytes
    all_weighed = weight > 0
    while True:
        if count != first_count:
            raise _Changed(reply)
        if len(jobs) > count or (not page and len(jobs) < count):
            problem = "more than its count" if len(jobs) > count else "ended early"
            raise invalid_response(f"the failed-task listing {problem}: {len(jobs)} of {count} failed tasks", reply)
        if len(jobs) == count:
            return FailureJobListing(jobs, reply, weight if weight and all_weighed else 0)
        if len(page) < first_size:  # a short page with tasks still to come: some moved under the offset
            raise _Changed(reply)
        count, page, reply = fetch(len(jobs))
        jobs.extend(page)
        weight += reply.body_bytes
        all_weighed = all_weighed and reply.body_bytes > 0


class SdrsApi(Protocol):
    """The calls the cleanup needs: `handler.sdrs.client.SdrsClient` is one."""

    def call_time(self) -> float:
        """The time one call is expected to take at most, judged from the answers so far."""
        ...

    def list_failure_jobs(self, project_id: str, server_group_id: str, deadline: Deadline) -> FailureJobListing: ...

    def delete_group_failure_jobs(self, project_id: str, server_group_id: str, deadline: Deadline) -> Reply: ...

    def server_groups_page(self, project_id: str, offset: int, deadline: Deadline) -> ServerGroupPage: ...

"""What SDRS does, once: the state and the semantics that both test doubles serve.

`SdrsState` keeps projects, protection groups and their failed tasks in memory, routes a
request, honours count/limit/offset paging, answers with the real error bodies, verifies the
AK/SK signature the way the API gateway does (with `handler.local.gateway`, written from the
spec: never with the signer under test), locks the AK out after five bad signatures, queues
scripted faults per route, records every request and counts the requests in flight.

Two transports serve it: the loopback HTTP server (`handler.local.emulator.SdrsEmulator`,
whose state this is: `EmulatorState` is this class) and the unit tests' respx double
(`tests.fake_sdrs.FakeSdrs`: httpx.Request in, httpx.Response out). A transport does

    state.enter()                                    # in flight
    fault = state.take_fault(route)                  # a scripted answer, or None
    answer = state.respond(SdrsRequest(...), request_id)   # authenticate, then the API
    state.leave(RecordedRequest(...))                # recorded, no longer in flight

The few ways the two doubles differ are policies of the state, not second copies:
`auto_failed_tasks` (a group nobody added is created on first use with that many failed
tasks, as the unit tests like; None: unknown projects and groups are errors, as in SDRS),
`require_group_filter` (refuse a project-wide failed-task listing), `sorted_listing`
(protection groups listed by id, or in the order added), `group_item` and `job_factory`
(the shape of listed groups and failed tasks), `server_groups_page_cap`, `listings` and
`on_server_groups_page`.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from handler.local.gateway import GatewayRequest, canonical_query, signature_problem
from handler.sdrs.api import PROJECT_ID_RE, SERVER_GROUP_ID_RE

ALLOWED_CLOCK_SKEW_SECONDS = 15 * 60
LOCKOUT_THRESHOLD, LOCKOUT_SECONDS = 5, 300
PAGE_LIMIT = 1000  # the API's largest page

# Route names, by method and path.
LIST_SERVER_GROUPS = "list_server_groups"
LIST_FAILURE_JOBS = "list_failure_jobs"
DELETE_GROUP_FAILURE_JOBS = "delete_group_failure_jobs"
DELETE_ALL_FAILURE_JOBS = "delete_all_failure_jobs"
DELETE_FAILURE_JOB = "delete_failure_job"
UNKNOWN = "unknown"
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("DELETE", re.compile(r"/v1/(?P<project>[^/]+)/task-center/failure-jobs/batch/?"), DELETE_ALL_FAILURE_JOBS),
    (
        "DELETE",
        re.compile(r"/v1/(?P<project>[^/]+)/task-center/(?P<group>[^/]+)/failure-jobs/batch"),
        DELETE_GROUP_FAILURE_JOBS,
    ),
    ("DELETE", re.compile(r"/v1/(?P<project>[^/]+)/task-center/failure-jobs/(?P<job>[^/]+)"), DELETE_FAILURE_JOB),
    ("GET", re.compile(r"/v1/(?P<project>[^/]+)/task-center/failure-jobs"), LIST_FAILURE_JOBS),
    ("GET", re.compile(r"/v1/(?P<project>[^/]+)/server-groups"), LIST_SERVER_GROUPS),
]


def route_of(method: str, path: str) -> tuple[str, dict[str, str]]:
    """The route a request takes, and the parts of its path (project, group, job)."""
    for route_method, pattern, name in ROUTES:
        if method == route_method and (match := pattern.fullmatch(path)):
            return name, match.groupdict()
    return UNKNOWN, {}


# --- scripted faults ------------------------------------------------------------------------


@dataclass
class Fault:
    """How the next request to a route is answered (see handler/local/emulator.py).

    `status`: a canned answer with `body` and `headers` (the request is not applied), or
    None: the emulated answer, with `headers` added. `delay`: seconds added before
    answering. `drop_connection`: close the connection instead of answering (the status then
    says only whether the request is applied first: None, or not: any number). `truncate`:
    send only that many bytes of the body (Content-Length still says the whole), then close
    the connection. `trickle`: seconds between the body's bytes. An answer that is delayed,
    cut short or trickled also closes the connection after it.
    """

    status: int | None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop_connection: bool = False
    truncate: int | None = None
    trickle: float = 0.0


def json_bytes(value: object) -> bytes:
    return json.dumps(value).encode()


JSON_HEADERS = {"Content-Type": "application/json;charset=UTF-8"}
_BAD_GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_LISTING = json_bytes({"count": 1, "failure_jobs": [{"job_id": "0" * 32, "job_status": "FAIL"}]})
_EMPTY_LISTINGS = json_bytes({"count": 0, "failure_jobs": [], "server_groups": []})  # valid for both listings
_THROTTLED = json_bytes({"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached"})

# The faults the fault suite plays, by name: fn(seconds) -> a fresh Fault. `seconds` is the
# added time of the timing faults ("latency", "slow"; "trickle": between two bytes) and is
# ignored by the others.
COMMON_FAULTS: dict[str, Callable[[float], Fault]] = {
    "http-400": lambda _: Fault(
        400, json_bytes({"error": {"code": "SDRS.0201", "message": "Invalid parameters"}}), JSON_HEADERS
    ),
    "http-401": lambda _: Fault(
        401,
        json_bytes({"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information"}),
        JSON_HEADERS,
    ),
    "http-403": lambda _: Fault(
        403,
        json_bytes({"error_code": "APIGW.0302", "error_msg": "The IAM user is not authorized to access the API"}),
        JSON_HEADERS,
    ),
    "http-404": lambda _: Fault(
        404,
        json_bytes({"error_code": "APIGW.0101", "error_msg": "The API does not exist or has not been published"}),
        JSON_HEADERS,
    ),
    "http-409": lambda _: Fault(409),
    "http-429": lambda _: Fault(429, _THROTTLED, {**JSON_HEADERS, "Retry-After": "1"}),
    "http-429-retry-after-too-long": lambda _: Fault(429, _THROTTLED, {**JSON_HEADERS, "Retry-After": "3600"}),
    "http-500": lambda _: Fault(
        500, json_bytes({"error": {"code": "SDRS.0500", "message": "Internal error"}}), JSON_HEADERS
    ),
    "http-501": lambda _: Fault(501),
    "http-502-html": lambda _: Fault(502, _BAD_GATEWAY_PAGE, {"Content-Type": "text/html"}),
    "http-503": lambda _: Fault(503),
    "http-504": lambda _: Fault(504, b"upstream request timeout", {"Content-Type": "text/plain"}),
    "200-non-json": lambda _: Fault(200, b"OK", {"Content-Type": "text/plain"}),
    "200-html": lambda _: Fault(200, b"<html><body>Please sign in</body></html>", {"Content-Type": "text/html"}),
    "200-wrong-shape": lambda _: Fault(200, json_bytes({"jobs": [], "total": 0}), JSON_HEADERS),
    "200-instead-of-204": lambda _: Fault(200, json_bytes({}), JSON_HEADERS),
    "200-cut-json": lambda _: Fault(200, _LISTING[: len(_LISTING) // 2], JSON_HEADERS),  # well framed, cut JSON
    "truncated": lambda _: Fault(200, _LISTING, JSON_HEADERS, truncate=len(_LISTING) // 2),
    "dropped": lambda _: Fault(0, drop_connection=True),
    "applied-then-dropped": lambda _: Fault(None, drop_connection=True),
    "slow": lambda seconds: Fault(200, _LISTING, JSON_HEADERS, delay=seconds),
    "latency": lambda seconds: Fault(None, delay=seconds),
    "trickle": lambda seconds: Fault(200, _EMPTY_LISTINGS, JSON_HEADERS, trickle=seconds),
}


def common_fault(name: str, seconds: float = 1.0) -> Fault:
    """A fresh COMMON_FAULTS[name]: e.g. `state.inject("list_failure_jobs", common_fault("truncated"))`."""
    return COMMON_FAULTS[name](seconds)


# --- requests, answers, records ---------------------------------------------------------------


@dataclass(frozen=True)
class SdrsRequest(GatewayRequest):
    """A request as it arrived: `target` is the raw path and query, exactly as sent."""

    headers: Mapping[str, str]


@dataclass(frozen=True)
class SdrsAnswer:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    status: int  # the status answered; 0 when the connection was dropped instead
    route: str
    arrived: float = 0.0  # time.monotonic() when the request line had been read
    request_id: str | None = None


def failure_job(server_group_id: str, n: int, hour: int = 10) -> dict[str, Any]:
    """The `n`th failed task of a group, shaped like the API's `failure_jobs` items."""
    even = n % 2 == 0
    return {
        "job_id": uuid.uuid5(uuid.NAMESPACE_URL, f"{server_group_id}/{n}").hex,
        "job_type": "createProtectedInstance" if even else "deleteReplication",
        "job_status": "FAIL",
        "begin_time": f"2026-11-20T{hour:02d}:{n % 60:02d}:00.000Z",
        "end_time": f"2026-11-20T{hour:02d}:{n % 60:02d}:30.000Z",
        "failure_status": "createFail" if even else "deleteFail",
        "resource_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{server_group_id}.{n}")),
        "resource_name": f"protected-instance-{n:04d}",
        "resource_type": "protectedInstance" if even else "replication",
        "server_group_id": server_group_id,
        "error_code": "EVS.2024" if even else "SDRS.1102",
        "fail_reason": "SdrsGenerateNativeServerParamsTask-fail:volume is error!",
    }


def brief_group_item(server_group_id: str, name: str) -> dict[str, Any]:
    return {"id": server_group_id, "name": name, "status": "protected"}


class _Reply(Exception):
    def __init__(self, status: int, body: dict[str, Any] | None = None) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def _sdrs_error(status: int, code: str, message: str) -> _Reply:
    return _Reply(status, {"error": {"code": code, "message": message}})


def _page(query: dict[str, str]) -> tuple[int, int]:
    try:
        limit = int(query.get("limit", str(PAGE_LIMIT)))
        if not 0 <= limit <= PAGE_LIMIT:
            raise ValueError
    except ValueError:
        raise _sdrs_error(400, "SDRS.0221", "Invalid limit: it must be an integer from 0 to 1000") from None
    try:
        offset = int(query.get("offset", "0"))
        if offset < 0:
            raise ValueError
    except ValueError:
        raise _sdrs_error(400, "SDRS.0222", "Invalid offset: it must be a non-negative integer") from None
    return limit, offset


# --- the state ----------------------------------------------------------------------------------


@dataclass
class SdrsState:
    access_key: str
    secret_key: str
    security_token: str | None = None
    # project id -> group id -> that group's failed tasks (groups in the order added)
    projects: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    group_names: dict[str, str] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: dict[str, deque[Fault]] = field(default_factory=dict)
    latency: float = 0.0  # seconds every answer takes (the loopback server waits them out)
    # Requests being served right now, and the most there ever were at once.
    in_flight: int = 0
    max_in_flight: int = 0
    # Policies (see the module's docstring).
    auto_failed_tasks: int | None = None
    require_group_filter: bool = False
    sorted_listing: bool = True
    group_item: Callable[[str, str], dict[str, Any]] = brief_group_item
    job_factory: Callable[[str, int], dict[str, Any]] = failure_job
    server_groups_page_cap: int = PAGE_LIMIT
    # project id -> the raw `server_groups` items to list instead of the project's groups.
    listings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Called with (project, offset) before a protection-group page is answered.
    on_server_groups_page: Callable[[str, int], None] | None = None
    request_ids: Callable[[], str] = lambda: uuid.uuid4().hex  # the X-Request-Id of each answer
    clock: Callable[[], float] = time.monotonic  # the lock-out's
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # the gateway's, for X-Sdk-Date
    # Re-entrant: hooks called while a request holds it may use the state.
    lock: threading.RLock = field(default_factory=threading.RLock)
    _bad_signatures: int = 0
    _locked_until: float = 0.0

    # --- the inventory ------------------------------------------------------------------

    def add_group(
        self, project_id: str, server_group_id: str, failed_tasks: int = 0, name: str = ""
    ) -> list[dict[str, Any]]:
        """A group (in the project, created if need be) with that many failed tasks; its tasks."""
        jobs = [self.job_factory(server_group_id, n) for n in range(failed_tasks)]
        with self.lock:
            self.projects.setdefault(project_id, {})[server_group_id] = jobs
            self.group_names[server_group_id] = name or f"pg-{server_group_id[:8]}"
            return list(jobs)

    def failure_jobs(self, project_id: str, server_group_id: str) -> list[dict[str, Any]]:
        """The group's failed tasks now (with `auto_failed_tasks`, a group never heard of is created)."""
        with self.lock:
            groups = self.projects.get(project_id, {})
            if server_group_id not in groups and self.auto_failed_tasks is not None:
                return self.add_group(project_id, server_group_id, self.auto_failed_tasks)
            return list(groups.get(server_group_id, []))

    def server_groups(self, project_id: str) -> list[dict[str, Any]]:
        """What the protection-group listing lists, all pages: the `listings` override, or
        the project's groups (by id, or in the order added)."""
        with self.lock:
            if project_id in self.listings:
                return list(self.listings[project_id])
            ids = list(self.projects.get(project_id, {}))
            ordered = sorted(ids) if self.sorted_listing else ids
            return [self.group_item(gid, self.group_names.get(gid, gid)) for gid in ordered]

    # --- faults, records, in flight ----------------------------------------------------------

    def inject(self, route: str, *faults: Fault) -> None:
        """Queue answers for a route: list_failure_jobs, delete_group_failure_jobs, ..."""
        with self.lock:
            self.faults.setdefault(route, deque()).extend(faults)

    def take_fault(self, route: str) -> Fault | None:
        with self.lock:
            queue = self.faults.get(route)
            return queue.popleft() if queue else None

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self, record: RecordedRequest | None = None) -> None:
        """Record the request (when given) and leave the in-flight count, at once."""
        with self.lock:
            if record is not None:
                self.requests.append(record)
            self.in_flight -= 1

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until no request is being served: a request is recorded only once answered (a
        slow fault's, after its delay), and the client may have its answer a moment earlier."""
        give_up = time.monotonic() + timeout
        while True:
            with self.lock:
                if self.in_flight == 0:
                    return
            if time.monotonic() >= give_up:
                raise AssertionError("the emulator is still serving requests")
            time.sleep(0.002)

    def calls(self, route: str | None = None) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if route is None or r.route == route]

    # --- the API ----------------------------------------------------------------------------

    def respond(self, request: SdrsRequest, request_id: str) -> SdrsAnswer:
        """The gateway's and SDRS's answer: authenticate, then apply the request."""
        try:
            self.authenticate(request, request_id)
            reply = self._dispatch(request)
        except _Reply as answer:
            reply = answer
        payload = json_bytes(reply.body) if reply.body is not None else b""
        return SdrsAnswer(reply.status, payload, {**(JSON_HEADERS if payload else {}), "X-Request-Id": request_id})

    def authenticate(self, request: SdrsRequest, request_id: str) -> None:
        """Raise the gateway's 401 unless the request is signed with the current credentials;
        LOCKOUT_THRESHOLD bad signatures in a row lock the AK for LOCKOUT_SECONDS."""
        now = self.clock()
        with self.lock:
            if self._locked_until > now:
                raise self._gateway_401(
                    "the AK is locked after repeated signature failures; try again in five minutes", request_id
                )
            access_key, secret_key, token = self.access_key, self.secret_key, self.security_token
        problem = signature_problem(
            request,
            access_key=access_key,
            secret_key=secret_key,
            security_token=token,
            now=self.wall_clock(),
        )
        if problem is None and request.query and request.query != canonical_query(request.query):
            problem = "verify aksk signature fail: the query string sent is not the one signed"
        with self.lock:
            if problem is None:
                self._bad_signatures = 0
                return
            self._bad_signatures += 1
            if self._bad_signatures >= LOCKOUT_THRESHOLD:
                self._locked_until = now + LOCKOUT_SECONDS
        raise self._gateway_401(problem, request_id)

    @staticmethod
    def _gateway_401(problem: str, request_id: str) -> _Reply:
        message = f"Incorrect IAM authentication information: {problem}"
        return _Reply(401, {"error_code": "APIGW.0301", "error_msg": message, "request_id": request_id})

    def _dispatch(self, request: SdrsRequest) -> _Reply:
        route, parts = route_of(request.method, request.path)
        if route == UNKNOWN:
            raise _Reply(
                404, {"error_code": "APIGW.0101", "error_msg": "The API does not exist or has not been published"}
            )
        project_id = parts["project"]
        if not PROJECT_ID_RE.fullmatch(project_id):
            raise _sdrs_error(400, "SDRS.0201", "Invalid parameters: project_id")
        sent_project = {k.lower(): v for k, v in request.headers.items()}.get("x-project-id")
        if sent_project is not None and sent_project != project_id:
            raise _sdrs_error(400, "SDRS.0004", "X-Project-Id does not match the project")
        query = dict(parse_qsl(request.query, keep_blank_values=True))
        with self.lock:
            groups = self.projects.get(project_id)
            if groups is None and self.auto_failed_tasks is None:
                raise _sdrs_error(400, "SDRS.0003", "The tenant or project does not exist or has no permission")
            if groups is None:
                groups = {}
            if route == LIST_FAILURE_JOBS:
                return self._list_failure_jobs(project_id, groups, query)
            if route == LIST_SERVER_GROUPS:
                limit, offset = _page(query)
                if self.on_server_groups_page is not None:
                    self.on_server_groups_page(project_id, offset)
                listed = self.server_groups(project_id)
                page = listed[offset : offset + min(limit, self.server_groups_page_cap)]
                return _Reply(200, {"count": len(listed), "server_groups": page})
            if route == DELETE_GROUP_FAILURE_JOBS:
                group_id = parts["group"]
                if not SERVER_GROUP_ID_RE.fullmatch(group_id):
                    raise _sdrs_error(400, "SDRS.0207", "Invalid protection group ID")
                if group_id not in groups and self.auto_failed_tasks is None:
                    raise _sdrs_error(400, "SDRS.1013", "The protection group does not exist")
                self.projects.setdefault(project_id, groups)[group_id] = []
                return _Reply(204)
            if route == DELETE_ALL_FAILURE_JOBS:
                for group_id in groups:
                    groups[group_id] = []
                return _Reply(204)
            for group_jobs in groups.values():  # DELETE_FAILURE_JOB
                for job in group_jobs:
                    if job["job_id"] == parts["job"]:
                        group_jobs.remove(job)
                        return _Reply(204)
            raise _sdrs_error(404, "SDRS.1501", "The failed task does not exist")

    def _list_failure_jobs(
        self, project_id: str, groups: dict[str, list[dict[str, Any]]], query: dict[str, str]
    ) -> _Reply:
        wanted = query.get("server_group_id")
        if wanted is None and self.require_group_filter:
            # Legal for the API (lists the whole project), but the function must never do it.
            raise _sdrs_error(400, "SDRS.0000", "test double: server_group_id is required here")
        limit, offset = _page(query)
        if wanted is not None and not SERVER_GROUP_ID_RE.fullmatch(wanted):
            raise _sdrs_error(400, "SDRS.0207", "Invalid protection group ID")
        if wanted is not None:
            jobs = self.failure_jobs(project_id, wanted)
        else:
            jobs = [job for group_jobs in groups.values() for job in group_jobs]
        return _Reply(200, {"count": len(jobs), "failure_jobs": jobs[offset : offset + limit]})

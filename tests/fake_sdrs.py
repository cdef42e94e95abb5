"""A small in-memory SDRS API for respx, written from the API documentation.

It answers the three calls the function may make (list a project's protection groups, list
a group's failed tasks, delete a group's failed tasks), honours count/limit/offset paging,
stamps every answer with an X-Request-Id, verifies the SDK-HMAC-SHA256 signature with its
own implementation (not the one under test), records every request, and can be told to
fail (per method, group, call and page). It also answers the project-wide batch delete (by
wiping the whole project, as the real one would) so that a test can see that it was never
called.

Requests may arrive concurrently (the function works with a thread pool): the fake's state
is behind a lock, and it counts the requests in flight (`max_in_flight`). `on_request` runs
inside that window for every request, so a test can make each call take time (a real
sleep, or a fake clock's advance).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import httpx
import respx

PROJECT_ID = "0123456789abcdef0123456789abcdef"
OTHER_PROJECT_ID = "fedcba9876543210fedcba9876543210"
SWEEP_PROJECT_ID = "5eeb5eeb5eeb5eeb5eeb5eeb5eeb5eeb"  # no seeded groups: sweep tests fill it
ACCESS_KEY = "HPUATESTACCESSKEY0001"
SECRET_KEY = "unit-test-secret-key-not-a-real-credential"
REGION = "cn-north-4"
SDRS_HOST = f"sdrs.{REGION}.myhuaweicloud.com"
PAGE_LIMIT = 1000  # the API's largest page

# Groups the fake knows from the start (in PROJECT_ID), with their number of failed tasks.
GROUP_WITH_FAILURES = "decf224d-87fe-403a-8721-037a1a45c287"
GROUP_CLEAN = "5f8a7e3c-2b1d-4c6e-9a0f-1e2d3c4b5a69"
GROUP_MANY_FAILURES = "9b2c4d6e-8f10-4a3b-b5c7-d9e1f3a5b7c9"
GROUP_SCHEDULED = "7c1e2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b"
GROUP_UNTOUCHED = "3e5f7a9b-1c2d-4e6f-8a0b-2c4d6e8f0a1b"  # never named anywhere: must survive
SEEDED_GROUPS = {
    GROUP_WITH_FAILURES: 3,
    GROUP_CLEAN: 0,
    GROUP_MANY_FAILURES: 1205,
    GROUP_SCHEDULED: 4,
    GROUP_UNTOUCHED: 2,
}
DEFAULT_FAILED_TASKS = 2  # for any other (project, group) the fake is asked about

AUTHORIZATION_RE = re.compile(
    r"SDK-HMAC-SHA256 Access=(?P<ak>[^,\s]+), SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})"
)
SDK_DATE_RE = re.compile(r"\d{8}T\d{6}Z")
LIST_PATH_RE = re.compile(r"/v1/(?P<project>[^/]+)/task-center/failure-jobs")
SERVER_GROUPS_PATH_RE = re.compile(r"/v1/(?P<project>[^/]+)/server-groups")
GROUP_DELETE_PATH_RE = re.compile(r"/v1/(?P<project>[^/]+)/task-center/(?P<group>[^/]+)/failure-jobs/batch")
PROJECT_WIDE_DELETE_PATH_RE = re.compile(r"/v1/(?P<project>[^/]+)/task-center/failure-jobs/batch/?")


def list_path(project_id: str) -> str:
    return f"/v1/{project_id}/task-center/failure-jobs"


def group_delete_path(project_id: str, server_group_id: str) -> str:
    return f"/v1/{project_id}/task-center/{server_group_id}/failure-jobs/batch"


def server_groups_path(project_id: str) -> str:
    return f"/v1/{project_id}/server-groups"


def sweep_group_ids(n: int, seed: str = "sweep") -> list[str]:
    """`n` distinct protection group ids (lowercase UUIDs), deliberately not in sorted order."""
    ids = [str(uuid.uuid5(uuid.NAMESPACE_OID, f"{seed}-group-{i}")) for i in range(n)]
    assert n < 3 or ids != sorted(ids), "the ids should not come sorted already"
    return ids


def server_group_item(server_group_id: str) -> dict[str, Any]:
    """One item of the API's `server_groups` list (ListServerGroups), trimmed."""
    return {
        "id": server_group_id,
        "name": f"pg-{server_group_id[:8]}",
        "description": "",
        "status": "protected",
        "progress": 0,
        "source_availability_zone": "cn-north-4a",
        "target_availability_zone": "cn-north-4b",
        "domain_id": "2e2c5b1c1b4f4d8e9a7c6b5a4f3e2d1c",
        "domain_name": "sdrs-domain",
        "protected_instance_num": 2,
        "protection_type": "replication-pair",
        "replication_model": "hypermetro",
        "priority_station": "source",
        "health_status": "normal",
        "created_at": "2026-01-20 10:00:00.0",
        "updated_at": "2026-11-20 09:00:00.0",
    }


def make_failure_jobs(n: int, server_group_id: str = GROUP_WITH_FAILURES) -> list[dict[str, Any]]:
    """`n` failed tasks of one group, shaped like the API's `failure_jobs` items."""
    jobs = []
    for i in range(n):
        even = i % 2 == 0
        jobs.append(
            {
                "job_id": uuid.uuid5(uuid.NAMESPACE_URL, f"{server_group_id}/{i}").hex,
                "job_type": "createProtectedInstance" if even else "deleteReplication",
                "job_status": "FAIL",
                "begin_time": f"2026-11-20T09:{i % 60:02d}:00.000Z",
                "end_time": f"2026-11-20T09:{i % 60:02d}:30.000Z",
                "failure_status": "createFail" if even else "deleteFail",
                "resource_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{server_group_id}.{i}")),
                "resource_name": f"protected-instance-{i:04d}",
                "resource_type": "protectedInstance" if even else "replication",
                "server_group_id": server_group_id,
                "error_code": "EVS.2024" if even else "SDRS.1102",
                "fail_reason": "SdrsGenerateNativeServerParamsTask-fail:volume is error!",
            }
        )
    return jobs


def _encode(text: str) -> str:
    return quote(text, safe="~")


def signature_problem(request: httpx.Request, access_key: str, secret_key: str) -> str | None:
    """Verify the request the way the API gateway does (APIG's documented algorithm).
    Returns what is wrong, or None when the signature holds."""
    match = AUTHORIZATION_RE.fullmatch(request.headers.get("Authorization", ""))
    if match is None:
        return "malformed Authorization header"
    if match["ak"] != access_key:
        return "unknown access key"
    signed = match["signed"].split(";")
    if "host" not in signed or "x-sdk-date" not in signed:
        return "host and x-sdk-date must be signed"
    if any(name not in request.headers for name in signed):
        return "a signed header is missing"
    sdk_date = request.headers["X-Sdk-Date"]
    if not SDK_DATE_RE.fullmatch(sdk_date):
        return "malformed X-Sdk-Date"
    stamped = datetime.strptime(sdk_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if abs(datetime.now(UTC) - stamped) > timedelta(minutes=15):
        return "X-Sdk-Date outside the 15 minute window"
    raw_path = request.url.raw_path.decode("ascii").split("?", 1)[0]
    uri = "/".join(_encode(unquote(segment)) for segment in raw_path.split("/"))
    uri = uri if uri.endswith("/") else uri + "/"
    pairs = parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)
    query = "&".join(f"{k}={v}" for k, v in sorted((_encode(k), _encode(v)) for k, v in pairs))
    headers = "".join(f"{name}:{request.headers[name].strip()}\n" for name in signed)
    canonical = "\n".join(
        [request.method, uri, query, headers, match["signed"], hashlib.sha256(request.content).hexdigest()]
    )
    to_sign = f"SDK-HMAC-SHA256\n{sdk_date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    expected = hmac.new(secret_key.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(expected, match["sig"]) else "signature mismatch"


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    raw_query: str
    query: dict[str, str]
    headers: httpx.Headers
    status: int | None  # None when the fake answered with a transport error
    request_id: str | None
    kind: str = "unknown"  # "server_groups", "failure_jobs", "delete", "project_wide_delete", "unknown"

    @property
    def offset(self) -> int | None:
        return int(self.query["offset"]) if "offset" in self.query else None

    @property
    def server_group_id(self) -> str | None:
        if "server_group_id" in self.query:
            return self.query["server_group_id"]
        match = GROUP_DELETE_PATH_RE.fullmatch(self.path)
        return match["group"] if match else None


def request_kind(method: str, path: str) -> str:
    if method == "GET" and SERVER_GROUPS_PATH_RE.fullmatch(path):
        return "server_groups"
    if method == "GET" and LIST_PATH_RE.fullmatch(path):
        return "failure_jobs"
    if method == "DELETE" and PROJECT_WIDE_DELETE_PATH_RE.fullmatch(path):
        return "project_wide_delete"
    if method == "DELETE" and GROUP_DELETE_PATH_RE.fullmatch(path):
        return "delete"
    return "unknown"


@dataclass
class _FaultRule:
    method: str
    server_group_id: str | None
    status: int
    body: Any
    headers: dict[str, str]
    error: type[httpx.TransportError] | None
    remaining: int | None
    kind: str | None = None
    offset: int | None = None

    def matches(self, method: str, group: str | None, kind: str, offset: int | None) -> bool:
        return (
            self.method == method
            and self.server_group_id in (None, group)
            and self.kind in (None, kind)
            and self.offset in (None, offset)
        )


@dataclass
class FakeSdrs:
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    host: str = SDRS_HOST
    jobs: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[SeenRequest] = field(default_factory=list)
    project_wide_deletes: list[SeenRequest] = field(default_factory=list)
    # project id -> the raw `server_groups` items to list, instead of the project's known
    # groups (a test can list ids that are not UUIDs, or groups with no failed-task record).
    listings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # The server's own largest page of protection groups: it may give less than `limit`.
    server_groups_page_cap: int = PAGE_LIMIT
    # Called for every request while it is in flight (make calls slow, move a fake clock).
    on_request: Callable[[httpx.Request], None] | None = None
    # Called with (project, offset) before a protection-group page is answered (e.g. to add
    # a group while the function is reading the listing).
    on_server_groups_page: Callable[[str, int], None] | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    _faults: list[_FaultRule] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __post_init__(self) -> None:
        for group, n in SEEDED_GROUPS.items():
            self.add_group(PROJECT_ID, group, n)

    def install(self, router: respx.Router) -> FakeSdrs:
        router.route(host=self.host).mock(side_effect=self.handle)
        return self

    def add_group(self, project_id: str, server_group_id: str, failed_tasks: int) -> list[dict[str, Any]]:
        with self._lock:
            self.jobs[(project_id, server_group_id)] = make_failure_jobs(failed_tasks, server_group_id)
            return list(self.jobs[(project_id, server_group_id)])

    def add_project(self, project_id: str, failed_tasks: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
        """Groups (id -> number of failed tasks) of a project, listed in this order; their jobs."""
        return {gid: self.add_group(project_id, gid, n) for gid, n in failed_tasks.items()}

    def failure_jobs(self, project_id: str, server_group_id: str) -> list[dict[str, Any]]:
        """The group's failed tasks now (a group it never heard of gets DEFAULT_FAILED_TASKS)."""
        with self._lock:
            key = (project_id, server_group_id)
            if key not in self.jobs:
                self.add_group(project_id, server_group_id, DEFAULT_FAILED_TASKS)
            return list(self.jobs[key])

    def server_groups(self, project_id: str) -> list[dict[str, Any]]:
        """What GET /v1/{project}/server-groups lists, in the fake's (unsorted) order: the
        `listings` override, or every group the fake knows in the project, in the order added."""
        with self._lock:
            if project_id in self.listings:
                return list(self.listings[project_id])
            return [server_group_item(gid) for project, gid in self.jobs if project == project_id]

    def fail(
        self,
        method: str,
        status: int = 503,
        *,
        server_group_id: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        error: type[httpx.TransportError] | None = None,
        times: int | None = None,
        kind: str | None = None,
        offset: int | None = None,
    ) -> None:
        """Answer `method` calls (for one group, or any; of one `kind` of call, or any; at one
        page `offset`, or any) with `status`/`body`, or raise `error`; `times` answers, or
        forever when None. Earlier rules win."""
        rule = _FaultRule(method, server_group_id, status, body, headers or {}, error, times, kind, offset)
        with self._lock:
            self._faults.append(rule)

    def calls(
        self, method: str | None = None, server_group_id: str | None = None, kind: str | None = None
    ) -> list[SeenRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method)
                and (server_group_id is None or r.server_group_id == server_group_id)
                and (kind is None or r.kind == kind)
            ]

    def listing_offsets(self, project_id: str | None = None) -> list[int]:
        """The offsets of the protection-group pages asked for, sorted (pages may be concurrent)."""
        pages = self.calls("GET", kind="server_groups")
        return sorted(r.offset or 0 for r in pages if project_id is None or r.path == server_groups_path(project_id))

    # --- the API -----------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.on_request is not None:
                self.on_request(request)
            with self._lock:
                return self._handle(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _handle(self, request: httpx.Request) -> httpx.Response:
        request_id = uuid.UUID(int=next(self._ids)).hex
        path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        raw_query = request.url.query.decode("ascii")
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        kind = request_kind(request.method, path)
        group = query.get("server_group_id")
        if (match := GROUP_DELETE_PATH_RE.fullmatch(path)) is not None:
            group = match["group"]
        offset = int(query["offset"]) if query.get("offset", "").isdigit() else None
        rule = self._take_fault(request.method, group, kind, offset)
        if rule is not None and rule.error is not None:
            self._record(request, path, raw_query, query, None, None, kind)
            raise rule.error("fake SDRS: connection failed", request=request)
        if rule is not None:
            response = self._json(rule.status, rule.body, request_id, rule.headers)
        else:
            response = self._answer(request, path, query, request_id)
        seen = self._record(request, path, raw_query, query, response.status_code, request_id, kind)
        if kind == "project_wide_delete":
            self.project_wide_deletes.append(seen)
        return response

    def _record(
        self,
        request: httpx.Request,
        path: str,
        raw_query: str,
        query: dict[str, str],
        status: int | None,
        request_id: str | None,
        kind: str,
    ) -> SeenRequest:
        seen = SeenRequest(request.method, path, raw_query, query, request.headers, status, request_id, kind)
        self.requests.append(seen)
        return seen

    def _take_fault(self, method: str, group: str | None, kind: str, offset: int | None) -> _FaultRule | None:
        for rule in self._faults:
            if rule.matches(method, group, kind, offset):
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._faults.remove(rule)
                return rule
        return None

    @staticmethod
    def _json(status: int, body: Any, request_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
        content = b"" if body is None else json.dumps(body).encode()
        base = {"X-Request-Id": request_id}
        if content:
            base["Content-Type"] = "application/json;charset=UTF-8"
        return httpx.Response(status, content=content, headers={**base, **(headers or {})})

    def _answer(self, request: httpx.Request, path: str, query: dict[str, str], request_id: str) -> httpx.Response:
        problem = signature_problem(request, self.access_key, self.secret_key)
        if problem is not None:
            body = {"error_code": "APIGW.0301", "error_msg": f"Incorrect IAM authentication: {problem}"}
            return self._json(401, {**body, "request_id": request_id}, request_id)
        if request.method == "GET" and (match := LIST_PATH_RE.fullmatch(path)):
            return self._list(match["project"], query, request, request_id)
        if request.method == "GET" and (match := SERVER_GROUPS_PATH_RE.fullmatch(path)):
            return self._list_server_groups(match["project"], query, request, request_id)
        if request.method == "DELETE" and (match := PROJECT_WIDE_DELETE_PATH_RE.fullmatch(path)):
            for key in [k for k in self.jobs if k[0] == match["project"]]:
                self.jobs[key] = []
            return self._json(204, None, request_id)
        if request.method == "DELETE" and (match := GROUP_DELETE_PATH_RE.fullmatch(path)):
            project, group = match["project"], match["group"]
            if request.headers.get("X-Project-Id") != project:
                return self._error(400, "SDRS.0004", "X-Project-Id does not match the project", request_id)
            self.failure_jobs(project, group)
            self.jobs[(project, group)] = []
            return self._json(204, None, request_id)
        return self._error(404, "SDRS.0404", f"no such API: {request.method} {path}", request_id)

    def _list(self, project: str, query: dict[str, str], request: httpx.Request, request_id: str) -> httpx.Response:
        if request.headers.get("X-Project-Id") != project:
            return self._error(400, "SDRS.0004", "X-Project-Id does not match the project", request_id)
        group = query.get("server_group_id")
        if group is None:
            # Legal for the API (lists the whole project), but this function must never do it.
            return self._error(400, "SDRS.0000", "fake SDRS: server_group_id is required here", request_id)
        page = self._page(query, request_id)
        if isinstance(page, httpx.Response):
            return page
        limit, offset = page
        jobs = self.failure_jobs(project, group)
        return self._json(200, {"failure_jobs": jobs[offset : offset + limit], "count": len(jobs)}, request_id)

    def _page(self, query: dict[str, str], request_id: str) -> tuple[int, int] | httpx.Response:
        """(limit, offset) from the query, or the API's answer to bad ones."""
        try:
            limit, offset = int(query.get("limit", PAGE_LIMIT)), int(query.get("offset", 0))
        except ValueError:
            return self._error(400, "SDRS.0221", "limit and offset must be integers", request_id)
        if not (0 <= limit <= PAGE_LIMIT and offset >= 0):
            return self._error(400, "SDRS.0221", "limit must be 0..1000 and offset >= 0", request_id)
        return limit, offset

    def _list_server_groups(
        self, project: str, query: dict[str, str], request: httpx.Request, request_id: str
    ) -> httpx.Response:
        if request.headers.get("X-Project-Id") != project:
            return self._error(400, "SDRS.0004", "X-Project-Id does not match the project", request_id)
        page = self._page(query, request_id)
        if isinstance(page, httpx.Response):
            return page
        limit, offset = page
        if self.on_server_groups_page is not None:
            self.on_server_groups_page(project, offset)
        listed = self.server_groups(project)
        page = listed[offset : offset + min(limit, self.server_groups_page_cap)]
        return self._json(200, {"server_groups": page, "count": len(listed)}, request_id)

    def _error(self, status: int, code: str, message: str, request_id: str) -> httpx.Response:
        return self._json(status, {"error": {"code": code, "message": message}}, request_id)

"""A small in-memory SDRS API for respx: a thin adapter over the one SDRS behaviour.

What SDRS does (routes, count/limit/offset paging, the real error bodies, X-Request-Id on
every answer, AK/SK verification with the gateway verifier written from the spec, not the
signer under test, lock-out after five bad signatures, request records, in-flight counting)
is `handler.local.sdrs_behaviour.SdrsState`, which the loopback emulator serves too. This
module turns an httpx.Request into a request for it and its answer into an httpx.Response,
with the unit tests' policies: a (project, group) nobody added has DEFAULT_FAILED_TASKS failed
tasks, a failed-task listing must name its group, groups are listed in the order added (not
sorted), with the API's full item. It also answers the project-wide batch delete (by wiping
the whole project, as the real one would) so that a test can see that it was never called.

Its own layer is the unit tests' fault rules: `fail(...)` answers per method, group, kind of
call and page, or raises a transport error.

Requests may arrive concurrently (the function works with a thread pool): the state is
behind a lock, and it counts the requests in flight (`max_in_flight`). `on_request` runs
inside that window for every request, so a test can make each call take time (a real
sleep, or a fake clock's advance).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
import respx

from handler.local import sdrs_behaviour as sdrs
from handler.local.gateway import GatewayRequest
from handler.local.gateway import signature_problem as gateway_signature_problem
from handler.local.sdrs_behaviour import PAGE_LIMIT, RecordedRequest, SdrsRequest, SdrsState, failure_job

__all__ = ["PAGE_LIMIT"]

PROJECT_ID = "0123456789abcdef0123456789abcdef"
OTHER_PROJECT_ID = "fedcba9876543210fedcba9876543210"
SWEEP_PROJECT_ID = "5eeb5eeb5eeb5eeb5eeb5eeb5eeb5eeb"  # no seeded groups: sweep tests fill it
ACCESS_KEY = "HPUATESTACCESSKEY0001"
SECRET_KEY = "unit-test-secret-key-not-a-real-credential"
REGION = "cn-north-4"
SDRS_HOST = f"sdrs.{REGION}.myhuaweicloud.com"

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

GROUP_DELETE_PATH_RE = sdrs.ROUTES[1][1]
PROJECT_WIDE_DELETE_PATH_RE = sdrs.ROUTES[0][1]
# The unit tests' names for the routes ("kind" of call).
KINDS = {
    sdrs.LIST_SERVER_GROUPS: "server_groups",
    sdrs.LIST_FAILURE_JOBS: "failure_jobs",
    sdrs.DELETE_GROUP_FAILURE_JOBS: "delete",
    sdrs.DELETE_ALL_FAILURE_JOBS: "project_wide_delete",
}


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
    return [failure_job(server_group_id, i, hour=9) for i in range(n)]


def signature_problem(request: httpx.Request, access_key: str, secret_key: str) -> str | None:
    """Verify an httpx request the way the API gateway does (handler/local/gateway.py, written
    from the spec). Returns what is wrong, or None when the signature holds."""
    received = GatewayRequest(
        request.method, request.url.raw_path.decode("ascii"), request.headers.multi_items(), request.content
    )
    problem = gateway_signature_problem(received, access_key=access_key, secret_key=secret_key)
    return "signature mismatch" if problem == "verify aksk signature fail" else problem


def request_kind(method: str, path: str) -> str:
    return KINDS.get(sdrs.route_of(method, path)[0], "unknown")


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

    @classmethod
    def of(cls, record: RecordedRequest) -> SeenRequest:
        query = dict(parse_qsl(record.query, keep_blank_values=True))
        status = record.status or None
        kind = KINDS.get(record.route, "unknown")
        return cls(
            record.method,
            record.path,
            record.query,
            query,
            httpx.Headers(record.headers),
            status,
            record.request_id,
            kind,
        )

    @property
    def offset(self) -> int | None:
        return int(self.query["offset"]) if "offset" in self.query else None

    @property
    def server_group_id(self) -> str | None:
        if "server_group_id" in self.query:
            return self.query["server_group_id"]
        match = GROUP_DELETE_PATH_RE.fullmatch(self.path)
        return match["group"] if match else None


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


class _Jobs(MutableMapping[tuple[str, str], list[dict[str, Any]]]):
    """The state's groups as {(project, group): failed tasks}, in the order added."""

    def __init__(self, state: SdrsState) -> None:
        self._state = state

    def __getitem__(self, key: tuple[str, str]) -> list[dict[str, Any]]:
        return self._state.projects[key[0]][key[1]]

    def __setitem__(self, key: tuple[str, str], jobs: list[dict[str, Any]]) -> None:
        with self._state.lock:
            self._state.projects.setdefault(key[0], {})[key[1]] = jobs

    def __delitem__(self, key: tuple[str, str]) -> None:
        with self._state.lock:
            del self._state.projects[key[0]][key[1]]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        with self._state.lock:
            keys = [(project, gid) for project, groups in self._state.projects.items() for gid in groups]
        return iter(keys)

    def __len__(self) -> int:
        with self._state.lock:
            return sum(len(groups) for groups in self._state.projects.values())


def _unit_test_state(access_key: str, secret_key: str) -> SdrsState:
    ids = itertools.count(1)
    return SdrsState(
        access_key=access_key,
        secret_key=secret_key,
        auto_failed_tasks=DEFAULT_FAILED_TASKS,
        require_group_filter=True,
        sorted_listing=False,
        group_item=lambda gid, _name: server_group_item(gid),
        job_factory=lambda gid, n: failure_job(gid, n, hour=9),
        request_ids=lambda: uuid.UUID(int=next(ids)).hex,
    )


class _StateField[T]:
    """A FakeSdrs attribute that is its SdrsState's attribute of the same name, read and written through."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, fake: FakeSdrs, owner: type | None = None) -> T:
        value: T = getattr(fake.state, self.name)
        return value

    def __set__(self, fake: FakeSdrs, value: T) -> None:
        setattr(fake.state, self.name, value)


class FakeSdrs:
    def __init__(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, host: str = SDRS_HOST) -> None:
        self.state = _unit_test_state(access_key, secret_key)
        self.host = host
        self.jobs: MutableMapping[tuple[str, str], list[dict[str, Any]]] = _Jobs(self.state)
        # project id -> the raw `server_groups` items to list, instead of the project's known
        # groups (a test can list ids that are not UUIDs, or groups with no failed-task record).
        self.listings = self.state.listings
        # Called for every request while it is in flight (make calls slow, move a fake clock).
        self.on_request: Callable[[httpx.Request], None] | None = None
        self._faults: list[_FaultRule] = []
        for group, n in SEEDED_GROUPS.items():
            self.add_group(PROJECT_ID, group, n)

    def install(self, router: respx.Router) -> FakeSdrs:
        router.route(host=self.host).mock(side_effect=self.handle)
        return self

    # --- the state (SdrsState's, with the unit tests' names) --------------------------------

    access_key = _StateField[str]()
    secret_key = _StateField[str]()
    # The server's own largest page of protection groups: it may give less than `limit`.
    server_groups_page_cap = _StateField[int]()
    # Called with (project, offset) before a protection-group page is answered (e.g. to add a
    # group while the function is reading the listing).
    on_server_groups_page = _StateField[Callable[[str, int], None] | None]()

    @property
    def in_flight(self) -> int:
        return self.state.in_flight

    @property
    def max_in_flight(self) -> int:
        return self.state.max_in_flight

    @property
    def requests(self) -> list[SeenRequest]:
        return [SeenRequest.of(record) for record in self.state.calls()]

    @property
    def project_wide_deletes(self) -> list[SeenRequest]:
        return [SeenRequest.of(record) for record in self.state.calls(sdrs.DELETE_ALL_FAILURE_JOBS)]

    def add_group(self, project_id: str, server_group_id: str, failed_tasks: int) -> list[dict[str, Any]]:
        return self.state.add_group(project_id, server_group_id, failed_tasks)

    def add_project(self, project_id: str, failed_tasks: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
        """Groups (id -> number of failed tasks) of a project, listed in this order; their jobs."""
        return {gid: self.add_group(project_id, gid, n) for gid, n in failed_tasks.items()}

    def failure_jobs(self, project_id: str, server_group_id: str) -> list[dict[str, Any]]:
        """The group's failed tasks now (a group it never heard of gets DEFAULT_FAILED_TASKS)."""
        return self.state.failure_jobs(project_id, server_group_id)

    def server_groups(self, project_id: str) -> list[dict[str, Any]]:
        """What GET /v1/{project}/server-groups lists, in the fake's (unsorted) order: the
        `listings` override, or every group the fake knows in the project, in the order added."""
        return self.state.server_groups(project_id)

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
        with self.state.lock:
            self._faults.append(rule)

    def calls(
        self, method: str | None = None, server_group_id: str | None = None, kind: str | None = None
    ) -> list[SeenRequest]:
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

    # --- the adapter: httpx.Request -> the SDRS behaviour -> httpx.Response ------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.state.enter()
        try:
            if self.on_request is not None:
                self.on_request(request)
            with self.state.lock:
                return self._handle(request)
        finally:
            self.state.leave()

    def _handle(self, request: httpx.Request) -> httpx.Response:
        received = SdrsRequest(
            request.method, request.url.raw_path.decode("ascii"), dict(request.headers), request.content
        )
        route, parts = sdrs.route_of(request.method, received.path)
        query = dict(parse_qsl(received.query, keep_blank_values=True))
        group = parts.get("group", query.get("server_group_id"))
        offset = int(query["offset"]) if query.get("offset", "").isdigit() else None
        rule = self._take_fault(request.method, group, KINDS.get(route, "unknown"), offset)
        request_id = self.state.request_ids()

        def record(status: int) -> None:
            seen = RecordedRequest(request.method, received.path, received.query, dict(request.headers), status, route)
            seen.request_id = request_id if status else None
            self.state.requests.append(seen)

        if rule is not None and rule.error is not None:
            record(0)
            raise rule.error("fake SDRS: connection failed", request=request)
        if rule is not None:
            content = b"" if rule.body is None else sdrs.json_bytes(rule.body)
            base = {"X-Request-Id": request_id, **(sdrs.JSON_HEADERS if content else {})}
            response = httpx.Response(rule.status, content=content, headers={**base, **rule.headers})
        else:
            answer = self.state.respond(received, request_id)
            response = httpx.Response(answer.status, content=answer.body, headers=answer.headers)
        record(response.status_code)
        return response

    def _take_fault(self, method: str, group: str | None, kind: str, offset: int | None) -> _FaultRule | None:
        for rule in self._faults:
            if rule.matches(method, group, kind, offset):
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._faults.remove(rule)
                return rule
        return None

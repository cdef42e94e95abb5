"""A small SDRS emulator: a real HTTP server on 127.0.0.1 for local runs and tests.

It keeps protection groups and their failed tasks in memory, verifies AK/SK signatures
the way the API gateway does (date window, signed headers, lock-out after five bad
signatures), answers with the real error body shapes, and records every request so that
tests can check what was called and what is left.

Faults are scripted per route (`list_server_groups`, `list_failure_jobs`,
`delete_group_failure_jobs`, ...): `state.inject(route, *faults)` queues them, and each
request to that route plays the next one instead of (or on top of) the emulated answer:

    Fault(503, b"<html>busy</html>", {"Retry-After": "2"})  any status, body and headers
    Fault(None, delay=0.3)           the emulator's own answer, 0.3 s late (added latency)
    Fault(200, body, delay=5)        an answer slower than the client's timeout
    Fault(0, drop_connection=True)   the connection is closed without an answer
    Fault(None, drop_connection=True)   the same, after the request took effect
    Fault(200, body, truncate=10)    Content-Length promises the whole body, 10 bytes are
                                     sent, then the connection is closed
    Fault(200, body, trickle=0.1)    the body comes a byte every 0.1 s: no single read waits
                                     long, the whole answer takes len(body) / 10 seconds
    common_fault("http-429")         the faults the fault suite plays, by name (COMMON_FAULTS)

A fault with a status answers without authenticating or touching the state (a delete is
not applied); `status=None` lets the emulator authenticate and apply the request as usual
and changes only how the answer is delivered (late, truncated, or not at all). Every
request is recorded (`state.calls(route)`) with the status sent (0: none) and its monotonic
arrival time (`arrived`, comparable with `time.monotonic()` in the tests' process).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from handler.sdrs.api import PROJECT_ID_RE, SERVER_GROUP_ID_RE
from handler.sdrs.signing import DATE_FORMAT, canonical_query, sign

DEMO_AK = "EMULATORDEMOACCESSKEY"
DEMO_SK = "emulator-demo-secret-key-not-a-real-credential"
DEMO_PROJECT_ID = "0123456789abcdef0123456789abcdef"
DEMO_GROUP_WITH_FAILURES = "decf224d-87fe-403a-8721-037a1a45c287"
DEMO_GROUP_CLEAN = "5f8a7e3c-2b1d-4c6e-9a0f-1e2d3c4b5a69"
DEMO_GROUP_MANY_FAILURES = "9b2c4d6e-8f10-4a3b-b5c7-d9e1f3a5b7c9"
DEMO_GROUP_UNTOUCHED = "3e5f7a9b-1c2d-4e6f-8a0b-2c4d6e8f0a1b"

ALLOWED_CLOCK_SKEW_SECONDS = 15 * 60
LOCKOUT_THRESHOLD, LOCKOUT_SECONDS = 5, 300

_LIST_FAILURE_JOBS = re.compile(r"/v1/(?P<project>[^/]+)/task-center/failure-jobs")
_DELETE_GROUP_BATCH = re.compile(r"/v1/(?P<project>[^/]+)/task-center/(?P<group>[^/]+)/failure-jobs/batch")
_DELETE_PROJECT_BATCH = re.compile(r"/v1/(?P<project>[^/]+)/task-center/failure-jobs/batch")
_DELETE_ONE_JOB = re.compile(r"/v1/(?P<project>[^/]+)/task-center/failure-jobs/(?P<job>[^/]+)")
_LIST_SERVER_GROUPS = re.compile(r"/v1/(?P<project>[^/]+)/server-groups")
_AUTHORIZATION = re.compile(
    r"SDK-HMAC-SHA256 Access=(?P<ak>[^,]+), SignedHeaders=(?P<signed>[^,]+), Signature=(?P<sig>[0-9a-f]{64})"
)


@dataclass
class Fault:
    """How the next request to a route is answered (see the module's docstring).

    `status`: a canned answer with `body` and `headers` (the request is not applied), or
    None: the emulator's own answer, with `headers` added. `delay`: seconds added before
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


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


_JSON = {"Content-Type": "application/json;charset=UTF-8"}
_BAD_GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_LISTING = _json({"count": 1, "failure_jobs": [{"job_id": "0" * 32, "job_status": "FAIL"}]})
_EMPTY_LISTINGS = _json({"count": 0, "failure_jobs": [], "server_groups": []})  # valid for both listings

# The faults the fault suite plays, by name: fn(seconds) -> a fresh Fault. `seconds` is the
# added time of the timing faults ("latency", "slow"; "trickle": between two bytes) and is
# ignored by the others.
COMMON_FAULTS: dict[str, Callable[[float], Fault]] = {
    "http-400": lambda _: Fault(400, _json({"error": {"code": "SDRS.0201", "message": "Invalid parameters"}}), _JSON),
    "http-401": lambda _: Fault(
        401,
        _json({"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information"}),
        _JSON,
    ),
    "http-403": lambda _: Fault(
        403,
        _json({"error_code": "APIGW.0302", "error_msg": "The IAM user is not authorized to access the API"}),
        _JSON,
    ),
    "http-404": lambda _: Fault(
        404, _json({"error_code": "APIGW.0101", "error_msg": "The API does not exist or has not been published"}), _JSON
    ),
    "http-409": lambda _: Fault(409),
    "http-429": lambda _: Fault(
        429,
        _json({"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached"}),
        {**_JSON, "Retry-After": "1"},
    ),
    "http-429-retry-after-too-long": lambda _: Fault(
        429,
        _json({"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached"}),
        {**_JSON, "Retry-After": "3600"},
    ),
    "http-500": lambda _: Fault(500, _json({"error": {"code": "SDRS.0500", "message": "Internal error"}}), _JSON),
    "http-501": lambda _: Fault(501),
    "http-502-html": lambda _: Fault(502, _BAD_GATEWAY_PAGE, {"Content-Type": "text/html"}),
    "http-503": lambda _: Fault(503),
    "http-504": lambda _: Fault(504, b"upstream request timeout", {"Content-Type": "text/plain"}),
    "200-non-json": lambda _: Fault(200, b"OK", {"Content-Type": "text/plain"}),
    "200-html": lambda _: Fault(200, b"<html><body>Please sign in</body></html>", {"Content-Type": "text/html"}),
    "200-wrong-shape": lambda _: Fault(200, _json({"jobs": [], "total": 0}), _JSON),
    "200-instead-of-204": lambda _: Fault(200, _json({}), _JSON),
    "200-cut-json": lambda _: Fault(200, _LISTING[: len(_LISTING) // 2], _JSON),  # well framed, cut JSON
    "truncated": lambda _: Fault(200, _LISTING, _JSON, truncate=len(_LISTING) // 2),
    "dropped": lambda _: Fault(0, drop_connection=True),
    "applied-then-dropped": lambda _: Fault(None, drop_connection=True),
    "slow": lambda seconds: Fault(200, _LISTING, _JSON, delay=seconds),
    "latency": lambda seconds: Fault(None, delay=seconds),
    "trickle": lambda seconds: Fault(200, _EMPTY_LISTINGS, _JSON, trickle=seconds),
}


def common_fault(name: str, seconds: float = 1.0) -> Fault:
    """A fresh COMMON_FAULTS[name]: e.g. `state.inject("list_failure_jobs", common_fault("truncated"))`."""
    return COMMON_FAULTS[name](seconds)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    status: int  # the status answered; 0 when the connection was dropped instead
    route: str
    arrived: float = 0.0  # time.monotonic() when the request line had been read


def failure_job(server_group_id: str, n: int) -> dict[str, Any]:
    return {
        "job_id": uuid.uuid5(uuid.NAMESPACE_URL, f"{server_group_id}/{n}").hex,
        "job_type": "createProtectedInstance" if n % 2 == 0 else "deleteReplication",
        "job_status": "FAIL",
        "begin_time": f"2026-11-20T10:{n % 60:02d}:00.000Z",
        "end_time": f"2026-11-20T10:{n % 60:02d}:30.000Z",
        "failure_status": "createFail" if n % 2 == 0 else "deleteFail",
        "resource_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{server_group_id}.{n}")),
        "resource_name": f"protected-instance-{n:04d}",
        "resource_type": "protectedInstance" if n % 2 == 0 else "replication",
        "server_group_id": server_group_id,
        "error_code": "EVS.2024" if n % 2 == 0 else "SDRS.1102",
        "fail_reason": "SdrsGenerateNativeServerParamsTask-fail:volume is error!",
    }


@dataclass
class EmulatorState:
    access_key: str = DEMO_AK
    secret_key: str = DEMO_SK
    security_token: str | None = None
    # project id -> group id -> that group's failed tasks
    projects: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    group_names: dict[str, str] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: dict[str, deque[Fault]] = field(default_factory=dict)
    latency: float = 0.0
    # Requests being served right now, and the most there ever were at once.
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _bad_signatures: int = 0
    _locked_until: float = 0.0

    def add_group(self, project_id: str, server_group_id: str, failed_tasks: int = 0, name: str = "") -> None:
        jobs = [failure_job(server_group_id, n) for n in range(failed_tasks)]
        self.projects.setdefault(project_id, {})[server_group_id] = jobs
        self.group_names[server_group_id] = name or f"pg-{server_group_id[:8]}"

    def failure_jobs(self, project_id: str, server_group_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.projects.get(project_id, {}).get(server_group_id, []))

    def inject(self, route: str, *faults: Fault) -> None:
        """Queue answers for a route: list_failure_jobs, delete_group_failure_jobs, ..."""
        with self.lock:
            self.faults.setdefault(route, deque()).extend(faults)

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


def sweep_state(groups: int, with_failures: int, failed_tasks: int = 3, latency: float = 0.0) -> EmulatorState:
    """A project of `groups` protection groups, the first `with_failures` of them (by id) with failed tasks."""
    state = EmulatorState(latency=latency)
    ids = sorted(str(uuid.uuid5(uuid.NAMESPACE_OID, f"sweep-group-{n}")) for n in range(groups))
    state.projects[DEMO_PROJECT_ID] = {}  # the project exists even with no group
    for n, group_id in enumerate(ids):
        state.add_group(DEMO_PROJECT_ID, group_id, failed_tasks if n < with_failures else 0)
    return state


def demo_state() -> EmulatorState:
    state = EmulatorState()
    state.add_group(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES, failed_tasks=3, name="pg-web-tier")
    state.add_group(DEMO_PROJECT_ID, DEMO_GROUP_CLEAN, failed_tasks=0, name="pg-db-tier")
    state.add_group(DEMO_PROJECT_ID, DEMO_GROUP_MANY_FAILURES, failed_tasks=1205, name="pg-batch-tier")
    state.add_group(DEMO_PROJECT_ID, DEMO_GROUP_UNTOUCHED, failed_tasks=2, name="pg-reporting")
    return state


class _Reply(Exception):
    def __init__(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _sdrs_error(status: int, code: str, message: str) -> _Reply:
    return _Reply(status, {"error": {"code": code, "message": message}})


def _gateway_error(status: int, code: str, message: str, request_id: str) -> _Reply:
    return _Reply(status, {"error_code": code, "error_msg": message, "request_id": request_id})


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the second waits for the
    # client's delayed ACK (40 ms), which would dwarf everything the tests measure.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def parse_request(self) -> bool:
        self._arrived = time.monotonic()  # before the (slow) header parsing: it counts in the latency
        return super().parse_request()

    def _wait_for_latency(self, extra: float = 0.0) -> None:
        """Answer `latency` (plus `extra`) seconds after the request arrived, whatever our own
        processing took: the emulator's CPU time is not added to what tests measure."""
        remaining = self._arrived + self.server.state.latency + extra - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)

    def _serve(self) -> None:
        state = self.server.state
        request_id = uuid.uuid4().hex
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        route = _route_name(self.command, split.path)
        recorded = False

        def finish(status: int) -> None:
            """Record the request and leave the in-flight count before the answer goes out: a
            client that has its answer always finds its request in `state.requests`."""
            nonlocal recorded
            if recorded:
                return
            recorded = True
            with state.lock:
                state.in_flight -= 1
                state.requests.append(
                    RecordedRequest(
                        self.command,
                        split.path,
                        split.query,
                        dict(self.headers.items()),
                        status,
                        route,
                        self._arrived,
                    )
                )

        with state.lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            with state.lock:
                fault = state.faults.get(route, deque()).popleft() if state.faults.get(route) else None
            if fault is not None and fault.status is not None:  # canned: no signature check, no effect
                headers = {"X-Request-Id": request_id, "Content-Length": str(len(fault.body)), **fault.headers}
                self._deliver(fault.status, fault.body, headers, fault, finish)
                return
            try:
                self._authenticate(split.path, split.query, body, request_id)
                reply = _dispatch(state, self.command, split.path, split.query)
            except _Reply as answer:
                reply = answer
            payload = json.dumps(reply.body).encode() if reply.body is not None else b""
            headers = {**(_JSON if payload else {}), "Content-Length": str(len(payload))}
            headers.update({"X-Request-Id": request_id, **reply.headers, **(fault.headers if fault else {})})
            self._deliver(reply.status, payload, headers, fault, finish)
        finally:
            finish(500)  # only when nothing was answered

    def _deliver(
        self, status: int, payload: bytes, headers: dict[str, str], fault: Fault | None, finish: Callable[[int], None]
    ) -> None:
        self._wait_for_latency(fault.delay if fault else 0.0)
        if fault is not None and fault.drop_connection:
            finish(0)
            self.close_connection = True
            self.connection.close()
            return
        finish(status)
        if fault is not None and (fault.delay or fault.truncate is not None or fault.trickle):
            # The client may have given up waiting: do not keep a connection it has left.
            self.close_connection = True
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if fault is not None and fault.truncate is not None:
                self.wfile.write(payload[: fault.truncate])
                self.connection.shutdown(socket.SHUT_WR)  # the rest of the promised body never comes
                return
            if fault is not None and fault.trickle:
                for n in range(len(payload)):
                    self.wfile.write(payload[n : n + 1])
                    time.sleep(fault.trickle)
                return
            self.wfile.write(payload)
        except OSError:  # the client went away (it timed out): nobody to answer
            self.close_connection = True

    def _authenticate(self, path: str, query: str, body: bytes, request_id: str) -> None:
        state = self.server.state
        now = time.monotonic()
        with state.lock:
            if state._locked_until > now:
                raise _gateway_error(
                    401,
                    "APIGW.0301",
                    "Incorrect IAM authentication information: the AK is locked "
                    "after repeated signature failures; try again in five minutes",
                    request_id,
                )
        match = _AUTHORIZATION.fullmatch(self.headers.get("Authorization", ""))
        if not match:
            raise _gateway_error(
                401,
                "APIGW.0301",
                "Incorrect IAM authentication information: Authorization header missing or malformed",
                request_id,
            )
        signed = match["signed"].split(";")
        required = {"host", "x-sdk-date"} | {
            name for name in ("x-project-id", "x-security-token") if name in self.headers
        }
        problem = None
        sdk_date = self.headers.get("X-Sdk-Date", "")
        try:
            signed_at = datetime.strptime(sdk_date, DATE_FORMAT).replace(tzinfo=UTC)
            skew: float | None = abs((datetime.now(UTC) - signed_at).total_seconds())
        except ValueError:
            skew = None
        if not required <= set(signed):
            problem = f"verify aksk signature fail: headers not signed: {sorted(required - set(signed))}"
        elif skew is None:
            problem = "verify aksk signature fail: X-Sdk-Date missing or malformed"
        elif skew > ALLOWED_CLOCK_SKEW_SECONDS:
            problem = "verify aksk signature fail: request expired, the X-Sdk-Date time differs from the server time"
        elif match["ak"] != state.access_key:
            problem = "verify aksk signature fail: the access key does not exist"
        elif state.security_token is not None and self.headers.get("X-Security-Token") != state.security_token:
            problem = "verify aksk signature fail: the security token is missing or invalid"
        else:
            expected = sign(
                method=self.command,
                path=path,
                query=canonical_query(parse_qsl(query, keep_blank_values=True)),
                headers={name: self.headers.get(name, "") for name in signed},
                body=body,
                access_key=state.access_key,
                secret_key=state.secret_key,
                sdk_date=sdk_date,
            )
            if expected.signature != match["sig"]:
                problem = "verify aksk signature fail"
            elif query and query != canonical_query(parse_qsl(query, keep_blank_values=True)):
                problem = "verify aksk signature fail: the query string sent is not the one signed"
        with state.lock:
            if problem is None:
                state._bad_signatures = 0
                return
            state._bad_signatures += 1
            if state._bad_signatures >= LOCKOUT_THRESHOLD:
                state._locked_until = now + LOCKOUT_SECONDS
        raise _gateway_error(401, "APIGW.0301", f"Incorrect IAM authentication information: {problem}", request_id)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: EmulatorState


def _route_name(method: str, path: str) -> str:
    routes = [
        ("DELETE", _DELETE_PROJECT_BATCH, "delete_all_failure_jobs"),
        ("DELETE", _DELETE_GROUP_BATCH, "delete_group_failure_jobs"),
        ("DELETE", _DELETE_ONE_JOB, "delete_failure_job"),
        ("GET", _LIST_FAILURE_JOBS, "list_failure_jobs"),
        ("GET", _LIST_SERVER_GROUPS, "list_server_groups"),
    ]
    for route_method, pattern, name in routes:
        if method == route_method and pattern.fullmatch(path):
            return name
    return "unknown"


def _page(query: dict[str, str]) -> tuple[int, int]:
    try:
        limit = int(query.get("limit", "1000"))
        if not 0 <= limit <= 1000:
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


def _dispatch(state: EmulatorState, method: str, path: str, raw_query: str) -> _Reply:
    route = _route_name(method, path)
    if route == "unknown":
        raise _Reply(404, {"error_code": "APIGW.0101", "error_msg": "The API does not exist or has not been published"})
    project_id = path.split("/")[2]
    if not PROJECT_ID_RE.fullmatch(project_id):
        raise _sdrs_error(400, "SDRS.0201", "Invalid parameters: project_id")
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    with state.lock:
        groups = state.projects.get(project_id)
        if groups is None:
            raise _sdrs_error(400, "SDRS.0003", "The tenant or project does not exist or has no permission")
        if route == "list_failure_jobs":
            limit, offset = _page(query)
            wanted = query.get("server_group_id")
            if wanted is not None and not SERVER_GROUP_ID_RE.fullmatch(wanted):
                raise _sdrs_error(400, "SDRS.0207", "Invalid protection group ID")
            jobs = [job for gid, group_jobs in groups.items() if wanted in (None, gid) for job in group_jobs]
            return _Reply(200, {"count": len(jobs), "failure_jobs": jobs[offset : offset + limit]})
        if route == "list_server_groups":
            limit, offset = _page(query)
            listed = [
                {"id": gid, "name": state.group_names.get(gid, gid), "status": "protected"} for gid in sorted(groups)
            ]
            return _Reply(200, {"count": len(listed), "server_groups": listed[offset : offset + limit]})
        if route == "delete_group_failure_jobs":
            group_id = path.split("/")[4]
            if not SERVER_GROUP_ID_RE.fullmatch(group_id):
                raise _sdrs_error(400, "SDRS.0207", "Invalid protection group ID")
            if group_id not in groups:
                raise _sdrs_error(400, "SDRS.1013", "The protection group does not exist")
            groups[group_id] = []
            return _Reply(204)
        if route == "delete_all_failure_jobs":
            for group_id in groups:
                groups[group_id] = []
            return _Reply(204)
        job_id = path.split("/")[-1]
        for group_jobs in groups.values():
            for job in group_jobs:
                if job["job_id"] == job_id:
                    group_jobs.remove(job)
                    return _Reply(204)
        raise _sdrs_error(404, "SDRS.1501", "The failed task does not exist")


class SdrsEmulator:
    """`with SdrsEmulator(demo_state()) as emulator: ...` serves on emulator.endpoint."""

    def __init__(self, state: EmulatorState | None = None, port: int = 0) -> None:
        # A listen backlog for many concurrent connections (the default of 5 drops some).
        _Server.request_queue_size = 128
        self.state = state if state is not None else demo_state()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sdrs-emulator", daemon=True
        )

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def environment(self) -> dict[str, str]:
        """What the function needs to talk to this emulator."""
        env = {
            "SDRS_ENDPOINT": self.endpoint,
            "HUAWEICLOUD_SDK_AK": self.state.access_key,
            "HUAWEICLOUD_SDK_SK": self.state.secret_key,
            "HUAWEICLOUD_SDK_PROJECT_ID": DEMO_PROJECT_ID,
        }
        if self.state.security_token:
            env["HUAWEICLOUD_SDK_SECURITY_TOKEN"] = self.state.security_token
        return env

    def start(self) -> SdrsEmulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SdrsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def failed_task_counts(self) -> Iterator[tuple[str, str, int]]:
        with self.state.lock:
            for project_id, groups in sorted(self.state.projects.items()):
                for group_id, jobs in groups.items():
                    yield project_id, group_id, len(jobs)

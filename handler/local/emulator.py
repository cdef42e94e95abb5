"""A small SDRS emulator: a real HTTP server on 127.0.0.1 for local runs and tests.

This module is the HTTP part only. What SDRS does (projects, groups and failed tasks in
memory, routes, paging, the real error bodies, AK/SK verification the way the API gateway
does it, lock-out after five bad signatures, fault queues, request records) is in
handler/local/sdrs_behaviour.py, which the unit tests' respx double (tests/fake_sdrs.py)
serves too; signatures are checked by handler/local/gateway.py, written from the spec and
never with the signer under test (handler.sdrs.signing).

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

import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from handler.local.functiongraph_context import AgencyCredentials
from handler.local.sdrs_behaviour import (
    ALLOWED_CLOCK_SKEW_SECONDS,
    COMMON_FAULTS,
    LOCKOUT_SECONDS,
    LOCKOUT_THRESHOLD,
    Fault,
    RecordedRequest,
    SdrsRequest,
    SdrsState,
    common_fault,
    failure_job,
    route_of,
)

__all__ = [
    "ALLOWED_CLOCK_SKEW_SECONDS",
    "COMMON_FAULTS",
    "DEMO_AK",
    "DEMO_GROUP_CLEAN",
    "DEMO_GROUP_MANY_FAILURES",
    "DEMO_GROUP_UNTOUCHED",
    "DEMO_GROUP_WITH_FAILURES",
    "DEMO_PROJECT_ID",
    "DEMO_SK",
    "LOCKOUT_SECONDS",
    "LOCKOUT_THRESHOLD",
    "EmulatorState",
    "Fault",
    "RecordedRequest",
    "SdrsEmulator",
    "common_fault",
    "demo_state",
    "failure_job",
    "sweep_state",
]

DEMO_AK = "EMULATORDEMOACCESSKEY"
DEMO_SK = "emulator-demo-secret-key-not-a-real-credential"
DEMO_PROJECT_ID = "0123456789abcdef0123456789abcdef"
DEMO_GROUP_WITH_FAILURES = "decf224d-87fe-403a-8721-037a1a45c287"
DEMO_GROUP_CLEAN = "5f8a7e3c-2b1d-4c6e-9a0f-1e2d3c4b5a69"
DEMO_GROUP_MANY_FAILURES = "9b2c4d6e-8f10-4a3b-b5c7-d9e1f3a5b7c9"
DEMO_GROUP_UNTOUCHED = "3e5f7a9b-1c2d-4e6f-8a0b-2c4d6e8f0a1b"


@dataclass
class EmulatorState(SdrsState):
    """The emulator's state: the SDRS behaviour (handler/local/sdrs_behaviour.py) with the
    demo credentials and SDRS's own policies (unknown projects and groups are errors)."""

    access_key: str = DEMO_AK
    secret_key: str = DEMO_SK


def issue_agency_credentials(state: SdrsState) -> AgencyCredentials:
    """Temporary credentials as an agency lends them (AK, SK and a security token): from now on
    the emulator accepts only requests signed with them and carrying that token."""
    credentials = AgencyCredentials(
        "TMP" + secrets.token_hex(10).upper(), secrets.token_urlsafe(30), "agency-" + secrets.token_urlsafe(96)
    )
    with state.lock:
        state.access_key, state.secret_key = credentials.access_key, credentials.secret_key
        state.security_token = credentials.security_token
    return credentials


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
        request_id = state.request_ids()
        length = int(self.headers.get("Content-Length") or 0)
        request = SdrsRequest(
            self.command, self.path, dict(self.headers.items()), self.rfile.read(length) if length else b""
        )
        route, _ = route_of(self.command, request.path)
        recorded = False

        def finish(status: int) -> None:
            """Record the request and leave the in-flight count before the answer goes out: a
            client that has its answer always finds its request in `state.requests`."""
            nonlocal recorded
            if recorded:
                return
            recorded = True
            state.leave(
                RecordedRequest(
                    self.command,
                    request.path,
                    request.query,
                    dict(request.headers),
                    status,
                    route,
                    self._arrived,
                    request_id,
                )
            )

        state.enter()
        try:
            fault = state.take_fault(route)
            if fault is not None and fault.status is not None:  # canned: no signature check, no effect
                headers = {"X-Request-Id": request_id, "Content-Length": str(len(fault.body)), **fault.headers}
                self._deliver(fault.status, fault.body, headers, fault, finish)
                return
            answer = state.respond(request, request_id)
            headers = {**answer.headers, "Content-Length": str(len(answer.body)), **(fault.headers if fault else {})}
            self._deliver(answer.status, answer.body, headers, fault, finish)
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: EmulatorState


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

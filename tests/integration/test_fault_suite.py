"""The fault suite: every scripted fault against every SDRS call the function makes, over loopback.

Each cell of the matrix (fault x call) starts an emulator, queues the fault on one route —
`list_server_groups` (a sweep's discovery), `list_failure_jobs` (the audit) or
`delete_group_failure_jobs` (the delete) — runs the real entry point, `handler.core.handle` (as
the Lambda edge calls it), on an asynchronous event with a few seconds to live, and checks:

- the outcome: the group's outcome (or the discovery's error), error code and `retryable`;
- the attempts: requests recorded on the faulted route and `attempts` in the result; a permanent
  fault (401 and 403 included) is sent exactly once, a transient one that persists exactly
  SDRS_MAX_ATTEMPTS times;
- Retry-After: consecutive arrivals on the faulted route are at least that far apart;
- the deadline: the invocation returns before its remaining time is up;
- raise or return: `run`'s must-raise for the event's trigger (an SNS alarm: one-off; a scheduled
  sweep: recurring): only transient failures raise;
- the state: only the requested groups changed, and only those reported `deleted` (or whose
  delete a fault let through before losing the answer).

Transient faults run in two modes: `clears` (played SDRS_MAX_ATTEMPTS - 1 times, then the
emulator answers: the group must end `deleted`) and `persists` (more faults queued than attempts
allowed). `test_trigger_semantics` then checks raise-vs-return for every trigger through
`lambda_handler`.

The table for the report: `.venv/bin/python -m tests.integration.test_fault_suite` runs the matrix
and prints fault x call, each cell's result, and the totals.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from handler import app
from handler.app import TransientFailure, lambda_handler
from handler.core import Invocation, handle
from handler.local import emulator as demo
from handler.local.emulator import EmulatorState, Fault, RecordedRequest, SdrsEmulator, common_fault
from handler.models import InvocationResult

pytestmark = pytest.mark.slow  # a loopback server (and subprocesses): not in `make fast`

EVENTS = Path(__file__).resolve().parents[2] / "events"

DISCOVERY, AUDIT, DELETE = "list_server_groups", "list_failure_jobs", "delete_group_failure_jobs"
CALLS = (DISCOVERY, AUDIT, DELETE)

PROJECT = demo.DEMO_PROJECT_ID
TARGET = demo.DEMO_GROUP_WITH_FAILURES  # 3 failed tasks: the group the alarm names
NEIGHBOUR = demo.DEMO_GROUP_UNTOUCHED  # 2 failed tasks: named by no event, found by a sweep
CLEAN = demo.DEMO_GROUP_CLEAN  # none
OTHER_PROJECT = "fedcba9876543210fedcba9876543210"
OTHER_GROUP = "00000000-0000-4000-8000-000000000001"  # 5 failed tasks in a project nobody sweeps
SWEPT = (TARGET, NEIGHBOUR, CLEAN)

MAX_ATTEMPTS = 3
READ_TIMEOUT = 0.5
REMAINING = 6.0  # Lambda's remaining time, for each invocation
SHORT = 3.0  # ... for the faults that outlast the invocation
SLOW = 2 * READ_TIMEOUT  # a "slow" answer comes after the client gave up on it
LATENCY = 0.2  # well within the read timeout
TOLERANCE = 0.02  # on Retry-After gaps (two monotonic readings in two threads)
ENV = {
    "SDRS_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    "SDRS_RETRY_BASE_DELAY_SECONDS": "0.01",
    "SDRS_RETRY_MAX_DELAY_SECONDS": "0.05",
    "SDRS_READ_TIMEOUT": str(READ_TIMEOUT),
    "SDRS_DEADLINE_MARGIN_SECONDS": "0.5",
    "SDRS_GROUP_START_MARGIN_SECONDS": "1",
    "SDRS_MAX_CONCURRENCY": "4",
}

PERMANENT, TRANSIENT, GIVE_UP, BENIGN, DEADLINE = "permanent", "transient", "give-up", "benign", "deadline"


def run(event: Any, remaining: float, env: dict[str, str]) -> tuple[InvocationResult, bool]:
    """The core as the Lambda edge calls it: the result, and whether the edge raises."""
    disposition = handle(Invocation(event, remaining, env, app.RUNTIME))
    (result,) = disposition.results
    return result, disposition.must_raise


@dataclass(frozen=True)
class Case:
    """A fault and what the function must make of it."""

    name: str
    kind: str
    code: str | None  # the error code when the call fails (None: not asserted)
    status: int | None = None  # the status reported with the failure (None: no HTTP answer)
    fault: str = ""  # the COMMON_FAULTS name, if not `name`
    seconds: float = SLOW
    calls: tuple[str, ...] = CALLS
    applied: bool = False  # the request takes effect before the fault: a delete clears the group
    retry_after: float | None = None
    remaining: float = REMAINING
    env: Mapping[str, str] = field(default_factory=dict)
    loose: bool = False  # 401/403: only "sent once, failed, not retryable" is asserted

    @property
    def retryable(self) -> bool:
        return self.kind != PERMANENT

    @property
    def modes(self) -> tuple[str, ...]:
        return ("clears", "persists") if self.kind == TRANSIENT else ("",)

    def make(self) -> Fault:
        return common_fault(self.fault or self.name, self.seconds)


CASES = [
    Case("http-400", PERMANENT, "SDRS.0201", 400),
    Case("http-401", PERMANENT, None, 401, loose=True),
    Case("http-403", PERMANENT, None, 403, loose=True),
    Case("http-404", PERMANENT, "APIGW.0101", 404),
    Case("http-409", PERMANENT, "HTTP.409", 409),
    Case("http-501", PERMANENT, "HTTP.501", 501),
    Case("http-429", TRANSIENT, "APIGW.0308", 429, retry_after=1.0),
    Case("http-429-retry-after-too-long", GIVE_UP, "APIGW.0308", 429),
    Case("http-500", TRANSIENT, "SDRS.0500", 500),
    Case("http-502-html", TRANSIENT, "HTTP.502", 502),
    Case("http-503", TRANSIENT, "HTTP.503", 503),
    Case("http-504", TRANSIENT, "HTTP.504", 504),
    Case("200-non-json", TRANSIENT, "Response.Invalid", 200),
    Case("200-html", TRANSIENT, "Response.Invalid", 200),
    Case("200-wrong-shape", TRANSIENT, "Response.Invalid", 200),
    Case("200-cut-json", TRANSIENT, "Response.Invalid", 200),
    Case("200-instead-of-204", TRANSIENT, "Response.Invalid", 200, calls=(DELETE,)),
    Case("truncated", TRANSIENT, "Network.Error"),
    Case("dropped", TRANSIENT, "Network.Error"),
    Case("applied-then-dropped", TRANSIENT, "Network.Error", calls=(DELETE,), applied=True),
    Case("slow", TRANSIENT, "Network.Timeout"),
    Case("latency", BENIGN, None, seconds=LATENCY),
    # Slower than the invocation itself: the attempt's timeout is cut to the time left.
    Case(
        "slow-past-deadline",
        DEADLINE,
        "Network.Timeout",
        fault="slow",
        seconds=SHORT + 0.5,
        remaining=SHORT,
        env={"SDRS_READ_TIMEOUT": "30"},
    ),
    # 53 bytes, one every 0.08 s: 4.2 s for an answer, in an invocation of 3 s.
    Case("trickle", DEADLINE, "Network.Timeout", seconds=0.08, remaining=SHORT),
]


def _cells() -> Iterator[Any]:
    for case in CASES:
        for call in case.calls:
            for mode in case.modes:
                name = f"{case.name}-{mode}" if mode else case.name
                yield pytest.param(case, call, mode, id=f"{name}@{call}")


# --- the emulator, the events, what was called --------------------------------------------------


def _state() -> EmulatorState:
    """The demo inventory without its 1205-task group (SWEPT is the whole project), and a
    group in another project."""
    state = demo.demo_state()
    del state.projects[PROJECT][demo.DEMO_GROUP_MANY_FAILURES]
    del state.group_names[demo.DEMO_GROUP_MANY_FAILURES]
    state.add_group(OTHER_PROJECT, OTHER_GROUP, failed_tasks=5, name="pg-elsewhere")
    assert set(state.projects[PROJECT]) == set(SWEPT)
    return state


@pytest.fixture
def emulator() -> Iterator[SdrsEmulator]:
    with SdrsEmulator(_state()) as running:
        yield running


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def _counts(emulator: SdrsEmulator) -> dict[tuple[str, str], int]:
    return {(project, group): n for project, group, n in emulator.failed_task_counts()}


def _group_of(call: RecordedRequest) -> str:
    if call.route == DELETE:
        return call.path.split("/")[4]
    return parse_qs(call.query)["server_group_id"][0]


def _arrivals(state: EmulatorState, route: str) -> list[RecordedRequest]:
    return sorted(state.calls(route), key=lambda c: c.arrived)


def _summary(result: dict[str, Any]) -> str:
    """One cell of the printed table: how the invocation ended."""
    if not result["groups"]:
        error = result["error"]
        return f"{error['type']}{' (retryable)' if error['retryable'] else ''}" if error else "ok, no group"
    parts = []
    for group in result["groups"]:
        error = group["error"]
        if error:
            parts.append(f"{group['outcome']} {error['code']}{' (retryable)' if error['retryable'] else ''}")
        else:
            parts.append(group["outcome"])
    return ", ".join(sorted(set(parts)))


def _assert_clean_traffic(state: EmulatorState, faulted_route: str, sweep: bool) -> None:
    assert not state.calls("delete_all_failure_jobs"), "the project-wide batch delete must never be sent"
    assert not state.calls("unknown")
    emulated = [c for c in state.calls() if c.route != faulted_route]
    assert all(c.status != 401 for c in emulated), "every request the emulator answered passed its signature check"
    assert {c.headers["X-Project-Id"] for c in state.calls()} <= {PROJECT}
    if not sweep:  # an event naming one group sends nothing about any other
        assert {_group_of(c) for c in state.calls(AUDIT) + state.calls(DELETE)} <= {TARGET}


# --- the matrix -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "call", "mode"), list(_cells()))
def test_fault_matrix(
    case: Case, call: str, mode: str, emulator: SdrsEmulator, record_property: Callable[[str, object], None]
) -> None:
    state = emulator.state
    injected = MAX_ATTEMPTS - 1 if mode == "clears" else MAX_ATTEMPTS + 1
    state.inject(call, *(case.make() for _ in range(injected)))
    sweep = call == DISCOVERY
    # A sweep on a timer (recurring) or an alarm naming one group (one-off): both asynchronous.
    event = _event("eventbridge-scheduled.json" if sweep else "sns-alarm.json")
    env = {**emulator.environment(), **ENV, **case.env, **({"SDRS_SERVER_GROUP_IDS": "all"} if sweep else {})}
    requested = set(SWEPT if sweep else (TARGET,))
    before = _counts(emulator)
    audit_record = state.failure_jobs(PROJECT, TARGET)

    started = time.monotonic()
    invocation, must_raise = run(event, case.remaining, env)
    elapsed = time.monotonic() - started
    state.settle()
    result = invocation.to_dict()
    faulted = _arrivals(state, call)
    played = injected - len(state.faults.get(call, ()))
    record_property("fault", f"{case.name}-{mode}" if mode else case.name)
    record_property("call", call)
    record_property("requests", len(faulted))
    record_property("played", played)
    record_property("outcome", _summary(result))
    record_property("elapsed", round(elapsed, 2))

    # The deadline: the invocation answers before Lambda's time is up.
    assert elapsed < case.remaining, f"the invocation took {elapsed:.2f}s of {case.remaining}s"

    # Attempts: permanent faults once, transient ones SDRS_MAX_ATTEMPTS times, no more.
    expected_requests = MAX_ATTEMPTS if case.kind == TRANSIENT else 1
    assert len(faulted) == expected_requests, [c.status for c in faulted]
    assert played == min(injected, expected_requests)
    if case.retry_after is not None:
        gaps = [later.arrived - earlier.arrived for earlier, later in itertools.pairwise(faulted)]
        assert gaps, "Retry-After needs at least two attempts"
        assert min(gaps) >= case.retry_after - TOLERANCE, f"Retry-After {case.retry_after}s not honoured: {gaps}"

    survived = mode == "clears" or case.kind == BENIGN
    outcomes = {g["server_group_id"]: g["outcome"] for g in result["groups"]}
    if survived:
        assert (result["ok"], result["error"]) == (True, None)
        expected = (
            {TARGET: "deleted", NEIGHBOUR: "deleted", CLEAN: "nothing_to_delete"} if sweep else {TARGET: "deleted"}
        )
        assert outcomes == expected
        (target,) = (g for g in result["groups"] if g["server_group_id"] == TARGET)
        assert target["failure_jobs"] == audit_record
        assert (target["status_code"], target["error"]) == (204, None)
        assert target["attempts"] == (len(faulted) if call == DELETE else 1)
        assert len(state.calls(DELETE)) == (MAX_ATTEMPTS if call == DELETE and mode == "clears" else 1) + sweep
    elif sweep:  # nothing found: nothing audited, nothing deleted
        assert result["ok"] is False
        assert result["groups"] == []
        assert result["error"]["type"] == "discovery_failed"
        assert result["error"]["retryable"] is case.retryable
        if case.code:
            assert case.code in result["error"]["message"]
        assert state.calls(AUDIT) == state.calls(DELETE) == []
    else:
        assert result["ok"] is False
        (group,) = result["groups"]
        assert (group["server_group_id"], group["outcome"]) == (TARGET, "failed")
        assert group["error"]["retryable"] is case.retryable
        if not case.loose:
            assert group["error"]["code"] == case.code
            assert group["status_code"] == case.status
            assert group["attempts"] == (len(faulted) if call == DELETE else 0)
            assert group["failure_jobs"] == (audit_record if call == DELETE else [])
            assert result["error"]["type"] == "group_failures"
            assert result["error"]["retryable"] is case.retryable
        if call == AUDIT:
            assert state.calls(DELETE) == [], "a group whose audit failed is not deleted"

    # Raise or return: an asynchronous trigger raises only for what a retry may fix.
    assert must_raise is (not survived and case.retryable)

    # The state: only requested groups changed; those deleted are empty, the rest untouched
    # (unless the fault let the delete through and lost its answer).
    after = _counts(emulator)
    for (project, group_id), count in before.items():
        cleared = project == PROJECT and group_id in requested and outcomes.get(group_id) == "deleted"
        cleared |= case.applied and call == DELETE and group_id == TARGET
        assert after[(project, group_id)] == (0 if cleared else count), (project, group_id)
    _assert_clean_traffic(state, call, sweep)


# --- raise or return, trigger by trigger ------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    event: Callable[[], dict[str, Any]]
    env: Mapping[str, str] = field(default_factory=dict)
    asynchronous: bool = True
    recurring: bool = False  # a timer: what it had no time for, the next run picks up
    sweep: bool = False


def _sqs_event() -> dict[str, Any]:
    record = _event("sqs-batch.json")["Records"][0]
    return {"Records": [{**record, "messageId": "m-1", "body": json.dumps({"server_group_id": TARGET})}]}


TRIGGERS = {
    "direct": Trigger(lambda: {"server_group_id": TARGET}, asynchronous=False),
    "direct-sweep": Trigger(lambda: {"all_server_groups": True}, asynchronous=False, recurring=True, sweep=True),
    "scheduler-input": Trigger(lambda: {"server_group_ids": [TARGET], "raise_on_transient_failure": True}),
    "scheduler-sweep": Trigger(
        lambda: {"all_server_groups": True, "raise_on_transient_failure": True}, recurring=True, sweep=True
    ),
    "eventbridge-custom": Trigger(lambda: _event("eventbridge-custom.json")),
    "eventbridge-scheduled": Trigger(
        lambda: _event("eventbridge-scheduled.json"), {"SDRS_SERVER_GROUP_IDS": TARGET}, recurring=True
    ),
    "eventbridge-scheduled-sweep": Trigger(
        lambda: _event("eventbridge-scheduled.json"), {"SDRS_SERVER_GROUP_IDS": "all"}, recurring=True, sweep=True
    ),
    "sns-alarm": Trigger(lambda: _event("sns-alarm.json")),
    "sns-direct": Trigger(lambda: _event("sns-direct.json")),
    "sqs": Trigger(_sqs_event),
}
# What is wrong, and how long the invocation has. `deferred`: audits answered 1 s late leave
# less than SDRS_GROUP_START_MARGIN_SECONDS for the deletes, which are deferred.
SITUATIONS: dict[str, tuple[str, str, int, float, dict[str, str]]] = {
    "transient": (DELETE, "http-503", 20, REMAINING, {}),
    "permanent": (DELETE, "http-404", 20, REMAINING, {}),
    "cleared": (DELETE, "http-503", 1, REMAINING, {}),
    "deferred": (
        AUDIT,
        "latency",
        5,
        2.0,
        {"SDRS_READ_TIMEOUT": "5", "SDRS_GROUP_START_MARGIN_SECONDS": "0.6"},
    ),
}


@pytest.mark.parametrize("situation", list(SITUATIONS))
@pytest.mark.parametrize("trigger_name", list(TRIGGERS))
def test_trigger_semantics(
    trigger_name: str,
    situation: str,
    emulator: SdrsEmulator,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
) -> None:
    trigger = TRIGGERS[trigger_name]
    route, fault, times, remaining, env = SITUATIONS[situation]
    emulator.state.inject(route, *(common_fault(fault, 1.0) for _ in range(times)))
    for name in list(os.environ):
        if name.startswith(("SDRS_", "HUAWEICLOUD_")):
            monkeypatch.delenv(name)
    for name, value in {**emulator.environment(), **ENV, **trigger.env, **env}.items():
        monkeypatch.setenv(name, value)
    lambda_context.remaining_millis = int(remaining * 1000)
    before = _counts(emulator)

    started = time.monotonic()
    raised: TransientFailure | None = None
    try:
        answer = lambda_handler(trigger.event(), lambda_context)
    except TransientFailure as exc:
        raised, answer = exc, exc.result
    elapsed = time.monotonic() - started
    emulator.state.settle()

    assert elapsed < remaining
    transient = situation == "transient" or (situation == "deferred" and not trigger.recurring)
    if trigger_name == "sqs":  # never raises: what is left goes back to the queue
        assert raised is None
        assert answer["batchItemFailures"] == ([{"itemIdentifier": "m-1"}] if transient else [])
        (answer,) = answer["records"]
    else:
        assert (raised is not None) is (trigger.asynchronous and transient), answer
    assert answer["ok"] is (situation == "cleared")
    outcomes = {g["server_group_id"]: g["outcome"] for g in answer["groups"]}
    expected = {"transient": "failed", "permanent": "failed", "cleared": "deleted", "deferred": "deferred"}
    assert outcomes[TARGET] == expected[situation]
    assert set(outcomes) == (set(SWEPT) if trigger.sweep else {TARGET})
    if situation != "cleared":
        error = answer["error"]
        assert error["type"] == ("deadline" if situation == "deferred" else "group_failures")
        # retryable: a retry will happen or can help; a timer's deferred groups wait for its next run.
        timer = trigger.recurring and trigger.asynchronous
        assert error["retryable"] is (situation == "transient" or (situation == "deferred" and not timer))
    after = _counts(emulator)
    for key, count in before.items():
        deleted = key[0] == PROJECT and outcomes.get(key[1]) == "deleted"
        assert after[key] == (0 if deleted else count), key


# --- two bugs the suite found, as minimal reproductions ------------------------------------------------------------


def test_a_listing_that_is_not_json_is_retried(emulator: SdrsEmulator) -> None:
    emulator.state.inject(AUDIT, common_fault("200-html"))  # a proxy's page, once

    invocation, _ = run(_event("sns-alarm.json"), REMAINING, {**emulator.environment(), **ENV})
    emulator.state.settle()

    assert len(emulator.state.calls(AUDIT)) == 2
    assert [g.outcome for g in invocation.groups] == ["deleted"]


def test_a_trickling_answer_is_cut_at_the_deadline(emulator: SdrsEmulator) -> None:
    # The discovery's answer takes 53 x 0.04 = 2.1 s, no byte more than 0.04 s after the last.
    emulator.state.inject(DISCOVERY, common_fault("trickle", 0.04))
    env = {**emulator.environment(), **ENV, "SDRS_SERVER_GROUP_IDS": "all", "SDRS_DEADLINE_MARGIN_SECONDS": "0.25"}

    started = time.monotonic()
    invocation, _ = run(_event("eventbridge-scheduled.json"), 1.5, env)
    elapsed = time.monotonic() - started
    emulator.state.settle()

    assert elapsed < 1.5, f"the invocation took {elapsed:.2f}s of 1.5s"
    assert invocation.error is not None
    assert invocation.error.retryable


# --- the table --------------------------------------------------------------------------------------


def _print_table() -> int:
    """Run the matrix and print fault x call with each cell's result; exit status as pytest's."""
    cells: dict[tuple[str, str], tuple[str, dict[str, object]]] = {}

    class Collect:
        def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
            properties = dict(report.user_properties)
            if "fault" not in properties or report.when == "teardown":
                return
            if report.when == "call" or report.outcome != "passed":
                verdict = "xfail" if hasattr(report, "wasxfail") and report.skipped else report.outcome
                cells[(str(properties["fault"]), str(properties["call"]))] = (verdict, properties)

    started = time.monotonic()
    status = pytest.main([__file__, "-q", "-k", "test_fault_matrix", "-p", "no:cacheprovider"], plugins=[Collect()])
    wall = time.monotonic() - started
    faults = list(dict.fromkeys(fault for fault, _ in cells))
    print(f"\n| fault | {' | '.join(CALLS)} |\n|---|{'---|' * len(CALLS)}")
    for fault in faults:
        row = []
        for call in CALLS:
            if (fault, call) not in cells:
                row.append("n/a")
                continue
            verdict, properties = cells[(fault, call)]
            mark = {"passed": "survived", "xfail": "NOT survived (known bug)"}.get(verdict, f"NOT survived ({verdict})")
            row.append(f"{mark}: {properties['outcome']}, {properties['requests']} req, {properties['elapsed']}s")
        print(f"| {fault} | {' | '.join(row)} |")
    survived = sum(1 for verdict, _ in cells.values() if verdict == "passed")
    played = sum(int(str(properties["played"])) for _, properties in cells.values())
    print(
        f"\nfaults injected x calls: {len(CASES)} faults ({len(faults)} with their modes) x {len(CALLS)} calls "
        f"where applicable = {len(cells)} cells, {played} faulty answers played; survived: {survived}; "
        f"not survived: {len(cells) - survived}; wall time {wall:.0f}s"
    )
    return int(status)


if __name__ == "__main__":
    raise SystemExit(_print_table())

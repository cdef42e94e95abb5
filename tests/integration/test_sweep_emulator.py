"""Sweeps (`{"all_server_groups": true}`) against the emulator, a real HTTP server on loopback.

Most tests call `lambda_handler` in-process with the environment pointing at an emulator
the test owns; the ones about the command line (exit status, the summary on stderr, the
`--timeout` deadline) run `sdrs-cleanup invoke` as a subprocess. Either way the emulator's
state and its record of every request prove what the function really did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from handler.app import lambda_handler
from handler.local.emulator import DEMO_PROJECT_ID, EmulatorState, Fault, RecordedRequest, SdrsEmulator, sweep_state

pytestmark = pytest.mark.slow  # a loopback server (and subprocesses): not in `make fast`

EVENTS = Path(__file__).resolve().parents[2] / "events"
CLI = Path(sys.executable).with_name("sdrs-cleanup")
OTHER_PROJECT_ID = "fedcba9876543210fedcba9876543210"
SWEEP: dict[str, Any] = {"all_server_groups": True}

Serve = Callable[[EmulatorState], SdrsEmulator]
Configure = Callable[..., None]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start an emulator on a given state; every one started is stopped after the test."""
    with ExitStack() as stack:
        yield lambda state: stack.enter_context(SdrsEmulator(state))


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Configure:
    """Point the in-process function at an emulator: its environment, plus overrides."""

    def apply(emulator: SdrsEmulator, **overrides: str) -> None:
        for name in list(os.environ):
            if name.startswith(("SDRS_", "HUAWEICLOUD_")):
                monkeypatch.delenv(name)
        for name, value in {**emulator.environment(), **overrides}.items():
            monkeypatch.setenv(name, value)

    return apply


def _invoke(state: EmulatorState, event: dict[str, Any], context: Any) -> dict[str, Any]:
    result: dict[str, Any] = lambda_handler(event, context)
    state.settle()
    return result


def _counts(state: EmulatorState, project_id: str = DEMO_PROJECT_ID) -> dict[str, int]:
    with state.lock:
        return {gid: len(jobs) for gid, jobs in state.projects.get(project_id, {}).items()}


def _with_failures(state: EmulatorState) -> set[str]:
    return {gid for gid, n in _counts(state).items() if n}


def _group(call: RecordedRequest) -> str:
    if call.route == "delete_group_failure_jobs":
        return call.path.split("/")[4]
    return parse_qs(call.query)["server_group_id"][0]


def _query(call: RecordedRequest) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(call.query).items()}


def _outcomes(result: dict[str, Any]) -> dict[str, str]:
    return {g["server_group_id"]: g["outcome"] for g in result["groups"]}


def _assert_clean_traffic(state: EmulatorState) -> None:
    calls = state.calls()
    assert all(call.status != 401 for call in calls), "every request must pass the signature check"
    assert not state.calls("delete_all_failure_jobs"), "the project-wide batch delete must never be sent"
    assert not state.calls("unknown")


def _clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SDRS_", "HUAWEICLOUD_", "POWERTOOLS_"))}
    return {**env, **overrides}


def _run_cli(
    state: EmulatorState, event: dict[str, Any], tmp_path: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))
    command = [str(CLI), "invoke", str(event_file), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    state.settle()
    return done


# --- what a sweep does ------------------------------------------------------------------------


def test_sweep_cleans_exactly_the_groups_with_failed_tasks(
    serve: Serve, configure: Configure, lambda_context: Any
) -> None:
    state = sweep_state(60, 10)
    for n in range(3):  # another project's groups: never listed, never touched
        state.add_group(OTHER_PROJECT_ID, f"00000000-0000-4000-8000-{n:012d}", failed_tasks=5)
    emulator = serve(state)
    configure(emulator)
    before = {gid: state.failure_jobs(DEMO_PROJECT_ID, gid) for gid in _counts(state)}
    dirty = _with_failures(state)
    assert len(dirty) == 10

    result = _invoke(state, SWEEP, lambda_context)

    assert (result["ok"], result["trigger"], result["dry_run"], result["error"]) == (True, "direct", False, None)
    assert [g["server_group_id"] for g in result["groups"]] == sorted(before)
    assert _outcomes(result) == {gid: "deleted" if gid in dirty else "nothing_to_delete" for gid in before}
    for group in result["groups"]:
        assert group["project_id"] == DEMO_PROJECT_ID
        assert group["failure_jobs"] == before[group["server_group_id"]]  # the audit record
        assert group["request_id"]
        assert group["attempts"] == (1 if group["server_group_id"] in dirty else 0)
    assert result["summary"] == {
        "groups_found": 60,
        "deleted": 10,
        "nothing_to_delete": 50,
        "would_delete": 0,
        "failed": 0,
        "deferred": 0,
        "held": 0,
        "failed_tasks_deleted": 30,
    }
    assert _counts(state) == dict.fromkeys(before, 0)
    assert _counts(state, OTHER_PROJECT_ID) == dict.fromkeys(_counts(state, OTHER_PROJECT_ID), 5)
    (listing,) = state.calls("list_server_groups")
    assert listing.path == f"/v1/{DEMO_PROJECT_ID}/server-groups"
    assert Counter(_group(c) for c in state.calls("list_failure_jobs")) == dict.fromkeys(before, 1)
    deletes = [_group(c) for c in state.calls("delete_group_failure_jobs")]
    assert sorted(deletes) == sorted(dirty)  # one DELETE per group with failed tasks, none for the others
    assert {c.headers["X-Project-Id"] for c in state.calls()} == {DEMO_PROJECT_ID}
    _assert_clean_traffic(state)


# SDRS_MAX_CONCURRENCY=N: never more than N requests at once, and really N at once. With
# 0.02 s of latency the client's own CPU time per request (~1.5-2 ms here) means the 16th
# request of a wave leaves about when the 1st is answered, so 16 at once happens only some of
# the time: N=16 gets 0.05 s so that the assertion is exact and not flaky.
@pytest.mark.parametrize(("n", "latency"), [(1, 0.02), (4, 0.02), (16, 0.05)])
def test_concurrency_is_bounded_and_real(
    n: int, latency: float, serve: Serve, configure: Configure, lambda_context: Any
) -> None:
    groups = 6 * n + 8
    state = sweep_state(groups, n, latency=latency)
    emulator = serve(state)
    configure(emulator, SDRS_MAX_CONCURRENCY=str(n))

    result = _invoke(state, SWEEP, lambda_context)

    assert result["ok"] is True
    assert result["summary"]["deleted"] == n
    assert sum(_counts(state).values()) == 0
    assert state.max_in_flight <= n
    assert state.max_in_flight == n
    assert len(state.calls()) == 1 + groups + n
    _assert_clean_traffic(state)


# --- discovery: pages and failures ------------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "page_size", "offsets"),
    [
        pytest.param(0, 10, [0], id="no-groups"),
        pytest.param(7, 10, [0], id="one-partial-page"),
        pytest.param(10, 10, [0], id="exactly-one-page"),
        pytest.param(30, 10, [0, 10, 20], id="exact-multiple"),
        pytest.param(25, 10, [0, 10, 20], id="not-a-multiple"),
        pytest.param(3, 1, [0, 1, 2], id="page-of-one"),
    ],
)
def test_discovery_reads_every_page(
    groups: int, page_size: int, offsets: list[int], serve: Serve, configure: Configure, lambda_context: Any
) -> None:
    state = sweep_state(groups, min(groups, 2))
    state.projects.setdefault(DEMO_PROJECT_ID, {})  # sweep_state(0, ...) creates no project at all
    emulator = serve(state)
    configure(emulator, SDRS_PAGE_SIZE=str(page_size), SDRS_MAX_CONCURRENCY="4")
    everyone = sorted(_counts(state))

    result = _invoke(state, SWEEP, lambda_context)

    assert result["ok"] is True, result["error"]
    assert [g["server_group_id"] for g in result["groups"]] == everyone
    listings = state.calls("list_server_groups")
    assert _query(listings[0])["offset"] == "0"  # the first page tells how many more to fetch
    assert sorted(int(_query(c)["offset"]) for c in listings) == offsets
    assert {_query(c)["limit"] for c in listings} == {str(page_size)}
    assert {_group(c) for c in state.calls("list_failure_jobs")} == set(everyone)
    assert sum(_counts(state).values()) == 0
    _assert_clean_traffic(state)


def test_page_size_also_pages_each_groups_failed_tasks(serve: Serve, configure: Configure, lambda_context: Any) -> None:
    state = sweep_state(6, 2, failed_tasks=25)
    emulator = serve(state)
    configure(emulator, SDRS_PAGE_SIZE="10")
    dirty = _with_failures(state)

    result = _invoke(state, SWEEP, lambda_context)

    assert result["summary"]["failed_tasks_deleted"] == 50
    for gid in dirty:
        pages = [int(_query(c)["offset"]) for c in state.calls("list_failure_jobs") if _group(c) == gid]
        assert pages == [0, 10, 20]
        (group,) = (g for g in result["groups"] if g["server_group_id"] == gid)
        assert len({job["job_id"] for job in group["failure_jobs"]}) == 25


def _first_page(state: EmulatorState, page_size: int) -> bytes:
    """The emulator's own answer for offset 0, to be played back as a canned reply."""
    ids = sorted(_counts(state))
    listed = [{"id": gid, "name": state.group_names[gid], "status": "protected"} for gid in ids[:page_size]]
    return json.dumps({"count": len(ids), "server_groups": listed}).encode()


@pytest.mark.parametrize("failing_page", ["first", "later"])
def test_discovery_page_failing_once_is_retried(
    failing_page: str, serve: Serve, configure: Configure, lambda_context: Any
) -> None:
    state = sweep_state(25, 5)
    if failing_page == "first":
        state.inject("list_server_groups", Fault(503, b"<html>busy</html>"))
    else:  # offset 0 gets the real first page (canned), then the next page asked for gets a 503
        first = Fault(200, _first_page(state, 10), {"Content-Type": "application/json"})
        state.inject("list_server_groups", first, Fault(503, b"<html>busy</html>"))
    emulator = serve(state)
    configure(emulator, SDRS_PAGE_SIZE="10")

    result = _invoke(state, SWEEP, lambda_context)

    assert result["ok"] is True, result["error"]
    assert result["summary"]["groups_found"] == 25
    assert result["summary"]["deleted"] == 5
    assert sum(_counts(state).values()) == 0
    answered = [(int(_query(c)["offset"]), c.status) for c in state.calls("list_server_groups")]
    assert sorted(offset for offset, status in answered if status == 200) == [0, 10, 20]
    (failed,) = [offset for offset, status in answered if status == 503]
    assert failed == 0 if failing_page == "first" else failed in (10, 20)
    _assert_clean_traffic(state)


def test_discovery_that_keeps_failing_touches_nothing(serve: Serve, configure: Configure, lambda_context: Any) -> None:
    state = sweep_state(25, 5)
    state.inject("list_server_groups", Fault(503, b"<html>busy</html>"))
    emulator = serve(state)
    configure(emulator, SDRS_MAX_ATTEMPTS="1")
    before = _counts(state)

    result = _invoke(state, SWEEP, lambda_context)

    assert result["ok"] is False
    assert result["error"]["type"] == "discovery_failed"
    assert result["error"]["retryable"] is True
    assert result["groups"] == []
    assert [c.route for c in state.calls()] == ["list_server_groups"]
    assert _counts(state) == before


# --- the safety brake and dry runs ------------------------------------------------------------


@pytest.mark.parametrize(
    ("env_limit", "request_limit", "tripped"),
    [
        pytest.param("29", None, True, id="env-below-total"),
        pytest.param("30", None, False, id="env-equal-to-total"),
        pytest.param("29", 30, False, id="request-raises-the-brake"),
        pytest.param(None, 29, True, id="request-lowers-the-default"),
    ],
)
def test_safety_brake(
    env_limit: str | None,
    request_limit: int | None,
    tripped: bool,
    serve: Serve,
    configure: Configure,
    lambda_context: Any,
) -> None:
    state = sweep_state(60, 10)  # 10 groups x 3 failed tasks = 30
    emulator = serve(state)
    configure(emulator, **({"SDRS_MAX_FAILED_TASKS": env_limit} if env_limit else {}))
    dirty = _with_failures(state)
    before = _counts(state)
    event = SWEEP if request_limit is None else {**SWEEP, "max_failed_tasks": request_limit}

    result = _invoke(state, event, lambda_context)

    assert len(result["groups"]) == 60  # every group is reported either way
    assert len(state.calls("list_failure_jobs")) == 60
    if not tripped:
        assert result["ok"] is True
        assert result["summary"]["deleted"] == 10
        assert sum(_counts(state).values()) == 0
        return
    assert result["ok"] is False
    assert result["error"]["type"] == "safety_brake"
    assert "30" in result["error"]["message"]
    assert _outcomes(result) == {gid: "held" if gid in dirty else "nothing_to_delete" for gid in before}
    for group in result["groups"]:
        assert len(group["failure_jobs"]) == before[group["server_group_id"]]
        if group["outcome"] == "held":
            assert group["error"]["code"] == "SafetyBrake.Tripped"
    assert state.calls("delete_group_failure_jobs") == []
    assert _counts(state) == before
    _assert_clean_traffic(state)


@pytest.mark.parametrize("how", ["request", "SDRS_DRY_RUN"])
def test_dry_run_sweep_deletes_nothing(how: str, serve: Serve, configure: Configure, lambda_context: Any) -> None:
    state = sweep_state(60, 10)
    emulator = serve(state)
    configure(emulator, **({"SDRS_DRY_RUN": "true"} if how == "SDRS_DRY_RUN" else {}))
    before = _counts(state)
    event = {**SWEEP, "dry_run": True} if how == "request" else SWEEP

    result = _invoke(state, event, lambda_context)

    assert (result["ok"], result["dry_run"]) == (True, True)
    outcomes = _outcomes(result)
    assert {gid for gid, outcome in outcomes.items() if outcome == "would_delete"} == _with_failures(state)
    assert set(outcomes.values()) == {"would_delete", "nothing_to_delete"}
    assert result["summary"]["would_delete"] == 10
    assert result["summary"]["failed_tasks_deleted"] == 0
    assert state.calls("delete_group_failure_jobs") == []
    assert _counts(state) == before
    _assert_clean_traffic(state)


# --- other ways to ask for a sweep ------------------------------------------------------------


def test_scheduled_event_sweeps_when_configured_for_all_groups(
    serve: Serve, configure: Configure, lambda_context: Any
) -> None:
    state = sweep_state(20, 4)
    emulator = serve(state)
    configure(emulator, SDRS_SERVER_GROUP_IDS="all")
    event = json.loads((EVENTS / "eventbridge-scheduled.json").read_text())

    result = _invoke(state, event, lambda_context)

    assert (result["ok"], result["trigger"]) == (True, "eventbridge_scheduled")
    assert result["summary"]["groups_found"] == 20
    assert result["summary"]["deleted"] == 4
    assert len(state.calls("list_server_groups")) == 1
    assert sum(_counts(state).values()) == 0


def test_sqs_record_can_ask_for_a_sweep(serve: Serve, configure: Configure, lambda_context: Any) -> None:
    state = sweep_state(20, 4)
    emulator = serve(state)
    configure(emulator)
    batch = json.loads((EVENTS / "sqs-batch.json").read_text())
    record = {**batch["Records"][0], "messageId": "sweep-1", "body": json.dumps({**SWEEP, "dry_run": True})}

    result = _invoke(state, {"Records": [record]}, lambda_context)

    assert result["batchItemFailures"] == []
    (only,) = result["records"]
    assert (only["message_id"], only["ok"], only["dry_run"]) == ("sweep-1", True, True)
    assert only["summary"]["would_delete"] == 4
    assert state.calls("delete_group_failure_jobs") == []


# --- the command line ---------------------------------------------------------------------------


def test_cli_prints_the_sweep_summary(serve: Serve, tmp_path: Path) -> None:
    state = sweep_state(60, 10)
    emulator = serve(state)

    done = _run_cli(state, SWEEP, tmp_path, _clean_env(**emulator.environment()))

    assert done.returncode == 0, done.stderr
    assert "sdrs-cleanup: ok (trigger direct)" in done.stderr
    assert "… and 10 more groups (see the JSON on stdout)" in done.stderr
    assert (
        "  60 group(s) found: 10 deleted, 50 nothing to delete, 0 would delete, 0 failed, 0 deferred, 0 held, "
        "30 failed tasks deleted\n"
    ) in done.stderr
    assert json.loads(done.stdout)["summary"]["failed_tasks_deleted"] == 30
    assert sum(_counts(state).values()) == 0


def _check_deadline_result(done: subprocess.CompletedProcess[str], state: EmulatorState, before: dict[str, int]) -> Any:
    """What must hold whenever a sweep runs out of time: returns the groups by outcome."""
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    by_outcome: dict[str, list[dict[str, Any]]] = {}
    for group in result["groups"]:
        by_outcome.setdefault(group["outcome"], []).append(group)
    assert set(by_outcome) <= {"deleted", "nothing_to_delete", "deferred"}, Counter(_outcomes(result).values())
    assert len(result["groups"]) == len(before)
    deferred = by_outcome.get("deferred", [])
    assert deferred, "the sweep was meant to run out of time"
    assert result["error"]["type"] == "deadline"
    assert result["error"]["retryable"] is True
    assert result["error"]["message"].startswith(f"{len(deferred)} of {len(before)} groups deferred")
    assert f"error (deadline): {len(deferred)} of {len(before)} groups deferred" in done.stderr
    assert f"{len(deferred)} deferred" in done.stderr  # in the summary line
    audited = Counter(_group(c) for c in state.calls("list_failure_jobs"))
    deleted = Counter(_group(c) for c in state.calls("delete_group_failure_jobs"))
    after = _counts(state)
    for group in result["groups"]:
        gid = group["server_group_id"]
        assert group["error"] is None or group["error"]["code"] == "Deadline.Deferred"
        if group["outcome"] == "deleted":
            assert (audited[gid], deleted[gid], after[gid]) == (1, 1, 0)
        elif group["outcome"] == "nothing_to_delete":
            assert (audited[gid], deleted[gid], before[gid]) == (1, 0, 0)
        elif group["failure_jobs"]:  # audited, then no time left to delete
            assert (audited[gid], deleted[gid], after[gid]) == (1, 0, before[gid])
        else:  # never started: no request at all
            assert (audited[gid], deleted[gid], after[gid]) == (0, 0, before[gid])
    _assert_clean_traffic(state)
    return by_outcome


# Deadline = --timeout (the margin is 0); no group or delete starts with less than 1.2 s left.
DEADLINE_ENV = {
    "SDRS_MAX_CONCURRENCY": "4",
    "SDRS_DEADLINE_MARGIN_SECONDS": "0",
    "SDRS_GROUP_START_MARGIN_SECONDS": "1.2",
}


def test_cli_deadline_reached_while_auditing(serve: Serve, tmp_path: Path) -> None:
    # 60 audits, 4 at a time, 0.15 s each: 2.25 s; audits stop starting at 3.15 - 2 x 1.2 = 0.75 s
    # (twice the start margin, so that the deletes keep time for themselves).
    state = sweep_state(60, 4, latency=0.15)
    emulator = serve(state)
    before = _counts(state)

    started = time.monotonic()
    done = _run_cli(state, SWEEP, tmp_path, _clean_env(**emulator.environment(), **DEADLINE_ENV), "--timeout", "3.15")
    assert time.monotonic() - started < 10

    by_outcome = _check_deadline_result(done, state, before)
    never_started = [g for g in by_outcome["deferred"] if not g["failure_jobs"]]
    assert never_started, "some groups must have been left unaudited"
    assert by_outcome.get("nothing_to_delete"), "some groups must have been audited in time"


def test_cli_deadline_reached_while_deleting(serve: Serve, tmp_path: Path) -> None:
    # 40 groups, all with failed tasks, 4 at a time, 0.2 s a request: the listing and the audits
    # end at about 2.2 s, before audits stop starting (5.0 - 2 x 1.2 = 2.6 s); the deletes (2 s
    # more) stop starting at 5.0 - 1.2 = 3.8 s: the last round or two are deferred.
    state = sweep_state(40, 40, latency=0.2)
    emulator = serve(state)
    before = _counts(state)

    done = _run_cli(state, SWEEP, tmp_path, _clean_env(**emulator.environment(), **DEADLINE_ENV), "--timeout", "5.0")

    by_outcome = _check_deadline_result(done, state, before)
    assert by_outcome.get("deleted"), "some deletes must have been done in time"
    assert all(g["failure_jobs"] for g in by_outcome["deferred"]), "every group was audited"
    assert len(state.calls("list_failure_jobs")) == 40

"""The time budget against the SDRS emulator on loopback, in real time, with the default settings.

Every test runs the Lambda edge (`handler.app.lambda_handler`) with a context whose remaining
time really counts down, a fresh `Runtime` (a cold container: no call timed yet, so a call is
expected to take 1 s) unless it says otherwise, and an emulator answering every request 50 ms
after it arrived. The targets are the issue's:

    4 s left    an SNS alarm's group is cleaned
    6 s left    a direct request's group is cleaned
    8 s left    a direct request naming 8 groups, and an SQS batch of 3 records, are cleaned
    1.5 s left  the group is deferred, the message saying the seconds left and needed
    1.5 s left, warm (the calls of an earlier invocation timed): the group is cleaned

and, every time: the invocation returns before its deadline, and what the result says was
deleted is exactly what the emulator no longer holds (nothing else was touched).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handler.app import TransientFailure, lambda_handler
from handler.core import Runtime
from handler.local.cli import LocalContext
from handler.local.emulator import (
    DEMO_GROUP_WITH_FAILURES,
    DEMO_PROJECT_ID,
    EmulatorState,
    SdrsEmulator,
    sweep_state,
)
from handler.sdrs.factory import ClientFactory

pytestmark = pytest.mark.slow  # a loopback server, real time

EVENTS = Path(__file__).resolve().parents[2] / "events"
LATENCY = 0.05
GROUPS = 8  # the sweep project's groups besides the SNS alarm's (all with failed tasks)
FAILED_TASKS = 3
DEFERRED_MESSAGE = re.compile(r"\((\d+\.\d+)s left, (\d+\.\d+)s needed\)")


def _state() -> EmulatorState:
    state = sweep_state(GROUPS, GROUPS, FAILED_TASKS, latency=LATENCY)
    state.add_group(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES, FAILED_TASKS, name="pg-web-tier")
    return state


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[SdrsEmulator]:
    """An emulator with 9 groups of 3 failed tasks; the function's environment is its
    environment and nothing else (every SDRS_ setting at its default)."""
    with SdrsEmulator(_state()) as emulator:
        for name in list(os.environ):
            if name.startswith(("SDRS_", "HUAWEICLOUD_")):
                monkeypatch.delenv(name)
        for name, value in emulator.environment().items():
            monkeypatch.setenv(name, value)
        yield emulator


@pytest.fixture
def cold() -> Iterator[Runtime]:
    """A fresh runtime, as in a container that just started: no client, no call timed."""
    factory = ClientFactory()
    yield Runtime(factory)
    factory.close()


def _sweep_groups(emulator: SdrsEmulator) -> list[str]:
    return sorted(gid for _, gid, _ in emulator.failed_task_counts() if gid != DEMO_GROUP_WITH_FAILURES)


def _counts(emulator: SdrsEmulator) -> dict[str, int]:
    return {gid: n for _, gid, n in emulator.failed_task_counts()}


def _sns_alarm() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "sns-alarm.json").read_text(encoding="utf-8"))
    return event


def _direct(*groups: str) -> dict[str, Any]:
    return {"server_group_ids": list(groups), "project_id": DEMO_PROJECT_ID}


def _sqs_batch(*groups: str) -> dict[str, Any]:
    """events/sqs-batch.json's envelope, one record per group."""
    template = json.loads((EVENTS / "sqs-batch.json").read_text(encoding="utf-8"))["Records"][0]
    records = [
        {
            **template,
            "messageId": f"2e1424d4-f796-459a-8184-9c92662be6{n:02x}",
            "body": json.dumps({"server_group_id": group, "project_id": DEMO_PROJECT_ID}),
        }
        for n, group in enumerate(groups)
    ]
    return {"Records": records}


def _invoke(emulator: SdrsEmulator, event: dict[str, Any], seconds: float, runtime: Runtime) -> tuple[dict, float]:
    """The result (the raised one's, for an asynchronous event Lambda would retry) and the
    wall time from the context's creation, checked against the time given."""
    context = LocalContext(seconds)
    started = time.monotonic()
    try:
        result: dict[str, Any] = lambda_handler(event, context, runtime=runtime)
    except TransientFailure as raised:
        result = raised.result
    elapsed = time.monotonic() - started
    emulator.state.settle()
    assert elapsed < seconds, f"returned after {elapsed:.3f}s, past the {seconds}s deadline"
    assert context.get_remaining_time_in_millis() > 0
    return json.loads(json.dumps(result)), elapsed


def _groups(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [g for record in result.get("records", [result]) for g in record.get("groups", [])]


def _check_truthful(
    emulator: SdrsEmulator, before: dict[str, int], result: dict[str, Any], earlier_calls: int = 0
) -> dict[str, str]:
    """What the result reports deleted is gone from the emulator, with the tasks it lists;
    every other group still holds all its failed tasks, and no other delete was sent (after
    the first `earlier_calls` requests, an earlier invocation's). Returns group -> outcome."""
    outcomes = {g["server_group_id"]: g["outcome"] for g in _groups(result)}
    after = _counts(emulator)
    deleted = {gid for gid, outcome in outcomes.items() if outcome == "deleted"}
    for group in _groups(result):
        if group["outcome"] == "deleted":
            assert len(group["failure_jobs"]) == before[group["server_group_id"]]
    assert {gid for gid, n in after.items() if n < before[gid]} == deleted
    assert all(after[gid] == 0 for gid in deleted)
    calls = emulator.state.calls()[earlier_calls:]
    assert {call.path.split("/")[4] for call in calls if call.route == "delete_group_failure_jobs"} == deleted
    assert all(call.status in (200, 204) for call in calls)
    assert not emulator.state.calls("delete_all_failure_jobs")
    return outcomes


def test_4s_cleans_an_sns_alarm_group(emulator: SdrsEmulator, cold: Runtime) -> None:
    before = _counts(emulator)
    result, _ = _invoke(emulator, _sns_alarm(), 4.0, cold)
    assert result["ok"], result
    assert _check_truthful(emulator, before, result) == {DEMO_GROUP_WITH_FAILURES: "deleted"}


def test_6s_cleans_a_direct_request_for_one_group(emulator: SdrsEmulator, cold: Runtime) -> None:
    group = _sweep_groups(emulator)[0]
    before = _counts(emulator)
    result, _ = _invoke(emulator, _direct(group), 6.0, cold)
    assert result["ok"], result
    assert _check_truthful(emulator, before, result) == {group: "deleted"}


def test_8s_cleans_a_direct_request_for_8_groups(emulator: SdrsEmulator, cold: Runtime) -> None:
    groups = _sweep_groups(emulator)
    assert len(groups) == 8
    before = _counts(emulator)
    result, _ = _invoke(emulator, _direct(*groups), 8.0, cold)
    assert result["ok"], result
    assert _check_truthful(emulator, before, result) == dict.fromkeys(groups, "deleted")
    assert result["summary"]["failed_tasks_deleted"] == 8 * FAILED_TASKS


def test_8s_cleans_an_sqs_batch_of_3(emulator: SdrsEmulator, cold: Runtime) -> None:
    groups = _sweep_groups(emulator)[:3]
    before = _counts(emulator)
    result, _ = _invoke(emulator, _sqs_batch(*groups), 8.0, cold)
    assert result["ok"], result
    assert result["batchItemFailures"] == []
    assert len(result["records"]) == 3
    assert _check_truthful(emulator, before, result) == dict.fromkeys(groups, "deleted")


@pytest.mark.parametrize("trigger", ["direct", "sns"])
def test_1_5s_cold_returns_in_time_deferring_with_the_seconds(
    emulator: SdrsEmulator, cold: Runtime, trigger: str
) -> None:
    """1.5 s less the 0.2 s margin is 1.3 s; cold, an audit is expected to need 2 s (a listing
    and a delete of 1 s each): the group is not started. A direct request returns the deferral,
    an SNS alarm raises with it (Lambda retries the event)."""
    event = _direct(DEMO_GROUP_WITH_FAILURES) if trigger == "direct" else _sns_alarm()
    before = _counts(emulator)
    result, _ = _invoke(emulator, event, 1.5, cold)
    assert _check_truthful(emulator, before, result) == {DEMO_GROUP_WITH_FAILURES: "deferred"}
    assert emulator.state.calls() == []  # not even the listing was sent
    (group,) = result["groups"]
    assert group["error"]["code"] == "Deadline.Deferred"
    found = DEFERRED_MESSAGE.search(group["error"]["message"])
    assert found, group["error"]["message"]
    left, needed = float(found[1]), float(found[2])
    assert 0.0 < left <= 1.3  # 1.5 s less the margin, less what the cold start took
    assert needed == 2.0


def test_1_5s_warm_cleans_the_group(emulator: SdrsEmulator, cold: Runtime) -> None:
    """The same container (runtime, client factory) ran one invocation first: its calls took
    about 50 ms, so a call is now expected to take about 0.1 s, and 1.3 s is plenty."""
    first, second = _sweep_groups(emulator)[0], DEMO_GROUP_WITH_FAILURES
    result, _ = _invoke(emulator, _direct(first), 6.0, cold)
    assert result["ok"], result
    before, earlier_calls = _counts(emulator), len(emulator.state.calls())
    client = cold.sdrs.current  # type: ignore[attr-defined]
    assert client is not None
    assert client.call_time() < 0.5
    result, _ = _invoke(emulator, _sns_alarm(), 1.5, cold)
    assert result["ok"], result
    assert cold.sdrs.current is client  # type: ignore[attr-defined]  # reused: warm
    assert _check_truthful(emulator, before, result, earlier_calls) == {second: "deleted"}
    assert _counts(emulator)[first] == 0

"""The time budget, measured: `.venv/bin/python bench/time_budget.py` (about 20 s).

For each time left (1 to 12 s) and each kind of work (an SNS alarm for one group, a direct
request naming 8 groups, an SQS batch of 3 records, a sweep of 50 groups), the Lambda edge
(`handler.app.lambda_handler`) runs with the default settings and a context whose remaining
time really counts down, against the SDRS emulator on 127.0.0.1 answering every request 50 ms
after it arrived (in this process; every group holds 3 failed tasks, one emulator per cell):

  cold  a fresh runtime (a container that just started): no call timed yet, a call is
        expected to take 1 s;
  warm  the same runtime ran one invocation first (one listing of a group in another project),
        so a call is expected to take twice the slowest timed, about 0.1 s.

Each cell says what was done: groups deleted, deferred (and, for the first deferred, the
seconds left and needed), failed, whether the edge raised (Lambda retries the event) or the
batch sent records back, and the wall time. Every cell is checked: the invocation returned
before its deadline, and the groups reported deleted are exactly those the emulator no longer
holds. The client's imports are done ahead, so that every cell is alike (in Lambda the first
client's imports count in the first invocation, about 0.1 s). A Markdown table goes to
stdout. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

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
from handler.observability import logger
from handler.sdrs.factory import ClientFactory

ROOT = Path(__file__).resolve().parents[1]
LATENCY = 0.05
FAILED_TASKS = 3
TIMES_LEFT = (1.0, 1.5, 2.0, 4.0, 6.0, 8.0, 12.0)
WARM_UP_PROJECT = "fedcba9876543210fedcba9876543210"
WARM_UP_GROUP = "00000000-0000-4000-8000-000000000000"
DEFERRED = re.compile(r"\((\d+\.\d+)s left, (\d+\.\d+)s needed\)")


@dataclass(frozen=True)
class Work:
    name: str
    groups: int  # in the emulator's project
    event: Callable[[list[str]], dict[str, Any]]  # from the project's sorted groups
    sns_group: bool = False  # the project also holds events/sns-alarm.json's group


def _sns_alarm(_: list[str]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "sns-alarm.json").read_text(encoding="utf-8"))
    return event


def _direct(groups: list[str]) -> dict[str, Any]:
    return {"server_group_ids": groups[:8], "project_id": DEMO_PROJECT_ID}


def _sqs_batch(groups: list[str]) -> dict[str, Any]:
    template = json.loads((ROOT / "events" / "sqs-batch.json").read_text(encoding="utf-8"))["Records"][0]
    bodies = [json.dumps({"server_group_id": gid, "project_id": DEMO_PROJECT_ID}) for gid in groups[:3]]
    return {
        "Records": [
            {**template, "messageId": f"2e1424d4-f796-459a-8184-9c92662be6{n:02x}", "body": body}
            for n, body in enumerate(bodies)
        ]
    }


def _sweep(_: list[str]) -> dict[str, Any]:
    return {"all_server_groups": True}


WORKS = (
    Work("SNS alarm, one group", 0, _sns_alarm, sns_group=True),
    Work("direct, 8 groups", 8, _direct),
    Work("SQS batch of 3", 3, _sqs_batch),
    Work("sweep of 50 groups", 50, _sweep),
)


def _state(work: Work) -> EmulatorState:
    state = sweep_state(work.groups, work.groups, FAILED_TASKS, latency=LATENCY)
    if work.sns_group:
        state.add_group(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES, FAILED_TASKS)
    state.add_group(WARM_UP_PROJECT, WARM_UP_GROUP, 0)  # never in the measured work
    return state


def _counts(state: EmulatorState) -> dict[str, int]:
    with state.lock:
        return {gid: len(jobs) for gid, jobs in state.projects.get(DEMO_PROJECT_ID, {}).items()}


def _point_at(emulator: SdrsEmulator) -> None:
    for name in list(os.environ):
        if name.startswith(("SDRS_", "HUAWEICLOUD_")):
            del os.environ[name]
    os.environ.update(emulator.environment())


def _invoke(event: dict[str, Any], seconds: float, runtime: Runtime) -> tuple[dict[str, Any], bool, float]:
    context = LocalContext(seconds)
    started = time.monotonic()
    raised = False
    with contextlib.redirect_stdout(io.StringIO()):  # the EMF metrics
        try:
            result = lambda_handler(event, context, runtime=runtime)
        except TransientFailure as exc:
            result, raised = exc.result, True
    elapsed = time.monotonic() - started
    return json.loads(json.dumps(result)), raised, elapsed


@dataclass(frozen=True)
class Cell:
    deleted: int
    deferred: int
    failed: int
    raised: bool
    sent_back: int
    first_deferral: str
    error: str
    elapsed: float
    in_time: bool
    truthful: bool

    def __str__(self) -> str:
        parts = [f"{self.deleted} deleted"]
        if self.deferred:
            parts.append(f"{self.deferred} deferred{self.first_deferral}")
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.error:
            parts.append(self.error)
        if self.raised:
            parts.append("raised")
        if self.sent_back:
            parts.append(f"{self.sent_back} sent back")
        text = ", ".join(parts) + f"; {self.elapsed:.2f} s"
        if not self.in_time:
            text += " **LATE**"
        if not self.truthful:
            text += " **RESULT DISAGREES WITH THE EMULATOR**"
        return text


def _discovery(message: str) -> str:
    found = re.search(r"(Deadline\.Exceeded): not enough invocation time left to call the API \((\d+\.\d+)s\)", message)
    return f"listing not sent ({found[1]}: {found[2]} s left)" if found else f"discovery failed ({message})"


def measure(work: Work, seconds: float, warm: bool) -> Cell:
    state = _state(work)
    with SdrsEmulator(state) as emulator:
        _point_at(emulator)
        factory = ClientFactory()
        runtime = Runtime(factory)
        try:
            if warm:
                _invoke({"server_group_id": WARM_UP_GROUP, "project_id": WARM_UP_PROJECT}, 10.0, runtime)
            state.settle()
            earlier_calls = len(state.calls())
            before = _counts(state)
            groups = sorted(gid for gid in before if gid != DEMO_GROUP_WITH_FAILURES)
            result, raised, elapsed = _invoke(work.event(groups), seconds, runtime)
            state.settle()
        finally:
            factory.close()
        after = _counts(state)
        calls = state.calls()[earlier_calls:]
    reported = [g for record in result.get("records", [result]) for g in record.get("groups", [])]
    outcomes = [g["outcome"] for g in reported]
    deleted = {g["server_group_id"] for g in reported if g["outcome"] == "deleted"}
    sent = {call.path.split("/")[4] for call in calls if call.route == "delete_group_failure_jobs"}
    truthful = (
        {gid for gid, n in after.items() if n < before[gid]} == deleted
        and all(after[gid] == 0 for gid in deleted)
        and sent == deleted
    )
    deferral = next((DEFERRED.search(g["error"]["message"]) for g in reported if g["outcome"] == "deferred"), None)
    errors = [record.get("error") for record in result.get("records", [result])]
    error = next((_discovery(e["message"]) for e in errors if e and e["type"] == "discovery_failed"), "")
    return Cell(
        deleted=len(deleted),
        deferred=outcomes.count("deferred"),
        failed=outcomes.count("failed"),
        raised=raised,
        sent_back=len(result.get("batchItemFailures", [])),
        first_deferral=f" ({deferral[1]} s left, {deferral[2]} s needed)" if deferral else "",
        error=error,
        elapsed=elapsed,
        in_time=elapsed < seconds,
        truthful=truthful,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--times", type=float, nargs="+", default=list(TIMES_LEFT), help="seconds left to try")
    args = parser.parse_args(argv)
    ClientFactory.preload()  # the same in every cell: the client's imports are not measured
    logger.setLevel("WARNING")
    logger.registered_handler.setStream(io.StringIO())  # type: ignore[attr-defined]  # deferrals are warnings
    print("| time left | work asked | cold: what was done | warm: what was done |")
    print("|---:|---|---|---|")
    problems = 0
    for seconds in args.times:
        for work in WORKS:
            cold, warm = measure(work, seconds, warm=False), measure(work, seconds, warm=True)
            problems += sum(not (c.in_time and c.truthful) for c in (cold, warm))
            print(f"| {seconds:g} s | {work.name} | {cold} | {warm} |", flush=True)
    print(
        f"\nEmulator latency {LATENCY * 1000:.0f} ms, default settings, every group with {FAILED_TASKS} failed tasks; "
        f"{'every cell returned in time and agrees with the emulator' if not problems else f'{problems} bad cells'}."
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

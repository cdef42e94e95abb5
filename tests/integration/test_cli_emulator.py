"""The `sdrs-cleanup` command, run as a subprocess against the emulator over loopback.

The test owns the emulator, so after each run it can check what the function really
changed: the groups it should have cleared are empty, every other group is untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handler.local.emulator import (
    DEMO_GROUP_CLEAN,
    DEMO_GROUP_MANY_FAILURES,
    DEMO_GROUP_UNTOUCHED,
    DEMO_GROUP_WITH_FAILURES,
    DEMO_PROJECT_ID,
    EmulatorState,
    SdrsEmulator,
    demo_state,
)

pytestmark = pytest.mark.slow  # a loopback server (and subprocesses): not in `make fast`

EVENTS = Path(__file__).resolve().parents[2] / "events"
CLI = Path(sys.executable).with_name("sdrs-cleanup")
SCHEDULED_GROUPS = f"{DEMO_GROUP_WITH_FAILURES},{DEMO_GROUP_CLEAN}"

# event file -> (trigger, {group: expected outcome}); every group not named must be untouched.
EXPECTED: dict[str, tuple[str, dict[str, str]]] = {
    "direct.json": ("direct", {DEMO_GROUP_WITH_FAILURES: "deleted"}),
    "direct-several-groups.json": (
        "direct",
        {
            DEMO_GROUP_WITH_FAILURES: "deleted",
            DEMO_GROUP_CLEAN: "nothing_to_delete",
            DEMO_GROUP_MANY_FAILURES: "deleted",
        },
    ),
    "direct-dry-run.json": (
        "direct",
        {DEMO_GROUP_WITH_FAILURES: "would_delete", DEMO_GROUP_CLEAN: "nothing_to_delete"},
    ),
    "eventbridge-custom.json": ("eventbridge", {DEMO_GROUP_WITH_FAILURES: "deleted"}),
    "eventbridge-scheduled.json": (
        "eventbridge_scheduled",
        {DEMO_GROUP_WITH_FAILURES: "deleted", DEMO_GROUP_CLEAN: "nothing_to_delete"},
    ),
    "scheduler-input.json": ("direct", {DEMO_GROUP_WITH_FAILURES: "deleted", DEMO_GROUP_CLEAN: "nothing_to_delete"}),
    "sns-alarm.json": ("sns_alarm", {DEMO_GROUP_WITH_FAILURES: "deleted"}),
    "sns-alarm-ok.json": ("sns_alarm", {}),
    "sns-alarm-insufficient-data.json": ("sns_alarm", {}),
    "sns-direct.json": ("sns", {DEMO_GROUP_WITH_FAILURES: "deleted"}),
    "sns-alarm-metric-math.json": ("sns_alarm", {DEMO_GROUP_WITH_FAILURES: "deleted"}),
    "cloudwatch-alarm-action.json": ("cloudwatch_alarm", {DEMO_GROUP_WITH_FAILURES: "deleted"}),
    "cloudwatch-alarm-action-ok.json": ("cloudwatch_alarm", {}),
    "cloudwatch-alarm-action-metric-math.json": (
        "cloudwatch_alarm",
        {DEMO_GROUP_WITH_FAILURES: "deleted", DEMO_GROUP_CLEAN: "nothing_to_delete"},
    ),
    "eventbridge-alarm-state-change.json": ("eventbridge_alarm", {DEMO_GROUP_WITH_FAILURES: "deleted"}),
    "eventbridge-scheduled-no-version.json": (
        "eventbridge_scheduled",
        {DEMO_GROUP_WITH_FAILURES: "deleted", DEMO_GROUP_CLEAN: "nothing_to_delete"},
    ),
    "eventbridge-scheduler-default.json": (
        "eventbridge_scheduled",
        {DEMO_GROUP_WITH_FAILURES: "deleted", DEMO_GROUP_CLEAN: "nothing_to_delete"},
    ),
    "scheduler-input-with-context.json": (
        "direct",
        {DEMO_GROUP_WITH_FAILURES: "deleted", DEMO_GROUP_CLEAN: "nothing_to_delete"},
    ),
    # A sweep: every group of the project (1210 failed tasks in all, under the brake's 2000).
    "direct-sweep.json": (
        "direct",
        {
            DEMO_GROUP_WITH_FAILURES: "deleted",
            DEMO_GROUP_CLEAN: "nothing_to_delete",
            DEMO_GROUP_MANY_FAILURES: "deleted",
            DEMO_GROUP_UNTOUCHED: "deleted",
        },
    ),
}
SWEEPS = {"direct-sweep.json"}

# SQS batches answer with one result per record instead: event file -> per record, in order,
# (message id, dry run, {group: expected outcome}, error type or None).
SQS_RECORD_IDS = (
    "2e1424d4-f796-459a-8184-9c92662be6da",
    "7a3f9c21-0b4e-4d8a-9f61-3c5e2b7d8a10",
    "c80e8021-a70a-42c7-a470-796e1186f753",
)
EXPECTED_SQS: dict[str, list[tuple[str, bool, dict[str, str], str | None]]] = {
    "sqs-batch.json": [
        (SQS_RECORD_IDS[0], False, {DEMO_GROUP_WITH_FAILURES: "deleted"}, None),
        (SQS_RECORD_IDS[1], True, {DEMO_GROUP_CLEAN: "nothing_to_delete"}, None),
        (SQS_RECORD_IDS[2], False, {}, "invalid_event"),  # a path-traversal id: reported, not sent back
    ],
    "sqs-sns-envelope.json": [  # SNS envelopes (raw delivery off): a direct request, then an alarm
        ("79406a00-bf15-46ca-978c-22c3613fcb30", False, {DEMO_GROUP_WITH_FAILURES: "deleted"}, None),
        ("2e1424d4-f796-459a-8184-9c92662be6da", False, {DEMO_GROUP_CLEAN: "nothing_to_delete"}, None),
    ],
    "sqs-sns-envelope-fifo.json": [
        ("69bc4bbd-ed69-4325-a434-85c3b428ceab", False, {DEMO_GROUP_WITH_FAILURES: "deleted"}, None),
    ],
    "sqs-raw-alarm.json": [  # an alarm as the body (raw delivery on)
        ("059f36b4-87a3-44ab-83d2-661975830a7d", False, {DEMO_GROUP_CLEAN: "nothing_to_delete"}, None),
    ],
}


def test_every_valid_sample_event_has_an_expectation() -> None:
    assert sorted(p.name for p in EVENTS.glob("*.json")) == sorted(EXPECTED | EXPECTED_SQS)


@pytest.fixture
def emulator() -> Iterator[SdrsEmulator]:
    with SdrsEmulator(demo_state()) as running:
        yield running


def _clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SDRS_", "HUAWEICLOUD_", "POWERTOOLS_"))}
    return {**env, **overrides}


def _run(*args: str, env: dict[str, str], emulator: SdrsEmulator | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=60, check=False)
    if emulator is not None:  # it records a request once it has answered it: wait for the last record
        give_up = time.monotonic() + 5
        while emulator.state.in_flight and time.monotonic() < give_up:
            time.sleep(0.002)
    return done


def _counts(state: EmulatorState) -> dict[str, int]:
    return {gid: len(jobs) for gid, jobs in state.projects[DEMO_PROJECT_ID].items()}


@pytest.mark.parametrize("event_file", sorted(EXPECTED))
def test_cli_against_emulator(emulator: SdrsEmulator, event_file: str) -> None:
    trigger, expected_outcomes = EXPECTED[event_file]
    before = _counts(emulator.state)
    env = _clean_env(**emulator.environment(), SDRS_SERVER_GROUP_IDS=SCHEDULED_GROUPS)

    done = _run("invoke", str(EVENTS / event_file), env=env, emulator=emulator)

    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["ok"] is True
    assert result["trigger"] == trigger
    assert {g["server_group_id"]: g["outcome"] for g in result["groups"]} == expected_outcomes
    after = _counts(emulator.state)
    for group_id, count in before.items():
        outcome = expected_outcomes.get(group_id)
        assert after[group_id] == (0 if outcome == "deleted" else count), group_id
    for group in result["groups"]:
        assert len(group["failure_jobs"]) == before[group["server_group_id"]]
        assert group["attempts"] == (1 if group["outcome"] == "deleted" else 0)
        assert group["request_id"]
    calls = emulator.state.calls()
    assert all(call.status != 401 for call in calls), "every request must pass the emulator's signature check"
    assert not emulator.state.calls("delete_all_failure_jobs")
    deletes = {call.path.split("/")[4] for call in emulator.state.calls("delete_group_failure_jobs")}
    assert deletes == {gid for gid, outcome in expected_outcomes.items() if outcome == "deleted"}
    listings = emulator.state.calls("list_server_groups")
    assert len(listings) == (1 if event_file in SWEEPS else 0)
    if not expected_outcomes:
        assert calls == []
    assert "sdrs-cleanup: ok" in done.stderr
    assert result["summary"]["groups_found"] == len(expected_outcomes)
    assert result["summary"]["failed_tasks_deleted"] == sum(
        before[gid] for gid, outcome in expected_outcomes.items() if outcome == "deleted"
    )


@pytest.mark.parametrize("event_file", sorted(EXPECTED_SQS))
def test_cli_sqs_batch_against_emulator(emulator: SdrsEmulator, event_file: str) -> None:
    expected_records = EXPECTED_SQS[event_file]
    before = _counts(emulator.state)
    done = _run("invoke", str(EVENTS / event_file), env=_clean_env(**emulator.environment()), emulator=emulator)

    result: dict[str, Any] = json.loads(done.stdout)
    invalid = any(error is not None for *_, error in expected_records)
    assert done.returncode == (1 if invalid else 0), done.stderr
    assert result["ok"] is not invalid
    assert result["trigger"] == "sqs"
    assert result["batchItemFailures"] == []  # an invalid body can never succeed: not redelivered
    assert [r["message_id"] for r in result["records"]] == [message_id for message_id, *_ in expected_records]
    deleted: set[str] = set()
    for record, (_, dry_run, outcomes, error) in zip(result["records"], expected_records, strict=True):
        assert record["trigger"] == "sqs"
        assert record["dry_run"] is dry_run
        assert {g["server_group_id"]: g["outcome"] for g in record["groups"]} == outcomes
        assert (record["error"] or {}).get("type") == error
        assert record["ok"] is (error is None)
        deleted |= {gid for gid, outcome in outcomes.items() if outcome == "deleted"}
    after = _counts(emulator.state)
    assert after == {gid: 0 if gid in deleted else count for gid, count in before.items()}
    assert {c.path.split("/")[4] for c in emulator.state.calls("delete_group_failure_jobs")} == deleted
    audited = [c.query for c in emulator.state.calls("list_failure_jobs")]
    named = {gid for _, _, outcomes, _ in expected_records for gid in outcomes}
    assert len(audited) == len(named)  # one listing per named group; none for the invalid record
    assert all(call.status != 401 for call in emulator.state.calls())
    assert not emulator.state.calls("delete_all_failure_jobs")
    assert f"SQS batch of {len(expected_records)} record(s), 0 sent back" in done.stderr


def test_sqs_record_failing_transiently_is_sent_back(emulator: SdrsEmulator) -> None:
    from handler.local.emulator import Fault

    emulator.state.inject("delete_group_failure_jobs", Fault(503, b"<html>busy</html>"))
    env = _clean_env(**emulator.environment(), SDRS_MAX_ATTEMPTS="1")
    done = _run("invoke", str(EVENTS / "sqs-batch.json"), env=env, emulator=emulator)
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["batchItemFailures"] == [{"itemIdentifier": SQS_RECORD_IDS[0]}]
    first = result["records"][0]
    assert [(g["outcome"], g["status_code"], g["error"]["retryable"]) for g in first["groups"]] == [
        ("failed", 503, True)
    ]
    assert emulator.state.failure_jobs(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES)  # still there for the retry
    assert "SQS batch of 3 record(s), 1 sent back" in done.stderr


def test_paging_over_loopback_fetches_every_failed_task(emulator: SdrsEmulator) -> None:
    event = EVENTS / "direct-several-groups.json"
    done = _run("invoke", str(event), env=_clean_env(**emulator.environment()), emulator=emulator)
    result = json.loads(done.stdout)
    many = next(g for g in result["groups"] if g["server_group_id"] == DEMO_GROUP_MANY_FAILURES)
    assert len(many["failure_jobs"]) == 1205
    assert len({job["job_id"] for job in many["failure_jobs"]}) == 1205
    offsets = [c.query for c in emulator.state.calls("list_failure_jobs") if DEMO_GROUP_MANY_FAILURES in c.query]
    assert [q.split("offset=")[1].split("&")[0] for q in offsets] == ["0", "1000"]


def test_dry_run_flag_deletes_nothing(emulator: SdrsEmulator) -> None:
    before = _counts(emulator.state)
    done = _run(
        "invoke",
        str(EVENTS / "direct-several-groups.json"),
        "--dry-run",
        env=_clean_env(**emulator.environment()),
        emulator=emulator,
    )
    result = json.loads(done.stdout)
    assert done.returncode == 0
    assert result["dry_run"] is True
    assert [g["outcome"] for g in result["groups"]] == ["would_delete", "nothing_to_delete", "would_delete"]
    assert _counts(emulator.state) == before
    assert emulator.state.calls("delete_group_failure_jobs") == []


def test_wrong_secret_key_is_sent_once_and_never_again(emulator: SdrsEmulator) -> None:
    # Groups are audited concurrently, but credentials the API has not accepted yet are tried
    # by one request alone: the 401 comes back before any other request is signed with them.
    env = _clean_env(**{**emulator.environment(), "HUAWEICLOUD_SDK_SK": "not-the-right-secret"})
    done = _run("invoke", str(EVENTS / "direct-several-groups.json"), env=env, emulator=emulator)
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert {g["outcome"] for g in result["groups"]} == {"failed"}
    errors = sorted((g["error"]["code"], g["error"]["retryable"], g["status_code"]) for g in result["groups"])
    assert errors == [
        ("APIGW.0301", False, 401),
        ("Credentials.Rejected", False, None),
        ("Credentials.Rejected", False, None),
    ]
    assert len(emulator.state.calls()) == 1  # one bad signature, no retry, nothing else sent with that key
    assert "not-the-right-secret" not in done.stdout + done.stderr
    assert _counts(emulator.state) == _counts(demo_state())


def test_transient_failure_of_an_async_trigger_is_raised_and_shown(emulator: SdrsEmulator) -> None:
    from handler.local.emulator import Fault

    emulator.state.inject("delete_group_failure_jobs", *[Fault(503, b"<html>busy</html>")] * 2)
    env = _clean_env(**emulator.environment(), SDRS_MAX_ATTEMPTS="2")
    done = _run("invoke", str(EVENTS / "eventbridge-custom.json"), env=env, emulator=emulator)
    assert done.returncode == 1
    result = json.loads(done.stdout)
    (group,) = result["groups"]
    assert (group["outcome"], group["attempts"], group["status_code"]) == ("failed", 2, 503)
    assert group["error"]["retryable"] is True
    assert "raised on Lambda" in done.stderr
    assert emulator.state.failure_jobs(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES)  # nothing deleted


def test_embedded_emulator_mode_runs_on_a_fresh_environment() -> None:
    done = _run("invoke", str(EVENTS / "sns-alarm.json"), "--emulator", env=_clean_env())
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [(g["server_group_id"], g["outcome"], len(g["failure_jobs"])) for g in result["groups"]] == [
        (DEMO_GROUP_WITH_FAILURES, "deleted", 3)
    ]
    untouched = sum(n for gid, n in _counts(demo_state()).items() if gid != DEMO_GROUP_WITH_FAILURES)
    assert f"emulator afterwards: {untouched} failed task(s) left" in done.stderr
    assert DEMO_GROUP_UNTOUCHED in _counts(demo_state())


def test_without_emulator_or_configuration_it_says_what_is_missing() -> None:
    done = _run("invoke", str(EVENTS / "direct.json"), env=_clean_env())
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["error"]["type"] == "configuration"
    assert "HUAWEICLOUD_SDK_AK" in result["error"]["message"]
    assert "HUAWEICLOUD_SDK_AK" in done.stderr


def test_invalid_event_file_exits_1_with_the_reason(tmp_path: Path) -> None:
    done = _run("invoke", str(EVENTS / "invalid" / "path-traversal-id.json"), "--emulator", env=_clean_env())
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["error"]["type"] == "invalid_event"
    assert "server_group_id" in result["error"]["message"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["invoke", "/nonexistent/event.json"], "cannot read"),
        (["invoke", "{not-json}"], "cannot read"),
        (["invoke"], "EVENT_FILE"),
        (["explode"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    done = _run(*args, env=_clean_env())
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


def test_non_json_event_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "event.json"
    bad.write_text("server_group_id=decf224d")
    done = _run("invoke", str(bad), env=_clean_env())
    assert done.returncode == 2
    assert "is not JSON" in done.stderr


FUNCTIONGRAPH_EVENTS = EVENTS / "functiongraph"
# FunctionGraph sample -> (trigger, {group: outcome}), with SDRS_SERVER_GROUP_IDS left to the CLI's default.
FUNCTIONGRAPH_EXPECTED: dict[str, tuple[str, dict[str, str]]] = {
    "timer.json": (
        "functiongraph_timer",
        {DEMO_GROUP_WITH_FAILURES: "deleted", DEMO_GROUP_CLEAN: "nothing_to_delete"},
    ),
    "timer-request.json": ("functiongraph_timer", {DEMO_GROUP_WITH_FAILURES: "deleted"}),
    "smn-direct.json": ("functiongraph_smn", {DEMO_GROUP_WITH_FAILURES: "deleted"}),
    "smn-cloudeye-alarm.json": ("functiongraph_smn", {DEMO_GROUP_WITH_FAILURES: "deleted"}),
    "direct.json": ("direct", {DEMO_GROUP_WITH_FAILURES: "deleted"}),
}


def test_every_functiongraph_sample_has_an_expectation() -> None:
    assert {path.name for path in FUNCTIONGRAPH_EVENTS.glob("*.json")} == set(FUNCTIONGRAPH_EXPECTED)


@pytest.mark.parametrize("event_file", sorted(FUNCTIONGRAPH_EXPECTED))
def test_functiongraph_platform_with_the_embedded_emulator_and_no_static_keys(event_file: str) -> None:
    """`invoke --platform functiongraph --emulator`: the emulator issues temporary credentials, the
    local context lends them as an agency; static keys in the caller's environment are dropped."""
    env = {**_clean_env(), "HUAWEICLOUD_SDK_AK": "STATIC-AK-NOT-KNOWN", "HUAWEICLOUD_SDK_SK": "static-sk"}
    done = _run("invoke", "--platform", "functiongraph", str(FUNCTIONGRAPH_EVENTS / event_file), "--emulator", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    trigger, expected = FUNCTIONGRAPH_EXPECTED[event_file]
    assert result["trigger"] == trigger
    assert {g["server_group_id"]: g["outcome"] for g in result["groups"]} == expected
    assert all(g["status_code"] in (200, 204) for g in result["groups"])


def test_functiongraph_platform_refuses_a_hostile_timer_user_event(tmp_path: Path) -> None:
    event = tmp_path / "timer.json"
    event.write_text(json.dumps({"trigger_type": "TIMER", "user_event": '{"server_group_id": "../x"}'}))
    done = _run("invoke", "--platform", "functiongraph", str(event), "--emulator", env=_clean_env())
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["type"] == "invalid_event"
    assert "emulator afterwards: 1210 failed task(s) left" in done.stderr

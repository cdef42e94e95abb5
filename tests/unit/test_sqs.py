"""SQS batches: each record's body is a direct request; the answer is the partial batch
response (`batchItemFailures`) plus every record's result, in order.

A record goes back to the queue (is listed in batchItemFailures) when a retry may do what
this delivery could not: transient failures, deferred groups, a configuration problem. A
record that can never succeed (an invalid body, a permanent API error) is reported, not
redelivered. Expectations come from the records and the fake API's answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import respx

from handler.app import lambda_handler
from handler.core import Runtime
from tests.conftest import ManualClock
from tests.event_model import sqs_event, sqs_message_id
from tests.fake_sdrs import (
    GROUP_CLEAN,
    GROUP_MANY_FAILURES,
    GROUP_SCHEDULED,
    GROUP_WITH_FAILURES,
    PROJECT_ID,
    SWEEP_PROJECT_ID,
    FakeSdrs,
    sweep_group_ids,
)
from tests.helpers import change_env

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
RECORD_KEYS = {"message_id", "ok", "trigger", "dry_run", "groups", "error", "summary"}
UNAVAILABLE = {"error_code": "APIGW.0202", "error_msg": "The API is unavailable", "request_id": "x"}
SDRS_1013 = {"error": {"code": "SDRS.1013", "message": "The protection group is in an invalid state"}}
MAX_ATTEMPTS = 3


@pytest.fixture
def env(sdrs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> pytest.MonkeyPatch:
    monkeypatch.setenv("SDRS_MAX_ATTEMPTS", str(MAX_ATTEMPTS))
    return monkeypatch


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def check_response_shape(response: dict[str, Any], records: int) -> None:
    assert set(response) == {"batchItemFailures", "ok", "trigger", "records"}
    assert response["trigger"] == "sqs"
    assert [r["message_id"] for r in response["records"]] == [sqs_message_id(i) for i in range(records)]
    for record in response["records"]:
        assert set(record) == RECORD_KEYS
        assert record["trigger"] == "sqs"
    assert response["ok"] is all(r["ok"] for r in response["records"])


def outcomes(record: dict[str, Any]) -> list[tuple[str, str]]:
    return [(g["server_group_id"], g["outcome"]) for g in record["groups"]]


# --- a mixed batch ----------------------------------------------------------------------------

A, B, C, D = GROUP_WITH_FAILURES, GROUP_SCHEDULED, GROUP_MANY_FAILURES, GROUP_CLEAN


def test_mixed_batch(
    runtime: Runtime,
    handler_clock: ManualClock,
    env: pytest.MonkeyPatch,
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
    sleeps: list[float],
) -> None:
    """Six records, handled in order, sharing one deadline:
    0 cleans A; 1 is not valid; 2's DELETE answers 503 until the attempts run out; 3's
    DELETE is refused for good (SDRS.1013); 4 and 5 (a sweep) come after the clock jumped
    to 2 s before the deadline, too late to start any group (the margins are set: explicit
    margins win over the budget judged from call times)."""
    env.setenv("SDRS_GROUP_START_MARGIN_SECONDS", "5")
    env.setenv("SDRS_DEADLINE_MARGIN_SECONDS", "2")
    clock = handler_clock
    lambda_context.remaining_millis = 60_000  # deadline at 58 s on the manual clock
    sweep_ids = sweep_group_ids(2, "sqs")
    fake_sdrs.add_project(SWEEP_PROJECT_ID, dict.fromkeys(sweep_ids, 1))
    jobs = {g: fake_sdrs.failure_jobs(PROJECT_ID, g) for g in (A, B, C)}
    fake_sdrs.fail("DELETE", 503, body=UNAVAILABLE, server_group_id=B)
    fake_sdrs.fail("DELETE", 400, body=SDRS_1013, server_group_id=C)

    def jump_after_c(request: Any) -> None:
        if request.method == "DELETE" and C in request.url.path:
            clock.advance(56.0)

    fake_sdrs.on_request = jump_after_c
    event = sqs_event(
        {"server_group_id": A},
        {"server_group_id": "../../failure-jobs/batch"},
        {"server_group_id": B, "project_id": PROJECT_ID},
        {"server_group_ids": [C]},
        {"server_group_id": D, "dry_run": True},
        {"all_server_groups": True, "project_id": SWEEP_PROJECT_ID},
    )

    response = lambda_handler(event, lambda_context, runtime=runtime)  # never raises

    check_response_shape(response, 6)
    assert failures(response) == [sqs_message_id(2), sqs_message_id(4), sqs_message_id(5)]
    assert response["ok"] is False
    r0, r1, r2, r3, r4, r5 = response["records"]

    assert (r0["ok"], r0["error"], outcomes(r0)) == (True, None, [(A, "deleted")])
    assert r0["groups"][0]["failure_jobs"] == jobs[A]
    assert fake_sdrs.failure_jobs(PROJECT_ID, A) == []

    assert (r1["ok"], r1["groups"], r1["error"]["type"], r1["error"]["retryable"]) == (
        False,
        [],
        "invalid_event",
        False,
    )
    assert "body.server_group_id" in r1["error"]["message"]

    (b,) = r2["groups"]
    assert (b["server_group_id"], b["outcome"], b["status_code"], b["attempts"]) == (B, "failed", 503, MAX_ATTEMPTS)
    assert (b["error"]["code"], b["error"]["retryable"]) == ("APIGW.0202", True)
    assert len(fake_sdrs.calls("DELETE", B)) == MAX_ATTEMPTS
    assert len(sleeps) == MAX_ATTEMPTS - 1
    assert fake_sdrs.failure_jobs(PROJECT_ID, B) == jobs[B]

    (c,) = r3["groups"]
    assert (c["server_group_id"], c["outcome"], c["attempts"]) == (C, "failed", 1)
    assert (c["error"]["code"], c["error"]["retryable"]) == ("SDRS.1013", False)
    assert r3["error"]["type"] == "group_failures"
    assert fake_sdrs.failure_jobs(PROJECT_ID, C) == jobs[C]

    (d,) = r4["groups"]
    assert (d["server_group_id"], d["outcome"], r4["dry_run"]) == (D, "deferred", True)
    assert (d["error"]["code"], d["error"]["retryable"]) == ("Deadline.Deferred", True)
    assert fake_sdrs.calls(server_group_id=D) == []

    assert outcomes(r5) == [(g, "deferred") for g in sorted(sweep_ids)]
    assert (r5["error"]["type"], r5["error"]["retryable"]) == ("deadline", True)
    assert [r.kind for r in fake_sdrs.calls() if SWEEP_PROJECT_ID in r.path] == ["server_groups"]

    assert [r["summary"]["groups_found"] for r in response["records"]] == [1, 0, 1, 1, 1, 2]
    assert fake_sdrs.project_wide_deletes == []


def test_all_records_successful(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    bodies: list[dict[str, Any]] = [
        {"server_group_id": A},
        {"server_group_ids": [B, D], "dry_run": True},
        {"server_group_id": C, "project_id": PROJECT_ID, "max_failed_tasks": 1205},
    ]
    jobs = {g: fake_sdrs.failure_jobs(PROJECT_ID, g) for g in (A, B, C, D)}

    response = lambda_handler(sqs_event(*bodies), lambda_context, runtime=runtime)

    check_response_shape(response, 3)
    assert response["batchItemFailures"] == []
    assert response["ok"] is True
    # per record: the (project, group) pairs its body names, in order, and its dry run
    expected = [([(PROJECT_ID, A)], False), ([(PROJECT_ID, B), (PROJECT_ID, D)], True), ([(PROJECT_ID, C)], False)]
    for record, (targets, dry_run) in zip(response["records"], expected, strict=True):
        assert [(g["project_id"], g["server_group_id"]) for g in record["groups"]] == targets
        assert record["dry_run"] is dry_run
        assert record["error"] is None
    assert [outcomes(r) for r in response["records"]] == [
        [(A, "deleted")],
        [(B, "would_delete"), (D, "nothing_to_delete")],
        [(C, "deleted")],
    ]
    assert response["records"][2]["summary"]["failed_tasks_deleted"] == len(jobs[C]) == 1205
    assert sorted(r.server_group_id or "" for r in fake_sdrs.calls("DELETE")) == sorted([A, C])
    assert fake_sdrs.failure_jobs(PROJECT_ID, B) == jobs[B]


def test_every_record_failing_transiently_is_redelivered_without_raising(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    """raise_on_entire_batch_failure is off: the whole batch is listed, nothing raises."""
    fake_sdrs.fail("GET", 503, body=UNAVAILABLE)
    event = sqs_event({"server_group_id": A}, {"server_group_ids": [B, C]}, {"all_server_groups": True})

    response = lambda_handler(event, lambda_context, runtime=runtime)

    check_response_shape(response, 3)
    assert failures(response) == [sqs_message_id(i) for i in range(3)]
    assert response["ok"] is False
    r0, r1, r2 = response["records"]
    assert [(g["outcome"], g["error"]["retryable"]) for g in r0["groups"] + r1["groups"]] == [("failed", True)] * 3
    assert (r2["error"]["type"], r2["error"]["retryable"]) == ("discovery_failed", True)
    assert fake_sdrs.calls("DELETE") == []
    assert len(fake_sdrs.calls("GET")) == 4 * MAX_ATTEMPTS  # three groups and one listing


def test_a_sweep_record_with_a_brake_tripped_is_not_redelivered(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    """Held groups would be held again: no point in redelivering."""
    ids = sweep_group_ids(3, "held")
    fake_sdrs.add_project(SWEEP_PROJECT_ID, dict(zip(ids, [2, 2, 2], strict=True)))
    event = sqs_event({"all_server_groups": True, "project_id": SWEEP_PROJECT_ID, "max_failed_tasks": 5})
    response = lambda_handler(event, lambda_context, runtime=runtime)
    check_response_shape(response, 1)
    assert response["batchItemFailures"] == []
    (record,) = response["records"]
    assert record["error"]["type"] == "safety_brake"
    assert outcomes(record) == [(g, "held") for g in sorted(ids)]
    assert fake_sdrs.calls("DELETE") == []


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        pytest.param(
            {"HUAWEICLOUD_SDK_AK": None, "HUAWEICLOUD_SDK_SK": None}, "HUAWEICLOUD_SDK_AK", id="no-credentials"
        ),
        pytest.param({"SDRS_REGION": None}, "SDRS_REGION", id="no-endpoint"),
        pytest.param({"SDRS_REGION": "CN-NORTH-4"}, "SDRS_REGION", id="bad-region"),
        pytest.param({"HUAWEICLOUD_SDK_PROJECT_ID": None}, "HUAWEICLOUD_SDK_PROJECT_ID", id="no-default-project"),
    ],
)
def test_configuration_problem_redelivers_every_record(
    runtime: Runtime,
    change: dict[str, str | None],
    fragment: str,
    env: pytest.MonkeyPatch,
    sdrs_api: respx.Router,
    lambda_context: Any,
) -> None:
    """Fixing the configuration fixes the record: it must go back to the queue, not be lost."""
    change_env(env, change)
    event = sqs_event({"server_group_id": A}, {"all_server_groups": True}, {"server_group_ids": [B, C]})

    response = lambda_handler(event, lambda_context, runtime=runtime)

    check_response_shape(response, 3)
    assert failures(response) == [sqs_message_id(i) for i in range(3)]
    assert response["ok"] is False
    for record in response["records"]:
        assert (record["error"]["type"], record["groups"]) == ("configuration", [])
        assert fragment in record["error"]["message"]
    assert sdrs_api.calls.call_count == 0


# --- malformed batches -------------------------------------------------------------------------


def _record(**fields: Any) -> dict[str, Any]:
    record = sqs_event({"server_group_id": A})["Records"][0]
    for name, value in fields.items():
        if value is None:
            del record[name]
        else:
            record[name] = value
    return record


@pytest.mark.parametrize(
    ("records", "fragment"),
    [
        pytest.param([_record(messageId=None)], "messageId", id="no-message-id"),
        pytest.param([_record(body=None)], "body", id="no-body"),
        pytest.param([_record(messageId="")], "messageId", id="empty-message-id"),
        pytest.param([_record(body={"server_group_id": A})], "body", id="body-not-a-string"),
        pytest.param([_record(), _record(eventSource="aws:sns")], "eventSource", id="second-record-not-sqs"),
        pytest.param([_record(), _record(messageId=None)], "Records.1.messageId", id="second-record-no-id"),
    ],
)
def test_malformed_envelope_is_refused_whole(
    runtime: Runtime,
    records: list[dict[str, Any]],
    fragment: str,
    env: pytest.MonkeyPatch,
    sdrs_api: respx.Router,
    lambda_context: Any,
) -> None:
    response = lambda_handler({"Records": records}, lambda_context, runtime=runtime)
    assert response["batchItemFailures"] == []
    assert (response["ok"], response["trigger"], response["groups"]) == (False, "sqs", [])
    assert (response["error"]["type"], response["error"]["retryable"]) == ("invalid_event", False)
    assert fragment in response["error"]["message"], response["error"]["message"]
    assert sdrs_api.calls.call_count == 0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param("not json", "body is not JSON", id="not-json"),
        pytest.param(json.dumps([A]), "JSON object", id="json-list"),
        pytest.param(json.dumps({"server_group_id": A, "force": True}), "body.force", id="unknown-field"),
        pytest.param(json.dumps({"all_server_groups": False}), "all_server_groups", id="sweep-false"),
        pytest.param(json.dumps({"server_group_id": A, "max_failed_tasks": -1}), "max_failed_tasks", id="limit"),
        pytest.param("x" * (256 * 1024 + 1), "262144", id="oversized"),
    ],
)
def test_invalid_body_is_reported_not_redelivered(
    runtime: Runtime, body: str, fragment: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    response = lambda_handler(sqs_event(body, {"server_group_id": A}), lambda_context, runtime=runtime)
    check_response_shape(response, 2)
    assert response["batchItemFailures"] == []
    bad, good = response["records"]
    assert (bad["error"]["type"], bad["groups"]) == ("invalid_event", [])
    assert fragment in bad["error"]["message"], bad["error"]["message"]
    assert outcomes(good) == [(A, "deleted")]  # the next record is not held up
    assert [r.server_group_id for r in fake_sdrs.requests] == [A, A]


def test_forced_dry_run_applies_to_every_record(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    env.setenv("SDRS_DRY_RUN", "true")
    response = lambda_handler(
        sqs_event({"server_group_id": A}, {"all_server_groups": True}), lambda_context, runtime=runtime
    )
    check_response_shape(response, 2)
    assert response["batchItemFailures"] == []
    assert [r["dry_run"] for r in response["records"]] == [True, True]
    assert {g["outcome"] for r in response["records"] for g in r["groups"]} <= {"would_delete", "nothing_to_delete"}
    assert fake_sdrs.calls("DELETE") == []


# --- the sample --------------------------------------------------------------------------------


def test_sample_batch(runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any) -> None:
    """events/sqs-batch.json: valid records are cleaned as their bodies say; a body naming
    something that is not a group id is reported invalid; nothing needs redelivery."""
    event = json.loads((EVENTS_DIR / "sqs-batch.json").read_text())
    records = event["Records"]
    # message id -> (targets, dry_run) its body asks for, or None for the invalid body
    expected: dict[str, tuple[list[tuple[str, str]], bool] | None] = {
        "2e1424d4-f796-459a-8184-9c92662be6da": ([(PROJECT_ID, GROUP_WITH_FAILURES)], False),
        "7a3f9c21-0b4e-4d8a-9f61-3c5e2b7d8a10": ([(PROJECT_ID, GROUP_CLEAN)], True),
        "c80e8021-a70a-42c7-a470-796e1186f753": None,  # "server_group_id": "../../failure-jobs/batch"
    }
    assert [r["messageId"] for r in records] == list(expected)
    before = {t: fake_sdrs.failure_jobs(*t) for want in expected.values() if want for t in want[0]}
    assert before[(PROJECT_ID, GROUP_WITH_FAILURES)], "the sample should name a group with failed tasks"

    response = lambda_handler(event, lambda_context, runtime=runtime)

    assert response["batchItemFailures"] == []
    assert response["ok"] is False
    assert [r["message_id"] for r in response["records"]] == [r["messageId"] for r in records]
    for record in response["records"]:
        want = expected[record["message_id"]]
        if want is None:
            assert (record["ok"], record["error"]["type"], record["groups"]) == (False, "invalid_event", [])
            continue
        targets, dry_run = want
        assert (record["ok"], record["error"], record["dry_run"]) == (True, None, dry_run)
        assert [(g["project_id"], g["server_group_id"]) for g in record["groups"]] == targets
        for group in record["groups"]:
            jobs = before[(group["project_id"], group["server_group_id"])]
            assert group["failure_jobs"] == jobs
            done = "would_delete" if dry_run else "deleted"
            assert group["outcome"] == (done if jobs else "nothing_to_delete")

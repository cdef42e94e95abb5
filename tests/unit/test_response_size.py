"""A response over Lambda's 6 MB limit would fail the invocation after the deletes were done:
such a response drops the task lists (the audit record is in the logs) and says so."""

import io
import json
import logging
from typing import Any

from handler.core import MAX_RESPONSE_BYTES, fit_response
from handler.models import GroupResult, InvocationResult, Outcome
from handler.observability import logger

GROUP_IDS = [f"{n:08x}-87fe-403a-8721-037a1a45c287" for n in range(6)]


def _result(tasks_per_group: int, reason_bytes: int) -> dict[str, Any]:
    groups = [
        GroupResult(
            "0123456789abcdef0123456789abcdef",
            gid,
            Outcome.DELETED,
            failure_jobs=[{"job_id": f"{gid}-{n}", "fail_reason": "x" * reason_bytes} for n in range(tasks_per_group)],
            status_code=204,
            attempts=1,
        )
        for gid in GROUP_IDS
    ]
    return InvocationResult("direct", groups=groups).to_dict()


def test_small_response_is_untouched() -> None:
    payload = _result(tasks_per_group=3, reason_bytes=50)
    assert fit_response(json.loads(json.dumps(payload))) == payload


def test_many_tasks_under_the_limit_are_kept() -> None:
    payload = _result(tasks_per_group=1000, reason_bytes=100)  # 6,000 tasks, about 1 MB
    fitted = fit_response(json.loads(json.dumps(payload)))
    assert fitted == payload
    assert "failure_jobs_omitted" not in fitted


def test_oversized_response_drops_the_lists_and_keeps_the_counts() -> None:
    payload = _result(tasks_per_group=2000, reason_bytes=600)  # 12,000 tasks, about 8 MB
    assert len(json.dumps(payload)) > MAX_RESPONSE_BYTES
    fitted = fit_response(payload)
    assert len(json.dumps(fitted)) < MAX_RESPONSE_BYTES
    assert [g["failure_jobs"] for g in fitted["groups"]] == [[]] * len(GROUP_IDS)
    assert [g["failure_jobs_count"] for g in fitted["groups"]] == [2000] * len(GROUP_IDS)
    assert fitted["summary"]["failed_tasks_deleted"] == 12_000
    assert "logs" in fitted["failure_jobs_omitted"]


def test_oversized_sqs_response_keeps_batch_item_failures() -> None:
    record = _result(tasks_per_group=2000, reason_bytes=600)
    payload = {
        "batchItemFailures": [{"itemIdentifier": "m-2"}],
        "ok": False,
        "trigger": "sqs",
        "records": [{"message_id": "m-1", **record}, {"message_id": "m-2", **_result(1, 10)}],
    }
    fitted = fit_response(payload)
    assert len(json.dumps(fitted)) < MAX_RESPONSE_BYTES
    assert fitted["batchItemFailures"] == [{"itemIdentifier": "m-2"}]
    assert [g["failure_jobs_count"] for g in fitted["records"][0]["groups"]] == [2000] * len(GROUP_IDS)


def test_a_few_very_large_tasks_are_measured_and_trimmed_end_to_end(
    sdrs_env: dict[str, str], fake_sdrs: Any, lambda_context: Any
) -> None:
    """Six failed tasks of 1 MB each (a long fail_reason): far fewer tasks than any count-based
    guard would look at, yet 6 MB of response. Trimmed, measured again, and every task is in
    the audit log."""
    from handler.app import lambda_handler
    from tests.fake_sdrs import GROUP_WITH_FAILURES, PROJECT_ID

    jobs = [{**job, "fail_reason": "é" * 500_000} for job in fake_sdrs.failure_jobs(PROJECT_ID, GROUP_WITH_FAILURES)]
    jobs += [{**jobs[0], "job_id": f"{n:032x}"} for n in range(3)]
    fake_sdrs.jobs[PROJECT_ID, GROUP_WITH_FAILURES] = jobs

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        result = lambda_handler({"server_group_id": GROUP_WITH_FAILURES}, lambda_context)
    finally:
        handler.setStream(previous)

    assert len(json.dumps(result)) < MAX_RESPONSE_BYTES
    [group] = result["groups"]
    assert (group["outcome"], group["failure_jobs"], group["failure_jobs_count"]) == ("deleted", [], 6)
    assert "failure_jobs_omitted" in result
    logged = [json.loads(line) for line in stream.getvalue().splitlines()]
    audit = [line["failure_job"]["job_id"] for line in logged if line["message"] == "audit: failed task found"]
    assert sorted(audit) == sorted(job["job_id"] for job in jobs)


def test_a_light_result_is_not_measured() -> None:
    """The running size says it fits: no json.dumps of the result (a payload that cannot be
    serialised proves it was not tried)."""
    payload = _result(tasks_per_group=3, reason_bytes=50)
    payload["unserialisable"] = object()
    assert fit_response(payload, listed_bytes=10_000) is payload


def test_a_heavy_running_size_is_measured_exactly() -> None:
    payload = _result(tasks_per_group=1000, reason_bytes=100)  # about 1 MB: fits
    assert fit_response(payload, listed_bytes=2_000_000) == payload  # the bound says maybe not: measured
    big = _result(tasks_per_group=2000, reason_bytes=600)
    assert "failure_jobs_omitted" in fit_response(big, listed_bytes=7_000_000)

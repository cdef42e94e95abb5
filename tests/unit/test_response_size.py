"""A response over Lambda's 6 MB limit would fail the invocation after the deletes were done:
such a response drops the task lists (the audit record is in the logs) and says so."""

import json
from typing import Any

from handler.core import MAX_RESPONSE_BYTES, fit_response
from handler.models import GroupResult, InvocationResult, Outcome

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

"""What a failing SDRS API does to the result: permanent errors are reported and never
raised; transient errors that outlast the retries raise TransientFailure for asynchronous
triggers (so Lambda retries the event) and are reported as retryable otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from handler.app import TransientFailure, lambda_handler
from handler.core import Runtime
from tests.event_model import alarm_message, eventbridge_event, scheduled_event, sns_event
from tests.fake_sdrs import (
    GROUP_SCHEDULED,
    GROUP_WITH_FAILURES,
    PROJECT_ID,
    FakeSdrs,
    group_delete_path,
    list_path,
)

G = GROUP_WITH_FAILURES
SDRS_1013 = {
    "error": {"code": "SDRS.1013", "message": "The protection group is in an invalid state for this operation"}
}
FORBIDDEN = {
    "error_code": "SDRS.0403",
    "error_msg": "Policy doesn't allow sdrs:task:list to be performed.",
    "request_id": "ignored-in-favour-of-the-header",
}
UNAVAILABLE = {"error_code": "APIGW.0202", "error_msg": "The API is unavailable", "request_id": "x"}

# One event per trigger, each naming group G only, and whether it is asynchronous.
TRIGGERS = [
    pytest.param({"server_group_id": G}, False, id="direct"),
    pytest.param({"server_group_id": G, "raise_on_transient_failure": True}, True, id="scheduler-input"),
    pytest.param({"server_group_ids": [G], "raise_on_transient_failure": False}, False, id="direct-flag-false"),
    pytest.param(eventbridge_event({"server_group_id": G}), True, id="eventbridge"),
    pytest.param(scheduled_event(), True, id="eventbridge-scheduled"),
    pytest.param(sns_event({"server_group_id": G}), True, id="sns"),
    pytest.param(sns_event(alarm_message("ALARM", {"ServerGroupId": G, "ProjectId": PROJECT_ID})), True, id="alarm"),
]


@pytest.fixture
def env(sdrs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> Callable[[int], None]:
    """Configured for group G on schedules; call it to set SDRS_MAX_ATTEMPTS."""
    monkeypatch.setenv("SDRS_SERVER_GROUP_IDS", G)

    def max_attempts(n: int) -> None:
        monkeypatch.setenv("SDRS_MAX_ATTEMPTS", str(n))

    max_attempts(2)
    return max_attempts


def invoke(event: Any, context: Any, asynchronous: bool, *, runtime: Runtime) -> dict[str, Any]:
    """Call the handler; return the result, raised (TransientFailure.result) or returned."""
    if asynchronous:
        with pytest.raises(TransientFailure) as raised:
            lambda_handler(event, context, runtime=runtime)
        assert raised.value.result["ok"] is False
        for group in raised.value.result["groups"]:
            if group["error"] and group["error"]["retryable"]:
                assert group["server_group_id"] in str(raised.value)
        return raised.value.result
    return lambda_handler(event, context, runtime=runtime)


# The trigger each event of TRIGGERS is reported as, by its id (written from the event).
TRIGGER_NAMES = {
    "direct": "direct",
    "scheduler-input": "direct",
    "direct-flag-false": "direct",
    "eventbridge": "eventbridge",
    "eventbridge-scheduled": "eventbridge_scheduled",
    "sns": "sns",
    "alarm": "sns_alarm",
}


def test_every_trigger_has_a_name() -> None:
    assert [param.id for param in TRIGGERS] == list(TRIGGER_NAMES)


@pytest.mark.parametrize(("event", "asynchronous"), TRIGGERS)
def test_every_trigger_names_group_g_only(
    runtime: Runtime,
    event: Any,
    asynchronous: bool,
    env: Any,
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
    request: pytest.FixtureRequest,
) -> None:
    """Each event of TRIGGERS, against an API that answers well, cleans (PROJECT_ID, G) and
    nothing else, reported as its trigger: the failures below are G's and only G's."""
    name = TRIGGER_NAMES[request.node.callspec.id]
    jobs = fake_sdrs.failure_jobs(PROJECT_ID, G)
    assert jobs

    result = lambda_handler(event, lambda_context, runtime=runtime)  # a success never raises

    assert (result["ok"], result["trigger"], result["dry_run"], result["error"]) == (True, name, False, None)
    assert [(g["project_id"], g["server_group_id"], g["outcome"]) for g in result["groups"]] == [
        (PROJECT_ID, G, "deleted")
    ]
    assert result["groups"][0]["failure_jobs"] == jobs
    assert [(r.method, r.path) for r in fake_sdrs.calls("DELETE")] == [("DELETE", group_delete_path(PROJECT_ID, G))]
    assert {r.server_group_id for r in fake_sdrs.requests} == {G}


# --- permanent errors ------------------------------------------------------------------


@pytest.mark.parametrize(("event", "asynchronous"), TRIGGERS)
def test_permanent_error_on_delete_is_reported_not_raised(
    runtime: Runtime, event: Any, asynchronous: bool, env: Any, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    jobs = fake_sdrs.failure_jobs(PROJECT_ID, G)
    fake_sdrs.fail("DELETE", 400, body=SDRS_1013)

    result = lambda_handler(event, lambda_context, runtime=runtime)  # never raises, whatever the trigger

    assert result["ok"] is False
    assert (result["error"]["type"], result["error"]["retryable"]) == ("group_failures", False)
    assert G in result["error"]["message"]
    assert result["summary"]["failed"] == result["summary"]["groups_found"] == 1
    (group,) = result["groups"]
    deletes = fake_sdrs.calls("DELETE")
    assert len(deletes) == 1  # a 400 is not retried
    assert group["outcome"] == "failed"
    assert group["error"]["code"] == "SDRS.1013"
    assert group["error"]["retryable"] is False
    assert "invalid state" in group["error"]["message"]
    assert (group["status_code"], group["request_id"], group["attempts"]) == (400, deletes[0].request_id, 1)
    assert group["failure_jobs"] == jobs  # the audit record of what could not be deleted
    assert fake_sdrs.failure_jobs(PROJECT_ID, G) == jobs


@pytest.mark.parametrize(("event", "asynchronous"), TRIGGERS)
def test_forbidden_listing_is_reported_not_raised(
    runtime: Runtime, event: Any, asynchronous: bool, env: Any, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    fake_sdrs.fail("GET", 403, body=FORBIDDEN)

    result = lambda_handler(event, lambda_context, runtime=runtime)

    assert result["ok"] is False
    assert G in result["error"]["message"]
    (group,) = result["groups"]
    gets = fake_sdrs.calls("GET")
    assert len(gets) == 1  # a 403 is not retried
    assert fake_sdrs.calls("DELETE") == []
    assert group["outcome"] == "failed"
    assert (group["error"]["code"], group["error"]["retryable"]) == ("SDRS.0403", False)
    assert "sdrs:task:list" in group["error"]["message"]
    assert (group["status_code"], group["request_id"], group["attempts"]) == (403, gets[0].request_id, 0)
    assert group["failure_jobs"] == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_no_permanent_status_is_retried(
    runtime: Runtime, status: int, env: Any, fake_sdrs: FakeSdrs, lambda_context: Any, sleeps: list[float]
) -> None:
    fake_sdrs.fail("DELETE", status, body={"error": {"code": f"SDRS.{status}0", "message": "no"}})
    result = lambda_handler(eventbridge_event({"server_group_id": G}), lambda_context, runtime=runtime)
    (group,) = result["groups"]
    assert (group["outcome"], group["status_code"], group["error"]["retryable"]) == ("failed", status, False)
    assert len(fake_sdrs.calls("DELETE")) == 1
    assert sleeps == []


# --- transient errors ------------------------------------------------------------------


@pytest.mark.parametrize(("event", "asynchronous"), TRIGGERS)
@pytest.mark.parametrize("max_attempts", [1, 2, 3])
def test_transient_error_on_delete_outlasting_retries(
    runtime: Runtime,
    event: Any,
    asynchronous: bool,
    max_attempts: int,
    env: Callable[[int], None],
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
    sleeps: list[float],
) -> None:
    env(max_attempts)
    jobs = fake_sdrs.failure_jobs(PROJECT_ID, G)
    fake_sdrs.fail("DELETE", 503, body=UNAVAILABLE)

    result = invoke(event, lambda_context, asynchronous, runtime=runtime)

    assert result["ok"] is False
    assert result["error"]["type"] == "group_failures"
    assert G in result["error"]["message"]
    (group,) = result["groups"]
    deletes = fake_sdrs.calls("DELETE")
    assert [d.path for d in deletes] == [group_delete_path(PROJECT_ID, G)] * max_attempts
    assert len(sleeps) == max_attempts - 1
    assert group["outcome"] == "failed"
    assert group["error"]["retryable"] is True
    assert (group["status_code"], group["request_id"], group["attempts"]) == (503, deletes[-1].request_id, max_attempts)
    assert group["failure_jobs"] == jobs
    assert fake_sdrs.failure_jobs(PROJECT_ID, G) == jobs


@pytest.mark.parametrize(("event", "asynchronous"), TRIGGERS)
def test_transient_error_on_listing_outlasting_retries(
    runtime: Runtime, event: Any, asynchronous: bool, env: Any, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    fake_sdrs.fail("GET", 502)

    result = invoke(event, lambda_context, asynchronous, runtime=runtime)

    (group,) = result["groups"]
    gets = fake_sdrs.calls("GET")
    assert [g.path for g in gets] == [list_path(PROJECT_ID)] * 2
    assert fake_sdrs.calls("DELETE") == []
    assert (group["outcome"], group["error"]["retryable"], group["attempts"]) == ("failed", True, 0)
    assert (group["status_code"], group["request_id"]) == (502, gets[-1].request_id)


@pytest.mark.parametrize(("event", "asynchronous"), TRIGGERS)
def test_network_failure_outlasting_retries(
    runtime: Runtime, event: Any, asynchronous: bool, env: Any, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    fake_sdrs.fail("DELETE", error=httpx.ConnectError)

    result = invoke(event, lambda_context, asynchronous, runtime=runtime)

    (group,) = result["groups"]
    assert len(fake_sdrs.calls("DELETE")) == 2
    assert (group["outcome"], group["error"]["retryable"], group["attempts"]) == ("failed", True, 2)
    assert group["error"]["code"].startswith("Network.")


@pytest.mark.parametrize(("event", "asynchronous"), TRIGGERS)
def test_transient_error_then_success_is_a_success(
    runtime: Runtime,
    event: Any,
    asynchronous: bool,
    env: Callable[[int], None],
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
) -> None:
    env(3)
    jobs = fake_sdrs.failure_jobs(PROJECT_ID, G)
    fake_sdrs.fail("DELETE", 429, headers={"Retry-After": "0"}, times=1)
    fake_sdrs.fail("DELETE", 503, times=1)

    result = lambda_handler(event, lambda_context, runtime=runtime)  # no raise: the group was cleaned

    assert (result["ok"], result["error"]) == (True, None)
    (group,) = result["groups"]
    deletes = fake_sdrs.calls("DELETE")
    assert [d.status for d in deletes] == [429, 503, 204]
    assert (group["outcome"], group["status_code"], group["attempts"]) == ("deleted", 204, 3)
    assert group["request_id"] == deletes[-1].request_id
    assert group["failure_jobs"] == jobs
    assert fake_sdrs.failure_jobs(PROJECT_ID, G) == []


def test_retry_after_is_honoured(
    runtime: Runtime, env: Any, fake_sdrs: FakeSdrs, lambda_context: Any, sleeps: list[float]
) -> None:
    fake_sdrs.fail("DELETE", 429, headers={"Retry-After": "7"}, times=1)
    result = lambda_handler({"server_group_id": G}, lambda_context, runtime=runtime)
    assert result["groups"][0]["outcome"] == "deleted"
    assert sleeps == [7.0]


def test_plain_direct_request_reports_a_retryable_failure(
    runtime: Runtime, env: Any, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    fake_sdrs.fail("DELETE", 503)
    result = lambda_handler({"server_group_id": G}, lambda_context, runtime=runtime)  # returns, does not raise
    assert result["ok"] is False
    assert result["groups"][0]["error"]["retryable"] is True


def test_too_little_time_to_start_defers_the_group(
    runtime: Runtime, env: Any, fake_sdrs: FakeSdrs, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2.5 s left, less the 2 s deadline margin, is under the 5 s group start margin (both set:
    explicit margins win over the budget judged from call times): the group is not started
    (deferred, no request) rather than failed."""
    monkeypatch.setenv("SDRS_GROUP_START_MARGIN_SECONDS", "5")
    monkeypatch.setenv("SDRS_DEADLINE_MARGIN_SECONDS", "2")
    lambda_context.remaining_millis = 2_500
    result = lambda_handler({"server_group_id": G}, lambda_context, runtime=runtime)  # direct: returns
    (group,) = result["groups"]
    assert (group["outcome"], group["attempts"], group["status_code"]) == ("deferred", 0, None)
    assert (group["error"]["code"], group["error"]["retryable"]) == ("Deadline.Deferred", True)
    assert (result["ok"], result["error"]["type"], result["error"]["retryable"]) == (False, "deadline", True)
    assert result["summary"]["deferred"] == 1
    assert fake_sdrs.requests == []
    # A one-off asynchronous event would be lost: it raises so that Lambda retries it.
    with pytest.raises(TransientFailure) as raised:
        lambda_handler(eventbridge_event({"server_group_id": G}), lambda_context, runtime=runtime)
    assert "deferred" in str(raised.value)
    assert raised.value.result["groups"][0]["outcome"] == "deferred"
    # The timer comes back anyway: a scheduled event with deferred groups returns.
    scheduled = lambda_handler(scheduled_event(), lambda_context, runtime=runtime)
    assert (scheduled["trigger"], scheduled["groups"][0]["outcome"]) == ("eventbridge_scheduled", "deferred")
    assert fake_sdrs.requests == []


def test_out_of_time_before_any_call(
    runtime: Runtime, env: Any, fake_sdrs: FakeSdrs, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no group start margin the group is started, but 0.5 s (2.5 s less the 2 s deadline
    margin) is less than one attempt needs before any call was timed (1 s): the client gives up
    before sending anything (failed, retryable)."""
    monkeypatch.setenv("SDRS_GROUP_START_MARGIN_SECONDS", "0")
    monkeypatch.setenv("SDRS_DEADLINE_MARGIN_SECONDS", "2")
    lambda_context.remaining_millis = 2_500  # less than the margin plus one attempt
    result = lambda_handler({"server_group_id": G}, lambda_context, runtime=runtime)
    (group,) = result["groups"]
    assert (group["outcome"], group["error"]["retryable"], group["attempts"]) == ("failed", True, 0)
    assert group["error"]["code"] == "Deadline.Exceeded"
    assert result["error"]["type"] == "group_failures"
    assert fake_sdrs.requests == []
    with pytest.raises(TransientFailure):
        lambda_handler(eventbridge_event({"server_group_id": G}), lambda_context, runtime=runtime)
    assert fake_sdrs.requests == []


# --- several groups, some failing --------------------------------------------------------

BAD, GOOD = GROUP_WITH_FAILURES, GROUP_SCHEDULED
MIXED = [
    pytest.param({"server_group_ids": [BAD, GOOD]}, False, id="direct"),
    pytest.param({"server_group_ids": [BAD, GOOD], "raise_on_transient_failure": True}, True, id="scheduler-input"),
    pytest.param(eventbridge_event({"server_group_ids": [BAD, GOOD]}), True, id="eventbridge"),
    pytest.param(sns_event({"server_group_ids": [BAD, GOOD]}), True, id="sns"),
    pytest.param(
        sns_event(alarm_message("ALARM", {"ServerGroupId": BAD}), alarm_message("ALARM", {"ServerGroupId": GOOD})),
        True,
        id="alarms",
    ),
]


def check_mixed(result: dict[str, Any], fake: FakeSdrs, good_jobs: list[dict[str, Any]], retryable: bool) -> None:
    assert result["ok"] is False
    assert result["error"]["type"] == "group_failures"
    assert BAD in result["error"]["message"]
    assert GOOD not in result["error"]["message"]
    bad, good = result["groups"]
    assert (bad["server_group_id"], bad["outcome"], bad["error"]["retryable"]) == (BAD, "failed", retryable)
    assert (good["server_group_id"], good["outcome"], good["error"]) == (GOOD, "deleted", None)
    assert (good["status_code"], good["attempts"]) == (204, 1)
    assert good["request_id"] == fake.calls("DELETE", GOOD)[-1].request_id
    assert good["failure_jobs"] == good_jobs
    assert fake.failure_jobs(PROJECT_ID, GOOD) == []
    assert len(fake.failure_jobs(PROJECT_ID, BAD)) == len(bad["failure_jobs"]) > 0


@pytest.mark.parametrize(("event", "asynchronous"), MIXED)
def test_one_group_failing_permanently_does_not_stop_the_others(
    runtime: Runtime, event: Any, asynchronous: bool, env: Any, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    good_jobs = fake_sdrs.failure_jobs(PROJECT_ID, GOOD)
    fake_sdrs.fail("DELETE", 400, server_group_id=BAD, body=SDRS_1013)
    result = lambda_handler(event, lambda_context, runtime=runtime)  # permanent: never raises
    check_mixed(result, fake_sdrs, good_jobs, retryable=False)


@pytest.mark.parametrize(("event", "asynchronous"), MIXED)
def test_one_group_failing_transiently_does_not_stop_the_others(
    runtime: Runtime, event: Any, asynchronous: bool, env: Any, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    good_jobs = fake_sdrs.failure_jobs(PROJECT_ID, GOOD)
    fake_sdrs.fail("DELETE", 503, server_group_id=BAD)
    result = invoke(event, lambda_context, asynchronous, runtime=runtime)
    check_mixed(result, fake_sdrs, good_jobs, retryable=True)


def test_listing_failure_for_one_group_does_not_stop_the_others(
    runtime: Runtime, env: Any, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    good_jobs = fake_sdrs.failure_jobs(PROJECT_ID, GOOD)
    fake_sdrs.fail("GET", 403, server_group_id=BAD, body=FORBIDDEN)
    result = lambda_handler({"server_group_ids": [BAD, GOOD]}, lambda_context, runtime=runtime)
    assert result["ok"] is False
    assert BAD in result["error"]["message"]
    assert GOOD not in result["error"]["message"]
    assert [g["outcome"] for g in result["groups"]] == ["failed", "deleted"]
    assert result["groups"][1]["failure_jobs"] == good_jobs
    assert [r.path for r in fake_sdrs.calls("DELETE")] == [group_delete_path(PROJECT_ID, GOOD)]


def test_permanent_and_transient_failures_together_still_raise_for_async(
    runtime: Runtime, env: Any, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    third = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    fake_sdrs.fail("DELETE", 400, server_group_id=BAD, body=SDRS_1013)
    fake_sdrs.fail("DELETE", 503, server_group_id=third)
    with pytest.raises(TransientFailure) as raised:
        lambda_handler(eventbridge_event({"server_group_ids": [BAD, GOOD, third]}), lambda_context, runtime=runtime)
    assert third in str(raised.value)
    outcomes = [(g["outcome"], g["error"] and g["error"]["retryable"]) for g in raised.value.result["groups"]]
    assert outcomes == [("failed", False), ("deleted", None), ("failed", True)]
    assert BAD in raised.value.result["error"]["message"]
    assert third in raised.value.result["error"]["message"]

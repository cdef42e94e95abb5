"""Every alarm and timer shape AWS delivers, on public fixtures this project did not write.

The envelopes are tests/data/aws-events/ (their sources are in the README there), loaded as
they are; only the payload is replaced: the alarm's metric dimensions, its state, an SNS
message, a queue body. Each shape must clean the groups it names with exactly one DELETE
each; the no-op states send no request at all; hostile variants are refused before any request.
"""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from handler.app import TransientFailure, lambda_handler
from handler.core import Runtime
from handler.observability import logger
from tests.fake_sdrs import GROUP_CLEAN, GROUP_SCHEDULED, GROUP_WITH_FAILURES, PROJECT_ID, FakeSdrs

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "aws-events"
G, H = GROUP_WITH_FAILURES, GROUP_SCHEDULED
OTHER_PROJECT = "fedcba9876543210fedcba9876543210"
TRAVERSAL = "../../failure-jobs/batch"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# --- payload replacement: only what the operator's alarm or message would say ---------------------------


def alarm_data_with(data: dict[str, Any], state: str, groups: list[dict[str, str]]) -> None:
    """The alarm's state, and the dimensions of its metrics (an expression keeps none): the
    first metric gets groups[0], the next groups[1], ..."""
    data["state"]["value"] = state
    stats = [m["metricStat"] for m in data["configuration"]["metrics"] if "metricStat" in m]
    assert len(stats) >= len(groups), "the fixture has fewer metrics than the test names groups"
    for stat, dimensions in zip(stats, groups + [groups[-1]] * (len(stats) - len(groups)), strict=True):
        stat["metric"]["dimensions"] = dict(dimensions)


def alarm_action(name: str, state: str = "ALARM", groups: list[dict[str, str]] | None = None) -> Any:
    event = fixture(name)
    alarm_data_with(event["alarmData"], state, groups or [{"ServerGroupId": G}])
    return event


def eventbridge_alarm(name: str, state: str = "ALARM", groups: list[dict[str, str]] | None = None) -> Any:
    event = fixture(name)
    alarm_data_with(event["detail"], state, groups or [{"ServerGroupId": G}])
    return event


def sns_alarm_message(name: str, state: str = "ALARM", groups: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The alarm JSON CloudWatch publishes, from an SNS fixture, with our dimensions."""
    message: dict[str, Any] = json.loads(fixture(name)["Records"][0]["Sns"]["Message"])
    message["NewStateValue"] = state
    named = [[{"value": v, "name": k} for k, v in dims.items()] for dims in (groups or [{"ServerGroupId": G}])]
    trigger = message["Trigger"]
    if "Metrics" in trigger:
        stats = [m["MetricStat"] for m in trigger["Metrics"] if "MetricStat" in m]
        for stat, dimensions in zip(stats, named + [named[-1]] * (len(stats) - len(named)), strict=True):
            stat["Metric"]["Dimensions"] = dimensions
    else:
        (trigger["Dimensions"],) = named
    return message


def sns_event(name: str, message: dict[str, Any] | str) -> Any:
    event = fixture(name)
    event["Records"][0]["Sns"]["Message"] = message if isinstance(message, str) else json.dumps(message)
    return event


def sqs_with_bodies(name: str, *bodies: str) -> Any:
    """The fixture's SQS record, once per body (each its own messageId)."""
    event = fixture(name)
    record = event["Records"][0]
    event["Records"] = [{**copy.deepcopy(record), "messageId": f"msg-{n}", "body": b} for n, b in enumerate(bodies)]
    return event


def sns_envelope_body(name: str, message: dict[str, Any] | str) -> str:
    """An SQS body as SNS writes it with raw delivery off: the envelope, Message replaced."""
    envelope = json.loads(fixture(name)["Records"][0]["body"])
    envelope["Message"] = message if isinstance(message, str) else json.dumps(message)
    return json.dumps(envelope)


# --- the checks -------------------------------------------------------------------------------------------


@pytest.fixture
def env(sdrs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return monkeypatch


def cleaned(result: dict[str, Any], fake: FakeSdrs, groups: list[str], trigger: str) -> None:
    """Each of `groups` audited and deleted with exactly one DELETE, nothing else touched."""
    assert result["ok"] is True, result
    assert result["trigger"] == trigger
    assert [(g["server_group_id"], g["outcome"]) for g in result["groups"]] == [(g, "deleted") for g in groups]
    assert sorted(r.server_group_id or "" for r in fake.calls("DELETE")) == sorted(groups)
    assert sorted(r.server_group_id or "" for r in fake.calls("GET")) == sorted(groups)
    for group in groups:
        assert fake.failure_jobs(PROJECT_ID, group) == []
    assert fake.failure_jobs(PROJECT_ID, GROUP_CLEAN) == []  # never had any; never named
    assert fake.project_wide_deletes == []


def untouched(result: dict[str, Any], fake: FakeSdrs, trigger: str) -> None:
    assert result["ok"] is True, result
    assert result["trigger"] == trigger
    assert result["groups"] == []
    assert fake.requests == []


def refused(result: dict[str, Any], fake: FakeSdrs, fragment: str) -> None:
    assert result["ok"] is False
    assert result["error"]["type"] == "invalid_event", result["error"]
    assert fragment in result["error"]["message"]
    assert fake.requests == []


# --- 1. a CloudWatch alarm invoking the function directly ------------------------------------------------

ALARM_ACTIONS = ["lambda-alarm-action-single-metric.json", "lambda-alarm-action-metric-math.json"]
EVENTBRIDGE_ALARMS = [
    "eventbridge-alarm-state-change-single-metric.json",
    "eventbridge-alarm-state-change-metric-math.json",
]


@pytest.mark.parametrize("name", ALARM_ACTIONS)
def test_alarm_action_in_alarm_cleans_the_group(
    name: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    result = lambda_handler(alarm_action(name), lambda_context)
    cleaned(result, fake_sdrs, [G], "cloudwatch_alarm")


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
@pytest.mark.parametrize("name", ALARM_ACTIONS)
def test_alarm_action_out_of_alarm_calls_nothing(
    name: str, state: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    untouched(lambda_handler(alarm_action(name, state), lambda_context), fake_sdrs, "cloudwatch_alarm")


def test_alarm_action_with_a_project_dimension_cleans_that_project(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    fake_sdrs.add_group(OTHER_PROJECT, G, 2)
    event = alarm_action(ALARM_ACTIONS[0], groups=[{"ServerGroupId": G, "ProjectId": OTHER_PROJECT}])
    result = lambda_handler(event, lambda_context)
    assert [(g["project_id"], g["outcome"]) for g in result["groups"]] == [(OTHER_PROJECT, "deleted")]
    assert [r.path.split("/")[2] for r in fake_sdrs.calls("DELETE")] == [OTHER_PROJECT]
    assert len(fake_sdrs.failure_jobs(PROJECT_ID, G)) == 3  # the default project's group is left alone


def test_composite_alarm_action_is_refused_in_every_state(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    for state in ("ALARM", "OK"):
        event = fixture("lambda-alarm-action-composite.json")
        event["alarmData"]["state"]["value"] = state
        result = lambda_handler(event, lambda_context)
        refused(result, fake_sdrs, "composite alarm")
        assert result["trigger"] == "cloudwatch_alarm"


def test_alarm_action_failing_transiently_raises_so_lambda_retries(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any, runtime: Runtime
) -> None:
    env.setenv("SDRS_MAX_ATTEMPTS", "2")
    fake_sdrs.fail("DELETE", 503)
    with pytest.raises(TransientFailure) as raised:
        lambda_handler(alarm_action(ALARM_ACTIONS[0]), lambda_context, runtime=runtime)
    assert raised.value.result["groups"][0]["outcome"] == "failed"
    assert len(fake_sdrs.calls("DELETE")) == 2


# --- 2. EventBridge "CloudWatch Alarm State Change" ------------------------------------------------------


@pytest.mark.parametrize("name", EVENTBRIDGE_ALARMS)
def test_eventbridge_alarm_in_alarm_cleans_the_group(
    name: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    cleaned(lambda_handler(eventbridge_alarm(name), lambda_context), fake_sdrs, [G], "eventbridge_alarm")


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
@pytest.mark.parametrize("name", EVENTBRIDGE_ALARMS)
def test_eventbridge_alarm_out_of_alarm_calls_nothing(
    name: str, state: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    untouched(lambda_handler(eventbridge_alarm(name, state), lambda_context), fake_sdrs, "eventbridge_alarm")


def test_eventbridge_composite_alarm_is_refused(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    result = lambda_handler(fixture("eventbridge-alarm-state-change-composite.json"), lambda_context)
    refused(result, fake_sdrs, "detail.configuration: a composite alarm")


def test_an_alarm_about_something_else_is_refused(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    """The fixtures as they are: an EC2 instance's alarm names no protection group."""
    result = lambda_handler(fixture(EVENTBRIDGE_ALARMS[0]), lambda_context)
    refused(result, fake_sdrs, "detail.configuration.metrics carry no ServerGroupId")
    result = lambda_handler(fixture(ALARM_ACTIONS[0]), lambda_context)
    refused(result, fake_sdrs, "alarmData.configuration.metrics carry no ServerGroupId")


# --- 3. every alarm layout: several metrics naming several groups -----------------------------------------

TWO_GROUPS = [{"ServerGroupId": G}, {"ServerGroupId": H}]
LAYOUTS: dict[str, Callable[[list[dict[str, str]]], Any]] = {
    "alarm action": lambda groups: alarm_action("lambda-alarm-action-metric-math.json", groups=groups),
    "eventbridge": lambda groups: eventbridge_alarm("eventbridge-alarm-state-change-metric-math.json", groups=groups),
    "sns": lambda groups: sns_event(
        "sns-cloudwatch-alarm-metric-math.json",
        sns_alarm_message("sns-cloudwatch-alarm-metric-math.json", groups=groups),
    ),
}
TRIGGERS = {"alarm action": "cloudwatch_alarm", "eventbridge": "eventbridge_alarm", "sns": "sns_alarm"}


def test_the_metric_math_fixtures_have_the_metrics_the_layout_tests_need() -> None:
    """Two metrics (and an expression) in the alarm action and EventBridge fixtures; one
    metric and an expression in the SNS one."""
    action = fixture("lambda-alarm-action-metric-math.json")["alarmData"]["configuration"]["metrics"]
    bridge = fixture("eventbridge-alarm-state-change-metric-math.json")["detail"]["configuration"]["metrics"]
    sns = json.loads(fixture("sns-cloudwatch-alarm-metric-math.json")["Records"][0]["Sns"]["Message"])
    assert [("metricStat" in m, "expression" in m) for m in action].count((True, False)) == 2
    assert [("metricStat" in m, "expression" in m) for m in bridge].count((True, False)) == 2
    assert ["MetricStat" in m for m in sns["Trigger"]["Metrics"]] == [False, True]


@pytest.mark.parametrize("layout", ["alarm action", "eventbridge"])
def test_several_metrics_naming_several_groups_clean_each_once(
    layout: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    cleaned(lambda_handler(LAYOUTS[layout](TWO_GROUPS), lambda_context), fake_sdrs, [G, H], TRIGGERS[layout])


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_several_metrics_naming_one_group_clean_it_once(
    layout: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    result = lambda_handler(LAYOUTS[layout]([{"ServerGroupId": G}]), lambda_context)
    cleaned(result, fake_sdrs, [G], TRIGGERS[layout])


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_hostile_id_in_any_metric_is_refused(
    layout: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    groups = [{"ServerGroupId": G}, {"ServerGroupId": TRAVERSAL}] if layout != "sns" else [{"ServerGroupId": TRAVERSAL}]
    refused(lambda_handler(LAYOUTS[layout](groups), lambda_context), fake_sdrs, "ServerGroupId dimension must be")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_hostile_project_in_any_metric_is_refused(
    layout: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    groups = [{"ServerGroupId": G, "ProjectId": "../" + PROJECT_ID}]
    refused(lambda_handler(LAYOUTS[layout](groups), lambda_context), fake_sdrs, "ProjectId dimension must be")


def test_single_metric_sns_alarm_cleans_the_group(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    name = "sns-cloudwatch-alarm-single-metric.json"
    cleaned(lambda_handler(sns_event(name, sns_alarm_message(name)), lambda_context), fake_sdrs, [G], "sns_alarm")


@pytest.mark.parametrize("name", ["sns-cloudwatch-alarm-single-metric.json", "sns-cloudwatch-alarm-metric-math.json"])
@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_sns_alarm_out_of_alarm_calls_nothing(
    name: str, state: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    untouched(lambda_handler(sns_event(name, sns_alarm_message(name, state)), lambda_context), fake_sdrs, "sns_alarm")


# --- 4. SQS bodies that are SNS envelopes, and raw alarms -------------------------------------------------

ENVELOPES = ["sqs-sns-envelope-standard.json", "sqs-sns-envelope-fifo.json"]
SNS_ALARM = "sns-cloudwatch-alarm-single-metric.json"


@pytest.mark.parametrize("name", ENVELOPES)
def test_sns_envelope_holding_a_direct_request_is_that_request(
    name: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    response = lambda_handler(sqs_with_bodies(name, sns_envelope_body(name, {"server_group_id": G})), lambda_context)
    assert response["batchItemFailures"] == []
    [record] = response["records"]
    cleaned(record, fake_sdrs, [G], "sqs")


@pytest.mark.parametrize("name", ENVELOPES)
def test_sns_envelope_holding_an_alarm_is_that_alarm(
    name: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    body = sns_envelope_body(name, sns_alarm_message(SNS_ALARM))
    response = lambda_handler(sqs_with_bodies(name, body), lambda_context)
    assert response["batchItemFailures"] == []
    cleaned(response["records"][0], fake_sdrs, [G], "sqs")


def test_a_raw_alarm_body_is_an_alarm(env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any) -> None:
    body = json.dumps(sns_alarm_message(SNS_ALARM))
    response = lambda_handler(sqs_with_bodies("sqs-plain.json", body), lambda_context)
    assert response["batchItemFailures"] == []
    cleaned(response["records"][0], fake_sdrs, [G], "sqs")


def test_mixed_batch_sends_back_exactly_the_records_worth_another_delivery(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any, runtime: Runtime
) -> None:
    """msg-0: an SNS-wrapped request for G; msg-1: a raw alarm for H, whose DELETE keeps
    failing (503); msg-2: an OK alarm (a no-op); msg-3: a body that can never be valid."""
    env.setenv("SDRS_MAX_ATTEMPTS", "2")
    fake_sdrs.fail("DELETE", 503, server_group_id=H)
    event = sqs_with_bodies(
        ENVELOPES[0],
        sns_envelope_body(ENVELOPES[0], {"server_group_id": G}),
        json.dumps(sns_alarm_message(SNS_ALARM, groups=[{"ServerGroupId": H}])),
        sns_envelope_body(ENVELOPES[0], sns_alarm_message(SNS_ALARM, "OK")),
        sns_envelope_body(ENVELOPES[0], "not json"),
    )

    response = lambda_handler(event, lambda_context, runtime=runtime)

    assert response["batchItemFailures"] == [{"itemIdentifier": "msg-1"}]
    assert [r["message_id"] for r in response["records"]] == ["msg-0", "msg-1", "msg-2", "msg-3"]
    wrapped, alarm, ok_alarm, invalid = response["records"]
    assert [(g["server_group_id"], g["outcome"]) for g in wrapped["groups"]] == [(G, "deleted")]
    assert [(g["server_group_id"], g["outcome"], g["error"]["retryable"]) for g in alarm["groups"]] == [
        (H, "failed", True)
    ]
    assert (ok_alarm["ok"], ok_alarm["groups"]) == (True, [])
    assert invalid["error"]["type"] == "invalid_event"
    assert "body.Message is not JSON" in invalid["error"]["message"]
    assert [r.server_group_id for r in fake_sdrs.calls("DELETE")] == [G, H, H]
    assert len(fake_sdrs.failure_jobs(PROJECT_ID, H)) == 4


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        pytest.param("not json", "body.Message is not JSON", id="message-not-json"),
        pytest.param({"server_group_id": TRAVERSAL}, "body.Message.server_group_id", id="traversal-id"),
        pytest.param({"server_group_id": G, "force": True}, "body.Message.force: unknown field", id="unknown-field"),
        pytest.param(
            {"Type": "Notification", "TopicArn": "arn:aws:sns:eu-west-1:1:t", "MessageId": "m", "Message": "{}"},
            "body.Message.Type: unknown field",
            id="message-in-a-message",
        ),
        pytest.param("[" * 100_000 + "]" * 100_000, "nested too deep", id="deep-json"),
    ],
)
def test_hostile_sns_envelopes_in_a_queue_are_refused_and_not_sent_back(
    message: Any, fragment: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    response = lambda_handler(sqs_with_bodies(ENVELOPES[0], sns_envelope_body(ENVELOPES[0], message)), lambda_context)
    assert response["batchItemFailures"] == []
    [record] = response["records"]
    refused(record, fake_sdrs, fragment)


def test_a_huge_body_is_refused_before_it_is_parsed(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    body = sns_envelope_body(ENVELOPES[0], {"server_group_id": G, "pad": "x" * 300_000})
    response = lambda_handler(sqs_with_bodies(ENVELOPES[0], body), lambda_context)
    assert response["batchItemFailures"] == []
    refused(response["records"][0], fake_sdrs, "bytes; at most")


def test_plain_fixtures_with_our_payload(env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any) -> None:
    """Powertools' plain SNS and SQS events, the message a direct request."""
    result = lambda_handler(sns_event("sns-plain.json", {"server_group_id": G}), lambda_context)
    cleaned(result, fake_sdrs, [G], "sns")
    response = lambda_handler(sqs_with_bodies("sqs-plain.json", json.dumps({"server_group_id": H})), lambda_context)
    assert response["batchItemFailures"] == []
    assert [(g["server_group_id"], g["outcome"]) for g in response["records"][0]["groups"]] == [(H, "deleted")]


# --- 5. envelopes as they come: no version, Scheduler's default payload, its context attributes ----------


@pytest.mark.parametrize(
    "name",
    [
        "eventbridge-scheduled-sam-template-no-version.json",
        "eventbridge-scheduled-rule.json",
        "eventbridge-scheduler-default-payload.json",
    ],
)
def test_scheduled_events_clean_the_configured_groups(
    name: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    env.setenv("SDRS_SERVER_GROUP_IDS", G)
    cleaned(lambda_handler(fixture(name), lambda_context), fake_sdrs, [G], "eventbridge_scheduled")


def test_an_event_of_another_kind_on_the_bus_is_refused(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    """Powertools' EventBridge fixture is an EC2 state change: its detail is no request."""
    refused(lambda_handler(fixture("eventbridge-ec2-state-change.json"), lambda_context), fake_sdrs, "unknown field")


SCHEDULER_CONTEXT = {
    "scheduled_time": "2026-11-20T10:00:00Z",
    "execution_id": "c1d2e3f4-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
    "attempt_number": "1",
}


def test_scheduler_context_is_logged_and_otherwise_ignored(
    env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    event = {"server_group_id": G, "raise_on_transient_failure": True, "scheduler": SCHEDULER_CONTEXT}
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        cleaned(lambda_handler(event, lambda_context), fake_sdrs, [G], "direct")
    finally:
        handler.setStream(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [scheduled] = [line for line in lines if line["message"] == "scheduled invocation"]
    assert scheduled["scheduler"] == SCHEDULER_CONTEXT
    finished = [line for line in lines if line["message"] == "invocation finished"]
    assert finished[0]["correlation_id"] == SCHEDULER_CONTEXT["execution_id"]


@pytest.mark.parametrize(
    ("scheduler", "fragment"),
    [
        pytest.param({**SCHEDULER_CONTEXT, "extra": "x"}, "scheduler.extra: unknown field", id="unknown-key"),
        pytest.param({**SCHEDULER_CONTEXT, "attempt_number": 1}, "scheduler.attempt_number", id="not-a-string"),
        pytest.param({**SCHEDULER_CONTEXT, "execution_id": "x" * 129}, "scheduler.execution_id", id="too-long"),
        pytest.param({**SCHEDULER_CONTEXT, "execution_id": "a b\n"}, "scheduler.execution_id", id="spaces"),
        pytest.param("2026-11-20T10:00:00Z", "scheduler", id="not-an-object"),
    ],
)
def test_hostile_scheduler_context_is_refused(
    scheduler: Any, fragment: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    refused(lambda_handler({"server_group_id": G, "scheduler": scheduler}, lambda_context), fake_sdrs, fragment)

"""The FunctionGraph entry point, `handler.functiongraph.handler`, end to end over loopback.

The SDRS emulator (handler/local/emulator.py, its signature check written from the spec in
handler/local/gateway.py) knows only the temporary AK/SK and security token it issued, as an
agency's: a request signed with anything else, or without the token, is refused with 401.
The context is a stand-in with the method names and behaviour of FunctionGraph's published
Python runtime (handler/local/functiongraph_context.py). The envelopes are copies of
FunctionGraph's own samples (tests/data/huawei-events/README.md); only the payload is ours.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handler import functiongraph
from handler.core import Invocation, Runtime, TransientFailure, handle
from handler.local.emulator import (
    DEMO_AK,
    DEMO_GROUP_CLEAN,
    DEMO_GROUP_MANY_FAILURES,
    DEMO_GROUP_UNTOUCHED,
    DEMO_GROUP_WITH_FAILURES,
    DEMO_PROJECT_ID,
    DEMO_SK,
    EmulatorState,
    Fault,
    SdrsEmulator,
    demo_state,
    issue_agency_credentials,
)
from handler.local.functiongraph_context import AgencyCredentials, LocalFunctionGraphContext
from handler.observability import logger
from handler.sdrs.factory import ClientFactory

ROOT = Path(__file__).resolve().parents[2]
HUAWEI_EVENTS = ROOT / "tests" / "data" / "huawei-events"
SAMPLES = ROOT / "events" / "functiongraph"
REQUEST_ID = "7c307f6a-cf68-4e65-8be0-4c77405a1b2c"
LIST, DELETE = "list_failure_jobs", "delete_group_failure_jobs"


def copied(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((HUAWEI_EVENTS / name).read_text())
    return event


def timer_event(user_event: str) -> dict[str, Any]:
    """FunctionGraph's TIMER sample with our `user_event`."""
    event = copied("functiongraph-timer-event.json")
    event["user_event"] = user_event
    return event


def smn_event(*messages: str) -> dict[str, Any]:
    """FunctionGraph's SMN trigger sample, one record per message (the sample's own record copied)."""
    sample = copied("functiongraph-smn-event.json")
    records = []
    for n, message in enumerate(messages):
        record = copy.deepcopy(sample["record"][0])
        record["smn"]["message"] = message
        record["smn"]["message_id"] = f"{n:032x}"
        records.append(record)
    return {**sample, "record": records}


def cloud_eye_v1(group_id: str, is_alarm: bool) -> str:
    """The newer Cloud Eye template (events/smn/cloud-eye-alarm.json) about `group_id`."""
    alarm = json.loads((ROOT / "events" / "smn" / "cloud-eye-alarm.json").read_text())
    alarm["data"].update(ResourceId=group_id, IsAlarm=is_alarm)
    return json.dumps(alarm)


class Platform:
    """One FunctionGraph function: the emulator it reaches, the agency lending it credentials,
    its environment and user data, and every log line it wrote."""

    def __init__(self, emulator: SdrsEmulator, monkeypatch: pytest.MonkeyPatch, logs: io.StringIO) -> None:
        self.emulator, self.state = emulator, emulator.state
        self.monkeypatch, self.logs = monkeypatch, logs
        self.agency: AgencyCredentials | None = issue_agency_credentials(self.state)
        self.user_data: dict[str, str] = {}
        self.project_id = DEMO_PROJECT_ID
        self.remaining = 60.0
        self.factory = ClientFactory(sleep=lambda seconds: None)
        self.runtime = Runtime(self.factory)

    def invoke(self, event: Any) -> dict[str, Any]:
        context = LocalFunctionGraphContext(
            self.remaining,
            agency=self.agency,
            project_id=self.project_id,
            user_data=self.user_data,
            function_name="sdrs-cleanup",
            request_id=REQUEST_ID,
        )
        return functiongraph.handler(event, context, self.runtime)

    def calls(self, route: str | None = None) -> list[Any]:
        self.state.settle()
        return self.state.calls(route)

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs.getvalue().splitlines() if line.startswith("{")]

    def failed_tasks(self, group_id: str) -> int:
        return len(self.state.projects[DEMO_PROJECT_ID][group_id])


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    for name in list(os.environ):
        if name.startswith(("SDRS_", "HUAWEICLOUD_SDK_", "RUNTIME_")) or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    level = logger._logger.level
    logger.setLevel("DEBUG")
    try:
        with SdrsEmulator(demo_state()) as emulator:
            monkeypatch.setenv("SDRS_ENDPOINT", emulator.endpoint)
            fg = Platform(emulator, monkeypatch, stream)
            yield fg
            fg.factory.close()
    finally:
        handler.setStream(previous)
        logger._logger.setLevel(level)


def header(call: Any, name: str) -> str | None:
    return {key.lower(): value for key, value in call.headers.items()}.get(name)


def outcomes(result: dict[str, Any]) -> dict[str, str]:
    return {group["server_group_id"]: group["outcome"] for group in result["groups"]}


# --- the agency's credentials -------------------------------------------------------------------


def test_a_timer_with_a_json_request_signs_with_the_agency_credentials_and_its_token(platform: Platform) -> None:
    result = platform.invoke(timer_event(json.dumps({"server_group_ids": [DEMO_GROUP_WITH_FAILURES]})))

    assert result["ok"] is True
    assert result["trigger"] == "functiongraph_timer"
    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "deleted"}
    assert platform.failed_tasks(DEMO_GROUP_WITH_FAILURES) == 0
    calls = platform.calls()
    assert [call.route for call in calls] == [LIST, DELETE]
    assert all(call.status in (200, 204) for call in calls)
    assert platform.agency is not None
    assert all(header(call, "x-security-token") == platform.agency.security_token for call in calls)


def test_without_an_agency_the_static_keys_of_the_environment_sign(platform: Platform) -> None:
    platform.agency = None
    with platform.state.lock:  # the emulator back on the permanent demo key pair, no token
        platform.state.access_key, platform.state.secret_key, platform.state.security_token = DEMO_AK, DEMO_SK, None
    platform.monkeypatch.setenv("HUAWEICLOUD_SDK_AK", DEMO_AK)
    platform.monkeypatch.setenv("HUAWEICLOUD_SDK_SK", DEMO_SK)

    result = platform.invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES})

    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "deleted"}
    assert all(header(call, "x-security-token") is None for call in platform.calls())
    assert {line.get("credentials") for line in platform.log_lines()} == {"environment"}


def test_the_agency_wins_over_static_keys_in_the_environment(platform: Platform) -> None:
    """The emulator knows only the agency's credentials: static keys (and a stale token) set in
    the environment must not be used, or every request would be refused with 401."""
    platform.monkeypatch.setenv("HUAWEICLOUD_SDK_AK", DEMO_AK)
    platform.monkeypatch.setenv("HUAWEICLOUD_SDK_SK", DEMO_SK)
    platform.monkeypatch.setenv("HUAWEICLOUD_SDK_SECURITY_TOKEN", "a-stale-token")

    result = platform.invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES})

    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "deleted"}
    assert {call.status for call in platform.calls()} == {200, 204}
    assert {line.get("credentials") for line in platform.log_lines()} == {"agency"}


def test_rotated_agency_credentials_are_read_on_the_next_invocation(platform: Platform) -> None:
    first = platform.invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES})
    platform.agency = issue_agency_credentials(platform.state)  # the old ones are refused from now on
    second = platform.invoke({"server_group_id": DEMO_GROUP_UNTOUCHED})

    assert outcomes(first) == {DEMO_GROUP_WITH_FAILURES: "deleted"}
    assert outcomes(second) == {DEMO_GROUP_UNTOUCHED: "deleted"}
    assert {call.status for call in platform.calls()} == {200, 204}
    assert header(platform.calls()[-1], "x-security-token") == platform.agency.security_token


def test_no_credentials_at_all_is_a_configuration_error_and_no_request(platform: Platform) -> None:
    platform.agency = None

    result = platform.invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES})

    assert result["ok"] is False
    assert result["error"]["type"] == "configuration"
    assert "HUAWEICLOUD_SDK_AK" in result["error"]["message"]
    assert platform.calls() == []


# --- the project and the settings ---------------------------------------------------------------


def test_the_project_comes_from_the_context_when_the_environment_names_none(platform: Platform) -> None:
    result = platform.invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES})

    assert result["groups"][0]["project_id"] == DEMO_PROJECT_ID
    assert all(DEMO_PROJECT_ID in call.path for call in platform.calls())


def test_the_environment_project_wins_over_the_context(platform: Platform) -> None:
    platform.project_id = "fedcba9876543210fedcba9876543210"  # the function's own project, not the one to clean
    platform.monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", DEMO_PROJECT_ID)

    result = platform.invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES})

    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "deleted"}
    assert result["groups"][0]["project_id"] == DEMO_PROJECT_ID


def test_no_project_anywhere_is_a_configuration_error(platform: Platform) -> None:
    platform.project_id = ""

    result = platform.invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES})

    assert result["error"]["type"] == "configuration"
    assert "project" in result["error"]["message"]
    assert platform.calls() == []


def test_user_data_fills_a_setting_the_environment_lacks_and_the_environment_wins(platform: Platform) -> None:
    platform.user_data = {"SDRS_SERVER_GROUP_IDS": DEMO_GROUP_WITH_FAILURES, "SDRS_DRY_RUN": "true"}
    platform.monkeypatch.setenv("SDRS_DRY_RUN", "false")

    result = platform.invoke(timer_event(""))

    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "deleted"}  # the groups from user data, not dry
    assert result["dry_run"] is False


def test_user_data_alone_can_configure_the_endpoint(platform: Platform) -> None:
    platform.monkeypatch.delenv("SDRS_ENDPOINT")
    platform.user_data = {"SDRS_ENDPOINT": platform.emulator.endpoint}

    result = platform.invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES})

    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "deleted"}


# --- TIMER ------------------------------------------------------------------------------------


def test_a_timer_with_an_empty_user_event_cleans_the_configured_groups(platform: Platform) -> None:
    platform.monkeypatch.setenv("SDRS_SERVER_GROUP_IDS", f"{DEMO_GROUP_WITH_FAILURES},{DEMO_GROUP_CLEAN}")

    result = platform.invoke(timer_event(""))

    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "deleted", DEMO_GROUP_CLEAN: "nothing_to_delete"}


def test_a_timer_with_text_cleans_the_configured_groups(platform: Platform) -> None:
    """FunctionGraph's own sample, unchanged: `user_event` is "Hello world"."""
    platform.monkeypatch.setenv("SDRS_SERVER_GROUP_IDS", DEMO_GROUP_WITH_FAILURES)

    result = platform.invoke(copied("functiongraph-timer-event.json"))

    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "deleted"}


def test_a_timer_sweeps_with_all(platform: Platform) -> None:
    platform.monkeypatch.setenv("SDRS_SERVER_GROUP_IDS", "all")
    platform.monkeypatch.setenv("SDRS_MAX_FAILED_TASKS", "5000")

    result = platform.invoke(timer_event(""))

    assert result["ok"] is True
    assert set(outcomes(result)) == {
        DEMO_GROUP_WITH_FAILURES,
        DEMO_GROUP_CLEAN,
        DEMO_GROUP_MANY_FAILURES,
        DEMO_GROUP_UNTOUCHED,
    }
    assert platform.calls()[0].route == "list_server_groups"


def test_a_timer_with_no_configured_groups_says_so_and_sends_nothing(platform: Platform) -> None:
    result = platform.invoke(timer_event(""))

    assert result["error"]["type"] == "configuration"
    assert "SDRS_SERVER_GROUP_IDS" in result["error"]["message"]
    assert platform.calls() == []


@pytest.mark.parametrize(
    "user_event",
    [
        '{"server_group_id": "../../v1/0123456789abcdef0123456789abcdef/server-groups"}',
        '{"server_group_id": "decf224d-87fe-403a-8721-037a1a45c287?limit=1"}',
        '{"server_group_ids": ["decf224d-87fe-403a-8721-037a1a45c287"], "project_id": "../x"}',
        '{"server_group_id": "decf224d-87fe-403a-8721-037a1a45c287"',  # a typo: not a run over the configured groups
        '["decf224d-87fe-403a-8721-037a1a45c287"]',
        '{"server_group_id": "decf224d-87fe-403a-8721-037a1a45c287", "delete_everything": true}',
    ],
    ids=["path-traversal", "query-in-id", "hostile-project", "broken-json", "json-array", "unknown-field"],
)
def test_a_hostile_or_broken_user_event_is_refused_before_any_request(platform: Platform, user_event: str) -> None:
    platform.monkeypatch.setenv("SDRS_SERVER_GROUP_IDS", DEMO_GROUP_WITH_FAILURES)  # must not be the fallback

    result = platform.invoke(timer_event(user_event))

    assert result["ok"] is False
    assert result["error"]["type"] == "invalid_event"
    assert "user_event" in result["error"]["message"]
    assert platform.calls() == []
    assert platform.failed_tasks(DEMO_GROUP_WITH_FAILURES) == 3


def test_a_timer_with_4_seconds_left_cleans_its_group(platform: Platform) -> None:
    platform.remaining = 4.0
    platform.state.latency = 0.05

    result = platform.invoke(timer_event(json.dumps({"server_group_id": DEMO_GROUP_WITH_FAILURES})))

    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "deleted"}


def test_a_timer_whose_api_stays_unavailable_raises_for_the_platform_retry(platform: Platform) -> None:
    platform.monkeypatch.setenv("SDRS_MAX_ATTEMPTS", "2")
    platform.state.inject(LIST, *[Fault(503, b"<html>busy</html>")] * 2)

    with pytest.raises(TransientFailure) as raised:
        platform.invoke(timer_event(json.dumps({"server_group_id": DEMO_GROUP_WITH_FAILURES})))

    assert "FunctionGraph retries" in str(raised.value)
    assert raised.value.result["groups"][0]["outcome"] == "failed"
    assert raised.value.result["groups"][0]["error"]["retryable"] is True


# --- SMN trigger ---------------------------------------------------------------------------------


def test_an_smn_trigger_with_a_direct_request(platform: Platform) -> None:
    result = platform.invoke(smn_event(json.dumps({"server_group_id": DEMO_GROUP_WITH_FAILURES})))

    assert result["trigger"] == "functiongraph_smn"
    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "deleted"}


def test_an_smn_trigger_with_a_cloud_eye_alarm_cleans_the_group_it_names(platform: Platform) -> None:
    result = platform.invoke(smn_event(cloud_eye_v1(DEMO_GROUP_WITH_FAILURES, is_alarm=True)))

    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "deleted"}
    assert platform.failed_tasks(DEMO_GROUP_WITH_FAILURES) == 0


def test_an_smn_trigger_with_a_cloud_eye_recovery_does_nothing_and_says_why(platform: Platform) -> None:
    result = platform.invoke(smn_event(cloud_eye_v1(DEMO_GROUP_WITH_FAILURES, is_alarm=False)))

    assert result["ok"] is True
    assert result["groups"] == []
    assert result["note"]
    assert platform.calls() == []


def test_functiongraphs_own_smn_sample_with_text_messages_does_nothing(platform: Platform) -> None:
    """The published sample, unchanged: two records whose messages are plain text."""
    result = platform.invoke(copied("functiongraph-smn-event.json"))

    assert result["ok"] is True
    assert result["groups"] == []
    assert platform.calls() == []


def test_several_smn_records_are_all_acted_on(platform: Platform) -> None:
    event = smn_event(
        cloud_eye_v1(DEMO_GROUP_WITH_FAILURES, is_alarm=True),
        "not a request",
        json.dumps({"server_group_id": DEMO_GROUP_UNTOUCHED}),
    )

    result = platform.invoke(event)

    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "deleted", DEMO_GROUP_UNTOUCHED: "deleted"}


def test_an_smn_message_with_a_hostile_request_is_refused_before_any_request(platform: Platform) -> None:
    result = platform.invoke(smn_event(json.dumps({"server_group_id": "../../server-groups"})))

    assert result["error"]["type"] == "invalid_event"
    assert platform.calls() == []


def test_an_smn_trigger_whose_api_fails_raises_for_the_platform_retry(platform: Platform) -> None:
    platform.monkeypatch.setenv("SDRS_MAX_ATTEMPTS", "1")
    platform.state.inject(LIST, Fault(503, b"busy"))

    with pytest.raises(TransientFailure):
        platform.invoke(smn_event(json.dumps({"server_group_id": DEMO_GROUP_WITH_FAILURES})))


# --- direct invocation and everything else -------------------------------------------------------


def test_a_direct_invocation(platform: Platform) -> None:
    result = platform.invoke(json.loads((SAMPLES / "direct.json").read_text()))

    assert result["trigger"] == "direct"
    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "deleted"}


def test_a_direct_dry_run_deletes_nothing(platform: Platform) -> None:
    result = platform.invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES, "dry_run": True})

    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "would_delete"}
    assert [call.route for call in platform.calls()] == [LIST]


def test_the_safety_brake_holds_as_on_lambda(platform: Platform) -> None:
    platform.monkeypatch.setenv("SDRS_MAX_FAILED_TASKS", "2")

    result = platform.invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES})

    assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "held"}
    assert [call.route for call in platform.calls()] == [LIST]


@pytest.mark.parametrize(
    "event",
    [
        {"trigger_type": "APIG", "body": "{}"},
        {"record": [{"event_source": "obs", "obs": {}}]},
        {"record": []},
        {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "{}"}}]},
        {"trigger_type": "TIMER", "user_event": {"server_group_id": DEMO_GROUP_WITH_FAILURES}},
        "a string",
    ],
    ids=["apig", "obs-record", "no-records", "lambda-sns", "user-event-not-text", "not-an-object"],
)
def test_anything_else_is_an_invalid_event_and_no_request(platform: Platform, event: Any) -> None:
    result = platform.invoke(event)

    assert result["ok"] is False
    assert result["error"]["type"] == "invalid_event"
    assert platform.calls() == []


# --- logs ------------------------------------------------------------------------------------------


def test_every_log_line_carries_the_request_id_and_no_emf_is_printed(
    platform: Platform, capfd: pytest.CaptureFixture[str]
) -> None:
    platform.invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES})

    lines = platform.log_lines()
    assert lines
    assert {line["correlation_id"] for line in lines} == {REQUEST_ID}
    assert {line["platform"] for line in lines} == {"functiongraph"}
    out, _ = capfd.readouterr()
    assert "_aws" not in out
    assert "CloudWatchMetrics" not in out


def test_emf_metrics_when_asked_for(platform: Platform, capfd: pytest.CaptureFixture[str]) -> None:
    platform.monkeypatch.setenv("SDRS_FUNCTIONGRAPH_EMF_METRICS", "true")

    platform.invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES})

    out, _ = capfd.readouterr()
    [blob] = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert blob["FailedTasksDeleted"] == [3.0] or blob["FailedTasksDeleted"] == 3.0


def test_the_agency_secret_key_and_token_never_appear_in_results_or_logs(
    platform: Platform, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """DEBUG everywhere, every path: a success, a 401 (the emulator refusing a rotated key), a
    transient failure that raises. The agency's three values are searched for in everything."""
    caplog.set_level(logging.DEBUG)
    platform.monkeypatch.setenv("SDRS_MAX_ATTEMPTS", "2")
    agency = platform.agency
    assert agency is not None
    texts: list[str] = [json.dumps(platform.invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES}))]
    platform.state.inject(LIST, *[Fault(503, b"busy")] * 2)
    with pytest.raises(TransientFailure) as raised:
        platform.invoke(smn_event(json.dumps({"server_group_id": DEMO_GROUP_UNTOUCHED})))
    texts += [str(raised.value), repr(raised.value), json.dumps(raised.value.result)]
    issue_agency_credentials(platform.state)  # the context still lends the old ones: 401
    texts.append(json.dumps(platform.invoke({"server_group_id": DEMO_GROUP_UNTOUCHED})))
    out, err = capfd.readouterr()
    texts += [platform.logs.getvalue(), out, err, caplog.text, repr(platform.runtime.sdrs)]
    assert "signature" in texts[-5] or "401" in texts[-5]  # the 401 was logged: the capture is live
    for secret in (agency.access_key, agency.secret_key, agency.security_token):
        for text in texts:
            assert secret not in text


def test_the_state_of_one_invocation_does_not_leak_into_the_next(platform: Platform) -> None:
    platform.invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES})
    first = platform.log_lines()
    platform.logs.truncate(0)
    platform.logs.seek(0)
    platform.invoke({"server_group_id": DEMO_GROUP_UNTOUCHED})
    second = platform.log_lines()

    assert not any("server_group_id" in line and line["server_group_id"] == DEMO_GROUP_WITH_FAILURES for line in second)
    assert {line["cold_start"] for line in second} == {False}
    assert first


def test_the_sample_events_all_run(platform: Platform) -> None:
    """Every sample in events/functiongraph/ (the ones `sdrs-cleanup invoke --platform functiongraph` runs)."""
    platform.monkeypatch.setenv("SDRS_SERVER_GROUP_IDS", DEMO_GROUP_WITH_FAILURES)
    samples = sorted(SAMPLES.glob("*.json"))
    assert {path.name for path in samples} >= {"timer.json", "smn-direct.json", "smn-cloudeye-alarm.json"}
    for path in samples:
        platform.state.add_group(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES, failed_tasks=2)
        result = platform.invoke(json.loads(path.read_text()))
        assert result["ok"] is True, path.name
        assert outcomes(result) == {DEMO_GROUP_WITH_FAILURES: "deleted"}, path.name


def test_the_emulator_refuses_agency_credentials_it_has_replaced() -> None:
    """The test double itself: credentials it no longer knows are refused, so the tests above can fail."""
    state: EmulatorState = demo_state()
    issued = issue_agency_credentials(state)
    issue_agency_credentials(state)
    with SdrsEmulator(state) as emulator:
        env = {
            "SDRS_ENDPOINT": emulator.endpoint,
            "HUAWEICLOUD_SDK_AK": issued.access_key,
            "HUAWEICLOUD_SDK_SK": issued.secret_key,
            "HUAWEICLOUD_SDK_SECURITY_TOKEN": issued.security_token,
            "HUAWEICLOUD_SDK_PROJECT_ID": DEMO_PROJECT_ID,
        }
        factory = ClientFactory(sleep=lambda seconds: None)
        disposition = handle(Invocation({"server_group_id": DEMO_GROUP_WITH_FAILURES}, 30, env, Runtime(factory)))
        factory.close()
    assert disposition.body["groups"][0]["status_code"] == 401

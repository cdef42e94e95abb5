"""Events that must be refused, and configurations that must stop the function, before any
HTTP request: ok false, a typed error whose message says what is wrong, and no raise."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import respx

from handler.app import lambda_handler
from tests.event_model import alarm_message, eventbridge_event, scheduled_event, sns_event
from tests.fake_sdrs import GROUP_WITH_FAILURES, PROJECT_ID
from tests.helpers import change_env

INVALID_DIR = Path(__file__).resolve().parents[2] / "events" / "invalid"
INVALID_FILES = sorted(INVALID_DIR.glob("*.json"))
G = GROUP_WITH_FAILURES

# What each sample's message must name. A new sample without an entry is still checked
# for everything else.
INVALID_FILE_MESSAGES = {
    "cloudwatch-alarm-action-composite.json": "composite alarm",
    "dry-run-as-string.json": "dry_run",
    "empty-group-list.json": "server_group_ids",
    "list-instead-of-object.json": "JSON object",
    "no-group-ids.json": "server_group_id",
    "path-traversal-id.json": "server_group_id",
    "scheduled-event-with-payload.json": "detail",
    "sns-alarm-without-group-dimension.json": "ServerGroupId",
    "sns-message-not-json.json": "Sns.Message",
    "unknown-field.json": "force",
}


def many_ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=i + 1, version=4)) for i in range(n)]


def oversized_eventbridge_event() -> dict[str, Any]:
    """A well-formed custom event with a valid detail, only too big (> 256 KiB)."""
    event = eventbridge_event({"server_group_id": G})
    event["resources"] = [f"arn:aws:ec2:eu-west-1:123456789012:instance/i-{n:017x}" for n in range(5000)]
    assert len(json.dumps(event)) > 256 * 1024
    return event


def _without(event: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != key}


INLINE_CASES = [
    # identifiers that would change the URL path, or are not the canonical form
    pytest.param({"server_group_id": "../x"}, "server_group_id", id="id-dotdot"),
    pytest.param({"server_group_id": "%2F"}, "server_group_id", id="id-encoded-slash"),
    pytest.param({"server_group_id": f"{G}/../.."}, "server_group_id", id="id-uuid-then-traversal"),
    pytest.param({"server_group_id": f"{G}/failure-jobs"}, "server_group_id", id="id-with-slash"),
    pytest.param({"server_group_id": G.upper()}, "server_group_id", id="id-uppercase-uuid"),
    pytest.param({"server_group_id": G + "\n"}, "server_group_id", id="id-trailing-newline"),
    pytest.param({"server_group_id": " " + G}, "server_group_id", id="id-leading-space"),
    pytest.param({"server_group_id": G.replace("-", "")}, "server_group_id", id="id-uuid-without-dashes"),
    pytest.param({"server_group_id": ""}, "server_group_id", id="id-empty-string"),
    pytest.param({"server_group_ids": [G, "../x"]}, "server_group_ids.1", id="ids-second-bad"),
    pytest.param({"server_group_id": G, "project_id": PROJECT_ID[:-1]}, "project_id", id="project-31-chars"),
    pytest.param({"server_group_id": G, "project_id": PROJECT_ID + "0"}, "project_id", id="project-33-chars"),
    pytest.param({"server_group_id": G, "project_id": PROJECT_ID.upper()}, "project_id", id="project-uppercase"),
    pytest.param({"server_group_id": G, "project_id": "../" + PROJECT_ID[3:]}, "project_id", id="project-traversal"),
    pytest.param({"server_group_id": G, "project_id": 123}, "project_id", id="project-int"),
    # wrong types
    pytest.param({"server_group_id": 123}, "server_group_id", id="id-int"),
    pytest.param({"server_group_id": [G]}, "server_group_id", id="id-list"),
    pytest.param({"server_group_ids": {"a": G}}, "server_group_ids", id="ids-dict"),
    pytest.param({"server_group_ids": G}, "server_group_ids", id="ids-string"),
    pytest.param({"server_group_ids": [None]}, "server_group_ids.0", id="ids-null-item"),
    pytest.param({"server_group_ids": [1]}, "server_group_ids.0", id="ids-int-item"),
    # missing, null, contradictory
    pytest.param({}, "server_group_id", id="empty-object"),
    pytest.param({"server_group_id": None}, "server_group_id", id="id-null"),
    pytest.param({"server_group_ids": None}, "server_group_id", id="ids-null"),
    pytest.param({"server_group_ids": []}, "server_group_ids", id="ids-empty"),
    pytest.param({"server_group_id": G, "server_group_ids": [G]}, "exactly one", id="both-id-fields"),
    pytest.param({"server_group_ids": many_ids(101)}, "server_group_ids", id="101-ids"),
    pytest.param({"server_group_id": G, "serverGroupId": G}, "serverGroupId", id="unknown-field-camel-case"),
    # flags must be JSON booleans
    pytest.param({"server_group_id": G, "dry_run": "false"}, "dry_run", id="dry-run-string-false"),
    pytest.param({"server_group_id": G, "dry_run": "true"}, "dry_run", id="dry-run-string-true"),
    pytest.param({"server_group_id": G, "dry_run": 1}, "dry_run", id="dry-run-1"),
    pytest.param({"server_group_id": G, "dry_run": 0}, "dry_run", id="dry-run-0"),
    pytest.param({"server_group_id": G, "dry_run": None}, "dry_run", id="dry-run-null"),
    pytest.param(
        {"server_group_id": G, "raise_on_transient_failure": "true"},
        "raise_on_transient_failure",
        id="raise-flag-string",
    ),
    pytest.param(
        {"server_group_id": G, "raise_on_transient_failure": 1}, "raise_on_transient_failure", id="raise-flag-int"
    ),
    # not an object at all
    pytest.param([{"server_group_id": G}], "JSON object", id="list"),
    pytest.param(json.dumps({"server_group_id": G}), "JSON object", id="json-string"),
    pytest.param(G, "JSON object", id="bare-id-string"),
    pytest.param(42, "JSON object", id="int"),
    pytest.param(None, "JSON object", id="none"),
    pytest.param(True, "JSON object", id="bool"),
    # too big
    pytest.param(oversized_eventbridge_event(), "262144", id="oversized-256KiB"),
    # EventBridge
    pytest.param(scheduled_event({"server_group_id": G}), "detail", id="scheduled-with-detail"),
    pytest.param(scheduled_event(json.dumps({"server_group_id": G})), "detail", id="scheduled-with-string-detail"),
    pytest.param(scheduled_event([G]), "detail", id="scheduled-with-list-detail"),
    pytest.param(eventbridge_event([G]), "detail", id="eventbridge-detail-list"),
    pytest.param(eventbridge_event(G), "detail", id="eventbridge-detail-plain-string"),
    pytest.param(eventbridge_event(42), "detail", id="eventbridge-detail-int"),
    pytest.param(eventbridge_event(None), "detail", id="eventbridge-detail-null"),
    pytest.param(eventbridge_event({}), "server_group_id", id="eventbridge-detail-empty"),
    pytest.param(eventbridge_event({"server_group_id": "../x"}), "detail.server_group_id", id="eventbridge-bad-id"),
    pytest.param(eventbridge_event({"server_group_id": G, "extra": 1}), "extra", id="eventbridge-unknown-field"),
    pytest.param(_without(eventbridge_event({"server_group_id": G}), "id"), "id", id="eventbridge-envelope-no-id"),
    # SNS
    pytest.param({"Records": []}, "Records", id="sns-no-records"),
    pytest.param(sns_event("not json at all"), "Sns.Message", id="sns-message-text"),
    pytest.param(sns_event(""), "Sns.Message", id="sns-message-empty"),
    pytest.param(sns_event(json.dumps([G])), "JSON object", id="sns-message-json-list"),
    pytest.param(sns_event({"server_group_id": "../x"}), "server_group_id", id="sns-direct-bad-id"),
    pytest.param(sns_event({"server_group_id": G}, "oops"), "Records.1.Sns.Message", id="sns-second-record-bad"),
    pytest.param(
        {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0"}]}, "Records.0", id="sns-record-without-sns"
    ),
    pytest.param(sns_event(alarm_message("ALARM", {})), "ServerGroupId", id="alarm-no-dimensions"),
    pytest.param(
        sns_event(alarm_message("ALARM", {"ServerGroupId": "../../failure-jobs/batch"})),
        "protection group id",
        id="alarm-bad-group-dimension",
    ),
    pytest.param(
        sns_event(alarm_message("ALARM", {"ServerGroupId": G.upper()})),
        "protection group id",
        id="alarm-uppercase-group-dimension",
    ),
    pytest.param(
        sns_event(alarm_message("ALARM", {"ServerGroupId": G, "ProjectId": "not-a-project"})),
        "project id",
        id="alarm-bad-project-dimension",
    ),
    pytest.param(sns_event(alarm_message("BROKEN", {"ServerGroupId": G})), "NewStateValue", id="alarm-unknown-state"),
    # sweeps: all_server_groups is true or absent, and excludes naming groups
    pytest.param({"all_server_groups": False}, "all_server_groups", id="sweep-false"),
    pytest.param({"all_server_groups": "true"}, "all_server_groups", id="sweep-string"),
    pytest.param({"all_server_groups": 1}, "all_server_groups", id="sweep-int"),
    pytest.param({"all_server_groups": True, "server_group_id": G}, "exactly one", id="sweep-and-id"),
    pytest.param({"all_server_groups": True, "server_group_ids": [G]}, "exactly one", id="sweep-and-ids"),
    pytest.param({"all_server_groups": True, "project_id": "../x"}, "project_id", id="sweep-bad-project"),
    pytest.param(eventbridge_event({"all_server_groups": False}), "all_server_groups", id="eventbridge-sweep-false"),
    # max_failed_tasks: a strict int, 0 .. 1 000 000
    pytest.param({"server_group_id": G, "max_failed_tasks": -1}, "max_failed_tasks", id="max-tasks-negative"),
    pytest.param({"server_group_id": G, "max_failed_tasks": 1_000_001}, "max_failed_tasks", id="max-tasks-too-big"),
    pytest.param({"server_group_id": G, "max_failed_tasks": "10"}, "max_failed_tasks", id="max-tasks-string"),
    pytest.param({"server_group_id": G, "max_failed_tasks": 10.0}, "max_failed_tasks", id="max-tasks-float"),
    pytest.param({"server_group_id": G, "max_failed_tasks": True}, "max_failed_tasks", id="max-tasks-bool"),
    # several SNS records merge only plain group lists that agree on dry_run
    pytest.param(
        sns_event({"server_group_id": G}, {"all_server_groups": True}), "SNS event of its own", id="sns-sweep-of-two"
    ),
    pytest.param(
        sns_event({"server_group_id": G}, {"server_group_id": G, "max_failed_tasks": 5}),
        "SNS event of its own",
        id="sns-max-tasks-of-two",
    ),
    pytest.param(
        sns_event({"server_group_id": G}, {"server_group_id": G, "dry_run": True}), "dry_run", id="sns-dry-run-disagree"
    ),
    pytest.param(
        sns_event(alarm_message("ALARM", {"ServerGroupId": G}), {"server_group_id": G, "dry_run": True}),
        "dry_run",
        id="sns-alarm-and-dry-run",
    ),
    # other event sources (SQS is accepted: tests/unit/test_sqs.py)
    pytest.param({"Records": [{"eventSource": "aws:s3"}]}, "aws:s3", id="s3"),
    pytest.param({"Records": [{"EventSource": "aws:kinesis"}]}, "aws:kinesis", id="kinesis"),
    pytest.param({"Records": "not a list"}, "Records", id="records-not-a-list"),
]


def assert_refused(result: dict[str, Any], error_type: str, fragment: str, router: respx.Router) -> None:
    assert result["ok"] is False
    assert result["groups"] == []
    assert result["error"]["type"] == error_type
    assert result["error"]["retryable"] is False
    assert fragment in result["error"]["message"], result["error"]["message"]
    assert result["summary"]["groups_found"] == 0
    assert router.calls.call_count == 0


@pytest.mark.parametrize("path", INVALID_FILES, ids=[p.name for p in INVALID_FILES])
def test_invalid_sample(path: Path, sdrs_env: dict[str, str], sdrs_api: respx.Router, lambda_context: Any) -> None:
    result = lambda_handler(json.loads(path.read_text()), lambda_context)
    assert_refused(result, "invalid_event", INVALID_FILE_MESSAGES.get(path.name, ""), sdrs_api)
    assert len(result["error"]["message"]) > 10


@pytest.mark.parametrize(("event", "fragment"), INLINE_CASES)
def test_invalid_event(
    event: Any, fragment: str, sdrs_env: dict[str, str], sdrs_api: respx.Router, lambda_context: Any
) -> None:
    result = lambda_handler(event, lambda_context)
    assert_refused(result, "invalid_event", fragment, sdrs_api)


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"project_id": PROJECT_ID}, id="direct-no-ids"),
        pytest.param({}, id="direct-empty"),
        pytest.param({"dry_run": True}, id="direct-only-dry-run"),
        pytest.param(eventbridge_event({}), id="eventbridge-empty-detail"),
        pytest.param(sns_event({}), id="sns-empty-message"),
    ],
)
def test_configured_groups_serve_only_scheduled_events(
    event: Any,
    sdrs_env: dict[str, str],
    sdrs_api: respx.Router,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SDRS_SERVER_GROUP_IDS", G)
    result = lambda_handler(event, lambda_context)
    assert_refused(result, "invalid_event", "server_group_id", sdrs_api)


def test_invalid_event_in_dry_run_is_still_invalid(
    sdrs_env: dict[str, str], sdrs_api: respx.Router, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDRS_DRY_RUN", "true")
    result = lambda_handler({"server_group_id": "../x"}, lambda_context)
    assert_refused(result, "invalid_event", "server_group_id", sdrs_api)


# --- configuration ---------------------------------------------------------------------

DIRECT = {"server_group_id": G}
DIRECT_WITH_PROJECT = {"server_group_id": G, "project_id": PROJECT_ID}
ALARM_WITHOUT_PROJECT = sns_event(alarm_message("ALARM", {"ServerGroupId": G}))

CONFIGURATION_CASES = [
    pytest.param({"HUAWEICLOUD_SDK_PROJECT_ID": None}, DIRECT, "HUAWEICLOUD_SDK_PROJECT_ID", id="no-project-direct"),
    pytest.param(
        {"HUAWEICLOUD_SDK_PROJECT_ID": None},
        eventbridge_event({"server_group_id": G}),
        "HUAWEICLOUD_SDK_PROJECT_ID",
        id="no-project-eventbridge",
    ),
    pytest.param(
        {"HUAWEICLOUD_SDK_PROJECT_ID": None}, ALARM_WITHOUT_PROJECT, "HUAWEICLOUD_SDK_PROJECT_ID", id="no-project-alarm"
    ),
    pytest.param(
        {"HUAWEICLOUD_SDK_PROJECT_ID": None, "SDRS_SERVER_GROUP_IDS": G},
        scheduled_event(),
        "HUAWEICLOUD_SDK_PROJECT_ID",
        id="no-project-scheduled",
    ),
    pytest.param({}, scheduled_event(), "SDRS_SERVER_GROUP_IDS", id="scheduled-without-configured-groups"),
    pytest.param(
        {"SDRS_SERVER_GROUP_IDS": " , "}, scheduled_event(), "SDRS_SERVER_GROUP_IDS", id="scheduled-blank-groups"
    ),
    pytest.param(
        {"SDRS_SERVER_GROUP_IDS": f"{G},../x"}, scheduled_event(), "SDRS_SERVER_GROUP_IDS", id="bad-configured-group"
    ),
    pytest.param(
        {"HUAWEICLOUD_SDK_PROJECT_ID": PROJECT_ID.upper()},
        DIRECT_WITH_PROJECT,
        "HUAWEICLOUD_SDK_PROJECT_ID",
        id="bad-default-project",
    ),
    pytest.param(
        {"HUAWEICLOUD_SDK_AK": None, "HUAWEICLOUD_SDK_SK": None}, DIRECT, "HUAWEICLOUD_SDK_AK", id="no-credentials"
    ),
    pytest.param({"HUAWEICLOUD_SDK_SK": None}, DIRECT, "HUAWEICLOUD_SDK_SK", id="no-secret-key"),
    pytest.param({"HUAWEICLOUD_SDK_AK": "  "}, DIRECT, "HUAWEICLOUD_SDK_AK", id="blank-access-key"),
    pytest.param(
        {"HUAWEICLOUD_SDK_AK": None, "HUAWEICLOUD_SDK_SK": None},
        ALARM_WITHOUT_PROJECT,
        "HUAWEICLOUD_SDK_AK",
        id="no-credentials-alarm",
    ),
    pytest.param({"SDRS_ENDPOINT": "http://example.com"}, DIRECT, "https", id="endpoint-plain-http"),
    pytest.param({"SDRS_ENDPOINT": "https://h/path"}, DIRECT, "path", id="endpoint-with-path"),
    pytest.param({"SDRS_ENDPOINT": "https://h/?x=1"}, DIRECT, "query", id="endpoint-with-query"),
    pytest.param({"SDRS_ENDPOINT": "https://user:pw@h"}, DIRECT, "user info", id="endpoint-with-userinfo"),
    pytest.param({"SDRS_ENDPOINT": "ftp://h"}, DIRECT, "https", id="endpoint-ftp"),
    pytest.param({"SDRS_ENDPOINT": "sdrs.cn-north-4.myhuaweicloud.com"}, DIRECT, "https", id="endpoint-no-scheme"),
    pytest.param({"SDRS_REGION": "cn_north_4"}, DIRECT, "SDRS_REGION", id="region-underscores"),
    pytest.param({"SDRS_REGION": "CN-NORTH-4"}, DIRECT, "SDRS_REGION", id="region-uppercase"),
    pytest.param({"SDRS_REGION": "cn-north-4.evil.com/x"}, DIRECT, "SDRS_REGION", id="region-host-injection"),
    pytest.param({"SDRS_REGION": None}, DIRECT, "SDRS_REGION", id="no-region-no-endpoint"),
    pytest.param({"SDRS_DRY_RUN": "maybe"}, DIRECT, "SDRS_DRY_RUN", id="dry-run-flag-unparseable"),
    pytest.param({"SDRS_MAX_ATTEMPTS": "0"}, DIRECT, "SDRS_MAX_ATTEMPTS", id="max-attempts-zero"),
    pytest.param({"SDRS_READ_TIMEOUT": "soon"}, DIRECT, "SDRS_READ_TIMEOUT", id="read-timeout-not-a-number"),
    # sweeps and their settings
    pytest.param(
        {"HUAWEICLOUD_SDK_PROJECT_ID": None},
        {"all_server_groups": True},
        "HUAWEICLOUD_SDK_PROJECT_ID",
        id="sweep-no-project",
    ),
    pytest.param(
        {"HUAWEICLOUD_SDK_PROJECT_ID": None, "SDRS_SERVER_GROUP_IDS": "all"},
        scheduled_event(),
        "HUAWEICLOUD_SDK_PROJECT_ID",
        id="scheduled-sweep-no-project",
    ),
    pytest.param(
        {"HUAWEICLOUD_SDK_AK": None, "HUAWEICLOUD_SDK_SK": None},
        {"all_server_groups": True},
        "HUAWEICLOUD_SDK_AK",
        id="sweep-no-credentials",
    ),
    pytest.param({"SDRS_MAX_FAILED_TASKS": "-1"}, DIRECT, "SDRS_MAX_FAILED_TASKS", id="max-failed-tasks-negative"),
    pytest.param({"SDRS_MAX_FAILED_TASKS": "2.5"}, DIRECT, "SDRS_MAX_FAILED_TASKS", id="max-failed-tasks-fraction"),
    pytest.param({"SDRS_MAX_CONCURRENCY": "0"}, DIRECT, "SDRS_MAX_CONCURRENCY", id="max-concurrency-zero"),
    pytest.param({"SDRS_MAX_CONCURRENCY": "65"}, DIRECT, "SDRS_MAX_CONCURRENCY", id="max-concurrency-65"),
    pytest.param({"SDRS_PAGE_SIZE": "0"}, DIRECT, "SDRS_PAGE_SIZE", id="page-size-zero"),
    pytest.param({"SDRS_PAGE_SIZE": "1001"}, DIRECT, "SDRS_PAGE_SIZE", id="page-size-1001"),
    pytest.param(
        {"SDRS_GROUP_START_MARGIN_SECONDS": "-1"}, DIRECT, "SDRS_GROUP_START_MARGIN_SECONDS", id="start-margin-negative"
    ),
    pytest.param(
        {"SDRS_DEADLINE_MARGIN_SECONDS": "soon"}, DIRECT, "SDRS_DEADLINE_MARGIN_SECONDS", id="deadline-margin-word"
    ),
    pytest.param({"SDRS_SERVER_GROUP_IDS": "all,../x"}, scheduled_event(), "SDRS_SERVER_GROUP_IDS", id="all-and-more"),
]


@pytest.mark.parametrize(("env", "event", "fragment"), CONFIGURATION_CASES)
def test_configuration_problem(
    env: dict[str, str | None],
    event: Any,
    fragment: str,
    sdrs_env: dict[str, str],
    sdrs_api: respx.Router,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    change_env(monkeypatch, env)
    result = lambda_handler(event, lambda_context)
    assert_refused(result, "configuration", fragment, sdrs_api)


def test_loopback_http_endpoint_is_accepted_for_local_runs(
    sdrs_env: dict[str, str], sdrs_api: respx.Router, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counterpart of endpoint-plain-http: the one http endpoint allowed is loopback."""
    monkeypatch.setenv("SDRS_ENDPOINT", "http://127.0.0.1:8443")
    sdrs_api.route(host="127.0.0.1", port=8443).respond(200, json={"count": 0, "failure_jobs": []})
    result = lambda_handler(DIRECT, lambda_context)
    assert result["error"] is None
    assert [g["outcome"] for g in result["groups"]] == ["nothing_to_delete"]
    assert [str(c.request.url.copy_with(query=None)) for c in sdrs_api.calls] == [
        f"http://127.0.0.1:8443/v1/{PROJECT_ID}/task-center/failure-jobs"
    ]


@pytest.mark.parametrize(
    ("event", "where"),
    [
        pytest.param(eventbridge_event({}), "detail", id="eventbridge-no-ids"),
        pytest.param(
            eventbridge_event({"server_group_id": G, "server_group_ids": [G]}), "detail", id="eventbridge-both"
        ),
        pytest.param(eventbridge_event([G]), "detail", id="eventbridge-detail-list"),
        pytest.param(sns_event({"project_id": PROJECT_ID}), "Records.0.Sns.Message", id="sns-no-ids"),
        pytest.param(sns_event(json.dumps([G])), "Records.0.Sns.Message", id="sns-message-list"),
    ],
)
def test_nested_problem_reads_as_location_then_problem(
    event: Any, where: str, sdrs_env: dict[str, str], sdrs_api: respx.Router, lambda_context: Any
) -> None:
    """A problem with the whole nested object must not read as a field of it:
    'detail.name the protection groups ...' names a field 'name' that does not exist."""
    result = lambda_handler(event, lambda_context)
    message = result["error"]["message"]
    assert_refused(result, "invalid_event", where, sdrs_api)
    after = message.split(where, 1)[1]
    assert not after.startswith((".name", ". ")), message

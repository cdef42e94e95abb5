"""Every sample event, end to end through lambda_handler, against the in-memory SDRS API.

Expectations are written out by hand from each event's content (SAMPLES, SQS_SAMPLES and
the tests' own `Expect`s) and from what the fake API answered, never from the code under
test nor from a second reading of the event."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from handler.app import lambda_handler
from tests.event_model import (
    alarm_message,
    eventbridge_event,
    group_requests,
    scheduled_event,
    sns_event,
    sweep_listing_requests,
)
from tests.fake_sdrs import (
    ACCESS_KEY,
    GROUP_CLEAN,
    GROUP_MANY_FAILURES,
    GROUP_SCHEDULED,
    GROUP_UNTOUCHED,
    GROUP_WITH_FAILURES,
    OTHER_PROJECT_ID,
    PROJECT_ID,
    PROJECT_WIDE_DELETE_PATH_RE,
    SDRS_HOST,
    SEEDED_GROUPS,
    FakeSdrs,
    SeenRequest,
    group_delete_path,
    list_path,
    make_failure_jobs,
)

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
ALL_SAMPLES = sorted(EVENTS_DIR.glob("*.json"))
SCHEDULED_IDS = (GROUP_SCHEDULED, GROUP_CLEAN)  # SDRS_SERVER_GROUP_IDS in the sample tests
P = PROJECT_ID


@dataclass(frozen=True)
class Expect:
    """What a valid event must make the function do, written by hand from the event."""

    trigger: str
    targets: list[tuple[str, str]]  # (project_id, server_group_id), in the order reported
    dry_run: bool = False
    # A sweep of this project: then `targets` is empty, the groups are the ones the API lists.
    sweep: str | None = None


# One row per events/*.json that is not an SQS batch, read off the file: the ids it names (the
# default project PROJECT_ID where it names none); for a scheduled event with no payload, the
# configured SCHEDULED_IDS; an alarm not in state ALARM names no target.
SAMPLES: dict[str, Expect] = {
    "cloudwatch-alarm-action.json": Expect("cloudwatch_alarm", [(P, GROUP_WITH_FAILURES)]),
    "cloudwatch-alarm-action-ok.json": Expect("cloudwatch_alarm", []),  # state OK
    "cloudwatch-alarm-action-metric-math.json": Expect(  # metrics m1 and m2 of the expression
        "cloudwatch_alarm", [(P, GROUP_WITH_FAILURES), (P, GROUP_CLEAN)]
    ),
    "direct.json": Expect("direct", [(P, GROUP_WITH_FAILURES)]),
    "direct-dry-run.json": Expect("direct", [(P, GROUP_WITH_FAILURES), (P, GROUP_CLEAN)], dry_run=True),
    "direct-several-groups.json": Expect(
        "direct", [(P, GROUP_WITH_FAILURES), (P, GROUP_CLEAN), (P, GROUP_MANY_FAILURES)]
    ),
    "direct-sweep.json": Expect("direct", [], sweep=P),
    "eventbridge-alarm-state-change.json": Expect("eventbridge_alarm", [(P, GROUP_WITH_FAILURES)]),
    "eventbridge-custom.json": Expect("eventbridge", [(P, GROUP_WITH_FAILURES)]),
    "eventbridge-scheduled.json": Expect("eventbridge_scheduled", [(P, GROUP_SCHEDULED), (P, GROUP_CLEAN)]),
    "eventbridge-scheduled-no-version.json": Expect("eventbridge_scheduled", [(P, GROUP_SCHEDULED), (P, GROUP_CLEAN)]),
    "eventbridge-scheduler-default.json": Expect("eventbridge_scheduled", [(P, GROUP_SCHEDULED), (P, GROUP_CLEAN)]),
    "scheduler-input.json": Expect("direct", [(P, GROUP_WITH_FAILURES), (P, GROUP_CLEAN)]),
    "scheduler-input-with-context.json": Expect("direct", [(P, GROUP_WITH_FAILURES), (P, GROUP_CLEAN)]),
    "sns-alarm.json": Expect("sns_alarm", [(P, GROUP_WITH_FAILURES)]),
    "sns-alarm-insufficient-data.json": Expect("sns_alarm", []),
    "sns-alarm-metric-math.json": Expect("sns_alarm", [(P, GROUP_WITH_FAILURES)]),  # metric m1
    "sns-alarm-ok.json": Expect("sns_alarm", []),
    "sns-direct.json": Expect("sns", [(P, GROUP_WITH_FAILURES)]),
}


@dataclass(frozen=True)
class Record:
    """What one SQS record must do, written by hand from its body: the groups it names, in
    order, and of those the ones deleted (the fake holds failed tasks for them); or
    `invalid`, reported and not redelivered."""

    targets: list[tuple[str, str]]
    deleted: list[str]
    dry_run: bool = False
    invalid: bool = False


# One row per SQS batch in events/: message id -> its record's expectation, in record order.
SQS_SAMPLES: dict[str, dict[str, Record]] = {
    "sqs-batch.json": {
        "2e1424d4-f796-459a-8184-9c92662be6da": Record([(P, GROUP_WITH_FAILURES)], [GROUP_WITH_FAILURES]),
        "7a3f9c21-0b4e-4d8a-9f61-3c5e2b7d8a10": Record([(P, GROUP_CLEAN)], [], dry_run=True),
        "c80e8021-a70a-42c7-a470-796e1186f753": Record([], [], invalid=True),  # "../../failure-jobs/batch"
    },
    "sqs-raw-alarm.json": {  # the body is the alarm message itself (raw delivery)
        "059f36b4-87a3-44ab-83d2-661975830a7d": Record([(P, GROUP_CLEAN)], []),
    },
    "sqs-sns-envelope.json": {  # the bodies are SNS envelopes: a direct request, then an alarm
        "79406a00-bf15-46ca-978c-22c3613fcb30": Record([(P, GROUP_WITH_FAILURES)], [GROUP_WITH_FAILURES]),
        "2e1424d4-f796-459a-8184-9c92662be6da": Record([(P, GROUP_CLEAN)], []),
    },
    "sqs-sns-envelope-fifo.json": {
        "69bc4bbd-ed69-4325-a434-85c3b428ceab": Record([(P, GROUP_WITH_FAILURES)], [GROUP_WITH_FAILURES]),
    },
}

AUTHORIZATION = re.compile(
    rf"SDK-HMAC-SHA256 Access={re.escape(ACCESS_KEY)}, "
    r"SignedHeaders=host;x-project-id;x-sdk-date, Signature=[0-9a-f]{64}"
)
RESULT_KEYS = {"ok", "trigger", "dry_run", "groups", "error", "summary"}
SUMMARY_KEYS = {
    "groups_found",
    "deleted",
    "nothing_to_delete",
    "would_delete",
    "failed",
    "deferred",
    "held",
    "failed_tasks_deleted",
}
EMPTY_SUMMARY = dict.fromkeys(SUMMARY_KEYS, 0)
GROUP_KEYS = {
    "project_id",
    "server_group_id",
    "outcome",
    "failure_jobs",
    "status_code",
    "request_id",
    "attempts",
    "error",
}


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def assert_signed_for(request: SeenRequest, project_id: str) -> None:
    assert request.headers["X-Project-Id"] == project_id
    assert request.headers["Host"] == SDRS_HOST
    assert AUTHORIZATION.fullmatch(request.headers["Authorization"]), request.headers["Authorization"]
    stamped = datetime.strptime(request.headers["X-Sdk-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - stamped) < timedelta(minutes=5)
    # The fake verified the signature with its own implementation: a bad one gets 401.
    assert request.status in (200, 204), f"{request.method} {request.path} answered {request.status}"


def assert_never_project_wide(fake: FakeSdrs, untouched_may_change: bool = False) -> None:
    """No project-wide delete; and GROUP_UNTOUCHED, named by no event, kept its failed tasks
    (unless the invocation was a real sweep of its project, which legitimately clears it)."""
    assert fake.project_wide_deletes == []
    assert not any(r.method == "DELETE" and PROJECT_WIDE_DELETE_PATH_RE.fullmatch(r.path) for r in fake.requests)
    if not untouched_may_change:
        untouched = make_failure_jobs(SEEDED_GROUPS[GROUP_UNTOUCHED], GROUP_UNTOUCHED)
        assert fake.failure_jobs(PROJECT_ID, GROUP_UNTOUCHED) == untouched


def expected_summary(jobs: list[list[dict[str, Any]]], dry_run: bool) -> dict[str, int]:
    """The summary of a fully successful run over groups holding these failed tasks."""
    with_tasks = [j for j in jobs if j]
    return {
        **EMPTY_SUMMARY,
        "groups_found": len(jobs),
        "nothing_to_delete": len(jobs) - len(with_tasks),
        "would_delete": len(with_tasks) if dry_run else 0,
        "deleted": 0 if dry_run else len(with_tasks),
        "failed_tasks_deleted": 0 if dry_run else sum(len(j) for j in with_tasks),
    }


def _key(call: tuple[str, str, dict[str, str]]) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    method, path, query = call
    return method, path, tuple(sorted(query.items()))


def assert_phases(fake: FakeSdrs, want_calls: list[tuple[str, str, dict[str, str]]], sweep_project: str | None) -> None:
    """The requests sent, phase by phase. Groups are audited and deleted concurrently, so the
    order between groups is free; but exactly the wanted requests are sent, each group's
    pages come in order, the sweep's first listing page comes first and all listing pages
    precede the audits, and every audit precedes the first DELETE."""
    sent = [(r.method, r.path, r.query) for r in fake.requests]
    assert sorted(map(_key, sent)) == sorted(map(_key, want_calls))
    kinds = [r.kind for r in fake.requests]
    listing = [i for i, k in enumerate(kinds) if k == "server_groups"]
    audits = [i for i, k in enumerate(kinds) if k == "failure_jobs"]
    deletes = [i for i, k in enumerate(kinds) if k == "delete"]
    if sweep_project is not None:
        assert fake.requests[listing[0]].offset == 0
        assert not audits or max(listing) < min(audits)
    if audits and deletes:
        assert max(audits) < min(deletes)
    for group in {c[2]["server_group_id"] for c in want_calls if "server_group_id" in c[2]}:
        pages = [c for c in sent if c[2].get("server_group_id") == group]
        assert pages == [c for c in want_calls if c[2].get("server_group_id") == group]


def check_invocation(
    fake: FakeSdrs,
    result: dict[str, Any],
    expected_trigger: str,
    targets: tuple[tuple[str, str], ...],
    dry_run: bool,
    jobs_before: dict[tuple[str, str], list[dict[str, Any]]],
    sweep_project: str | None = None,
) -> None:
    """The requests sent and the result returned for a successful invocation."""
    assert set(result) == RESULT_KEYS
    assert result["ok"] is True
    assert result["error"] is None
    assert result["trigger"] == expected_trigger
    assert result["dry_run"] is dry_run
    assert result["summary"] == expected_summary([jobs_before[t] for t in targets], dry_run)

    want_calls = [c for t in targets for c in group_requests(*t, len(jobs_before[t]), dry_run)]
    if sweep_project is not None:
        want_calls = sweep_listing_requests(sweep_project, len(targets)) + want_calls
    assert_phases(fake, want_calls, sweep_project)
    for request in fake.requests:
        project = re.match(r"/v1/([^/]+)/", request.path)
        assert project is not None
        assert_signed_for(request, project[1])
        if request.method == "GET":  # sent in canonical (sorted) order, as signed
            assert request.raw_query == "&".join(f"{k}={v}" for k, v in sorted(request.query.items()))

    assert [(g["project_id"], g["server_group_id"]) for g in result["groups"]] == list(targets)
    for group in result["groups"]:
        target = (group["project_id"], group["server_group_id"])
        jobs = jobs_before[target]
        seen = [r for r in fake.requests if r.path.startswith(f"/v1/{target[0]}/") and r.server_group_id == target[1]]
        assert set(group) == GROUP_KEYS
        assert group["failure_jobs"] == jobs
        assert group["error"] is None
        assert group["request_id"] == seen[-1].request_id
        if not jobs:
            assert (group["outcome"], group["status_code"], group["attempts"]) == ("nothing_to_delete", 200, 0)
            assert fake.failure_jobs(*target) == []
        elif dry_run:
            assert (group["outcome"], group["status_code"], group["attempts"]) == ("would_delete", 200, 0)
            assert fake.failure_jobs(*target) == jobs
        else:
            assert (group["outcome"], group["status_code"], group["attempts"]) == ("deleted", 204, 1)
            assert fake.failure_jobs(*target) == []
    assert_never_project_wide(fake, untouched_may_change=sweep_project == PROJECT_ID and not dry_run)


def invoke_and_check(fake: FakeSdrs, context: Any, event: Any, expect: Expect) -> dict[str, Any]:
    targets = tuple(expect.targets)
    assert len(set(targets)) == len(targets), "an expectation names each group once"
    if expect.sweep is not None:  # every group the API lists, sorted by id
        assert not targets
        targets = tuple((expect.sweep, gid) for gid in sorted(item["id"] for item in fake.server_groups(expect.sweep)))
        assert targets, "a sweep sample should find groups"
    before = {t: fake.failure_jobs(*t) for t in targets}
    result = lambda_handler(event, context)
    check_invocation(fake, result, expect.trigger, targets, expect.dry_run, before, expect.sweep)
    return result


@pytest.fixture
def scheduled_env(sdrs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    monkeypatch.setenv("SDRS_SERVER_GROUP_IDS", ",".join(SCHEDULED_IDS))
    return SCHEDULED_IDS


def test_every_sample_file_has_exactly_one_row() -> None:
    """A new sample without a row (or a row whose sample is gone) fails here."""
    names = [p.name for p in ALL_SAMPLES]
    assert not set(SAMPLES) & set(SQS_SAMPLES)
    assert sorted([*SAMPLES, *SQS_SAMPLES]) == names
    for name, rows in SQS_SAMPLES.items():  # one row per record, in the batch's order
        assert [r["messageId"] for r in load(EVENTS_DIR / name)["Records"]] == list(rows), name


def test_there_are_samples_for_every_documented_trigger() -> None:
    triggers = {e.trigger for e in SAMPLES.values()}
    assert triggers == {
        "direct",
        "eventbridge",
        "eventbridge_scheduled",
        "eventbridge_alarm",
        "cloudwatch_alarm",
        "sns",
        "sns_alarm",
    }
    assert any(e.sweep for e in SAMPLES.values()), "a sweep sample"
    assert any(e.dry_run for e in SAMPLES.values()), "a dry-run sample"
    assert any(not e.targets and not e.sweep for e in SAMPLES.values()), "an alarm leaving ALARM"
    assert SQS_SAMPLES, "an SQS batch sample"
    assert any(r.invalid for rows in SQS_SAMPLES.values() for r in rows.values()), "an invalid SQS record"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_event(name: str, scheduled_env: tuple[str, ...], fake_sdrs: FakeSdrs, lambda_context: Any) -> None:
    invoke_and_check(fake_sdrs, lambda_context, load(EVENTS_DIR / name), SAMPLES[name])


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_event_with_forced_dry_run_deletes_nothing(
    name: str,
    scheduled_env: tuple[str, ...],
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SDRS_DRY_RUN", "true")
    before = dict(fake_sdrs.jobs)
    expect = replace(SAMPLES[name], dry_run=True)
    result = invoke_and_check(fake_sdrs, lambda_context, load(EVENTS_DIR / name), expect)
    assert result["dry_run"] is True
    assert fake_sdrs.calls("DELETE") == []
    assert {k: fake_sdrs.jobs[k] for k in before} == before


@pytest.mark.parametrize("name", sorted(SQS_SAMPLES))
def test_sqs_sample(name: str, sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any) -> None:
    """Each SQS sample through lambda_handler: every record does what its row says, and
    nothing goes back to the queue (an invalid body is reported, not redelivered)."""
    rows = SQS_SAMPLES[name]
    before = {t: fake_sdrs.failure_jobs(*t) for row in rows.values() for t in row.targets}

    response = lambda_handler(load(EVENTS_DIR / name), lambda_context)

    assert set(response) == {"batchItemFailures", "ok", "trigger", "records"}
    assert response["batchItemFailures"] == []
    assert response["trigger"] == "sqs"
    assert response["ok"] is not any(row.invalid for row in rows.values())
    assert [r["message_id"] for r in response["records"]] == list(rows)
    want_calls = []
    for record in response["records"]:
        row = rows[record["message_id"]]
        assert record["trigger"] == "sqs"
        if row.invalid:
            assert (record["ok"], record["error"]["type"], record["groups"]) == (False, "invalid_event", [])
            continue
        assert (record["ok"], record["error"], record["dry_run"]) == (True, None, row.dry_run)
        assert [(g["project_id"], g["server_group_id"]) for g in record["groups"]] == row.targets
        for group in record["groups"]:
            target = (group["project_id"], group["server_group_id"])
            jobs = before[target]
            assert set(group) == GROUP_KEYS
            assert group["failure_jobs"] == jobs
            assert group["error"] is None
            if target[1] in row.deleted:
                assert jobs, f"{target} should hold failed tasks to delete"
                assert (group["outcome"], group["status_code"], group["attempts"]) == ("deleted", 204, 1)
                assert fake_sdrs.failure_jobs(*target) == []
            else:
                assert group["outcome"] == ("would_delete" if jobs and row.dry_run else "nothing_to_delete")
                assert fake_sdrs.failure_jobs(*target) == jobs
        assert record["summary"] == expected_summary([before[t] for t in row.targets], row.dry_run)
        want_calls += [c for t in row.targets for c in group_requests(*t, len(before[t]), row.dry_run)]
    deleted = [(P, gid) for row in rows.values() for gid in row.deleted]
    assert [(r.method, r.path) for r in fake_sdrs.calls("DELETE")] == [
        ("DELETE", group_delete_path(*t)) for t in deleted
    ]
    assert [(r.method, r.path, r.query) for r in fake_sdrs.requests] == want_calls  # records in order
    for request in fake_sdrs.requests:
        assert_signed_for(request, P)
    assert_never_project_wide(fake_sdrs)


@pytest.mark.parametrize("name", ["sns-alarm-ok.json", "sns-alarm-insufficient-data.json"])
def test_alarm_leaving_alarm_state_calls_nothing(
    name: str, sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    result = lambda_handler(load(EVENTS_DIR / name), lambda_context)
    assert result == {
        "ok": True,
        "trigger": "sns_alarm",
        "dry_run": False,
        "groups": [],
        "error": None,
        "summary": EMPTY_SUMMARY,
    }
    assert fake_sdrs.requests == []


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_non_alarm_states_call_nothing_even_without_credentials(
    state: str, sdrs_env: dict[str, str], sdrs_api: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUAWEICLOUD_SDK_AK")
    monkeypatch.delenv("HUAWEICLOUD_SDK_SK")
    event = sns_event(alarm_message(state, {"ServerGroupId": GROUP_WITH_FAILURES}))
    result = lambda_handler(event, lambda_context)
    assert (result["ok"], result["groups"], result["error"]) == (True, [], None)
    assert sdrs_api.calls.call_count == 0


@pytest.mark.parametrize(
    ("failed_tasks", "offsets"),
    [(0, [0]), (1, [0]), (999, [0]), (1000, [0]), (1001, [0, 1000]), (1205, [0, 1000]), (2000, [0, 1000])],
)
def test_listing_reads_every_page(
    failed_tasks: int,
    offsets: list[int],
    sdrs_env: dict[str, str],
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
) -> None:
    group = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    jobs = fake_sdrs.add_group(PROJECT_ID, group, failed_tasks)
    result = lambda_handler({"server_group_id": group}, lambda_context)

    gets = fake_sdrs.calls("GET")
    assert [r.query for r in gets] == [
        {"server_group_id": group, "limit": "1000", "offset": str(offset)} for offset in offsets
    ]
    assert len(fake_sdrs.calls("DELETE")) == (1 if failed_tasks else 0)
    (only,) = result["groups"]
    assert only["failure_jobs"] == jobs
    assert len({j["job_id"] for j in only["failure_jobs"]}) == failed_tasks
    assert only["outcome"] == ("deleted" if failed_tasks else "nothing_to_delete")


def test_group_with_1205_failed_tasks(sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any) -> None:
    jobs = fake_sdrs.failure_jobs(PROJECT_ID, GROUP_MANY_FAILURES)
    assert len(jobs) == 1205
    result = invoke_and_check(
        fake_sdrs,
        lambda_context,
        {"server_group_id": GROUP_MANY_FAILURES},
        Expect("direct", [(P, GROUP_MANY_FAILURES)]),
    )
    assert [(r.method, r.query.get("offset")) for r in fake_sdrs.requests] == [
        ("GET", "0"),
        ("GET", "1000"),
        ("DELETE", None),
    ]
    assert result["groups"][0]["failure_jobs"] == jobs
    assert result["groups"][0]["request_id"] == fake_sdrs.requests[-1].request_id


def test_dry_run_lists_but_deletes_nothing(sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any) -> None:
    jobs = fake_sdrs.failure_jobs(PROJECT_ID, GROUP_WITH_FAILURES)
    result = invoke_and_check(
        fake_sdrs,
        lambda_context,
        {"server_group_id": GROUP_WITH_FAILURES, "dry_run": True},
        Expect("direct", [(P, GROUP_WITH_FAILURES)], dry_run=True),
    )
    assert result["groups"][0]["outcome"] == "would_delete"
    assert result["groups"][0]["failure_jobs"] == jobs
    assert fake_sdrs.calls("DELETE") == []
    assert fake_sdrs.failure_jobs(PROJECT_ID, GROUP_WITH_FAILURES) == jobs


def test_group_without_failed_tasks_is_not_deleted(
    sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    result = invoke_and_check(
        fake_sdrs, lambda_context, {"server_group_id": GROUP_CLEAN}, Expect("direct", [(P, GROUP_CLEAN)])
    )
    assert result["groups"][0]["outcome"] == "nothing_to_delete"
    assert [r.method for r in fake_sdrs.requests] == ["GET"]


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes"])
def test_sdrs_dry_run_env_forces_a_dry_run(
    value: str, sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDRS_DRY_RUN", value)
    event = {"server_group_ids": [GROUP_WITH_FAILURES, GROUP_MANY_FAILURES], "dry_run": False}
    result = invoke_and_check(
        fake_sdrs,
        lambda_context,
        event,
        Expect("direct", [(P, GROUP_WITH_FAILURES), (P, GROUP_MANY_FAILURES)], dry_run=True),  # the env wins
    )
    assert [g["outcome"] for g in result["groups"]] == ["would_delete", "would_delete"]
    assert fake_sdrs.calls("DELETE") == []


@pytest.mark.parametrize("value", ["false", "0", "no", ""])
def test_sdrs_dry_run_env_false_deletes(
    value: str, sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDRS_DRY_RUN", value)
    result = invoke_and_check(
        fake_sdrs,
        lambda_context,
        {"server_group_id": GROUP_WITH_FAILURES},
        Expect("direct", [(P, GROUP_WITH_FAILURES)]),
    )
    assert result["groups"][0]["outcome"] == "deleted"


@pytest.mark.parametrize("detail", [{}, "{}", None], ids=["object", "string", "null"])
def test_scheduled_event_cleans_the_configured_groups(
    detail: Any, sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spaces, a repeat and a trailing comma are tolerated; each group is cleaned once.
    monkeypatch.setenv("SDRS_SERVER_GROUP_IDS", f" {GROUP_SCHEDULED} ,{GROUP_MANY_FAILURES},{GROUP_SCHEDULED},")
    event = scheduled_event()
    event["detail"] = detail
    result = invoke_and_check(
        fake_sdrs,
        lambda_context,
        event,
        Expect("eventbridge_scheduled", [(P, GROUP_SCHEDULED), (P, GROUP_MANY_FAILURES)]),
    )
    assert result["trigger"] == "eventbridge_scheduled"
    assert [g["server_group_id"] for g in result["groups"]] == [GROUP_SCHEDULED, GROUP_MANY_FAILURES]
    assert {g["project_id"] for g in result["groups"]} == {PROJECT_ID}


@pytest.mark.parametrize(
    ("event", "trigger"),
    [
        pytest.param({"server_group_id": GROUP_WITH_FAILURES}, "direct", id="direct"),
        pytest.param(eventbridge_event({"server_group_id": GROUP_WITH_FAILURES}), "eventbridge", id="eventbridge"),
        pytest.param(sns_event({"server_group_id": GROUP_WITH_FAILURES}), "sns", id="sns"),
        pytest.param(
            sns_event(alarm_message("ALARM", {"ServerGroupId": GROUP_WITH_FAILURES})), "sns_alarm", id="alarm"
        ),
    ],
)
def test_project_defaults_to_huaweicloud_sdk_project_id(
    event: dict[str, Any],
    trigger: str,
    sdrs_env: dict[str, str],
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", OTHER_PROJECT_ID)
    target = (OTHER_PROJECT_ID, GROUP_WITH_FAILURES)  # the event names no project
    jobs = fake_sdrs.failure_jobs(*target)
    result = lambda_handler(event, lambda_context)
    check_invocation(fake_sdrs, result, trigger, (target,), False, {target: jobs})
    assert {r.headers["X-Project-Id"] for r in fake_sdrs.requests} == {OTHER_PROJECT_ID}
    assert fake_sdrs.failure_jobs(PROJECT_ID, GROUP_WITH_FAILURES) == make_failure_jobs(
        SEEDED_GROUPS[GROUP_WITH_FAILURES], GROUP_WITH_FAILURES
    )


@pytest.mark.parametrize(
    ("event", "trigger"),
    [
        pytest.param({"server_group_id": GROUP_WITH_FAILURES, "project_id": OTHER_PROJECT_ID}, "direct", id="direct"),
        pytest.param(
            eventbridge_event({"server_group_id": GROUP_WITH_FAILURES, "project_id": OTHER_PROJECT_ID}),
            "eventbridge",
            id="eventbridge",
        ),
        pytest.param(
            sns_event(alarm_message("ALARM", {"ServerGroupId": GROUP_WITH_FAILURES, "ProjectId": OTHER_PROJECT_ID})),
            "sns_alarm",
            id="alarm-dimension",
        ),
    ],
)
def test_project_named_by_the_event_wins_over_the_default(
    event: dict[str, Any], trigger: str, sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    result = invoke_and_check(
        fake_sdrs, lambda_context, event, Expect(trigger, [(OTHER_PROJECT_ID, GROUP_WITH_FAILURES)])
    )
    assert result["groups"][0]["project_id"] == OTHER_PROJECT_ID
    assert {r.headers["X-Project-Id"] for r in fake_sdrs.requests} == {OTHER_PROJECT_ID}
    assert fake_sdrs.calls("DELETE")[0].path == group_delete_path(OTHER_PROJECT_ID, GROUP_WITH_FAILURES)
    # the default project's group of the same id is left alone
    assert len(fake_sdrs.failure_jobs(PROJECT_ID, GROUP_WITH_FAILURES)) == SEEDED_GROUPS[GROUP_WITH_FAILURES]


def test_project_default_is_not_needed_when_the_event_names_one(
    sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUAWEICLOUD_SDK_PROJECT_ID")
    result = invoke_and_check(
        fake_sdrs,
        lambda_context,
        {"server_group_id": GROUP_WITH_FAILURES, "project_id": PROJECT_ID},
        Expect("direct", [(P, GROUP_WITH_FAILURES)]),
    )
    assert result["groups"][0]["outcome"] == "deleted"


def test_eventbridge_detail_as_json_string(sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any) -> None:
    event = eventbridge_event(json.dumps({"server_group_id": GROUP_WITH_FAILURES, "dry_run": True}))
    result = invoke_and_check(
        fake_sdrs, lambda_context, event, Expect("eventbridge", [(P, GROUP_WITH_FAILURES)], dry_run=True)
    )
    assert (result["trigger"], result["dry_run"], result["groups"][0]["outcome"]) == (
        "eventbridge",
        True,
        "would_delete",
    )


def test_repeated_group_ids_are_cleaned_once(
    sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    event = {"server_group_ids": [GROUP_WITH_FAILURES, GROUP_CLEAN, GROUP_WITH_FAILURES]}
    result = invoke_and_check(
        fake_sdrs, lambda_context, event, Expect("direct", [(P, GROUP_WITH_FAILURES), (P, GROUP_CLEAN)])
    )
    assert [g["server_group_id"] for g in result["groups"]] == [GROUP_WITH_FAILURES, GROUP_CLEAN]
    assert len(fake_sdrs.calls("DELETE")) == 1


def test_sns_with_several_records_cleans_every_named_group(
    sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    event = sns_event(
        {"server_group_id": GROUP_WITH_FAILURES},
        {"server_group_ids": [GROUP_MANY_FAILURES, GROUP_WITH_FAILURES]},
    )
    result = invoke_and_check(
        fake_sdrs, lambda_context, event, Expect("sns", [(P, GROUP_WITH_FAILURES), (P, GROUP_MANY_FAILURES)])
    )
    assert [g["server_group_id"] for g in result["groups"]] == [GROUP_WITH_FAILURES, GROUP_MANY_FAILURES]
    # each group deleted once (concurrently: in no particular order)
    assert sorted(r.path for r in fake_sdrs.calls("DELETE")) == sorted(
        [group_delete_path(PROJECT_ID, GROUP_WITH_FAILURES), group_delete_path(PROJECT_ID, GROUP_MANY_FAILURES)]
    )


def test_sns_records_may_agree_on_a_dry_run(sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any) -> None:
    event = sns_event(
        {"server_group_id": GROUP_WITH_FAILURES, "dry_run": True},
        {"server_group_ids": [GROUP_CLEAN], "dry_run": True},
    )
    result = invoke_and_check(
        fake_sdrs, lambda_context, event, Expect("sns", [(P, GROUP_WITH_FAILURES), (P, GROUP_CLEAN)], dry_run=True)
    )
    assert [g["outcome"] for g in result["groups"]] == ["would_delete", "nothing_to_delete"]
    assert fake_sdrs.calls("DELETE") == []


def test_every_request_goes_to_the_regional_endpoint_and_lists_by_group(
    sdrs_env: dict[str, str], fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    lambda_handler(load(EVENTS_DIR / "direct-several-groups.json"), lambda_context)
    assert fake_sdrs.requests, "the sample names groups with failed tasks"
    for request in fake_sdrs.requests:
        assert request.headers["Host"] == SDRS_HOST
        if request.method == "GET":
            assert request.path == list_path(PROJECT_ID)
            assert "server_group_id" in request.query
    assert_never_project_wide(fake_sdrs)

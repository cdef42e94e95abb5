"""Sweeps ({"all_server_groups": true}, or a scheduled rule with SDRS_SERVER_GROUP_IDS=all),
end to end through lambda_handler against the in-memory SDRS API: discovery and its paging
edges, sorting, ids the API should never have listed, the safety brake, dry runs, the
deadline (with a fake clock, so every case is exact) and bounded concurrency.

Expectations come from the groups the test gave the fake API, never from the code under test.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from handler.app import TransientFailure, lambda_handler
from handler.core import Runtime
from tests.conftest import ManualClock
from tests.event_model import eventbridge_event, group_requests, scheduled_event, sns_event
from tests.fake_sdrs import (
    GROUP_WITH_FAILURES,
    PROJECT_ID,
    SWEEP_PROJECT_ID,
    FakeSdrs,
    request_kind,
    server_group_item,
    server_groups_path,
    sweep_group_ids,
)

P = SWEEP_PROJECT_ID
SWEEP: dict[str, Any] = {"all_server_groups": True}
UNAVAILABLE = {"error_code": "APIGW.0202", "error_msg": "The API is unavailable", "request_id": "x"}
FORBIDDEN = {"error": {"code": "SDRS.0403", "message": "Policy doesn't allow sdrs:serverGroup:list"}}
SDRS_1013 = {"error": {"code": "SDRS.1013", "message": "The protection group is in an invalid state"}}


@pytest.fixture
def env(sdrs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> pytest.MonkeyPatch:
    """The sweep project is the default project; returns monkeypatch to set more."""
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", P)
    monkeypatch.setenv("SDRS_MAX_ATTEMPTS", "2")
    return monkeypatch


def project(fake: FakeSdrs, tasks: list[int], seed: str = "sweep") -> dict[str, list[dict[str, Any]]]:
    """Groups of the sweep project with these numbers of failed tasks, listed by the fake in
    this (unsorted) order. Returns id -> failed tasks."""
    return fake.add_project(P, dict(zip(sweep_group_ids(len(tasks), seed), tasks, strict=True)))


def project_sorted(fake: FakeSdrs, tasks: list[int]) -> list[str]:
    """Groups whose *sorted* ids hold these failed tasks (listed by the fake in reverse
    order). Returns the ids, sorted."""
    ids = sorted(sweep_group_ids(len(tasks), "sorted"))
    for gid, n in reversed(list(zip(ids, tasks, strict=True))):
        fake.add_group(P, gid, n)
    assert [item["id"] for item in fake.server_groups(P)] == ids[::-1]
    return ids


def outcomes(result: dict[str, Any]) -> list[str]:
    """Each group's outcome, in the result's order."""
    return [g["outcome"] for g in result["groups"]]


def summary(**counts: int) -> dict[str, int]:
    keys = ("groups_found", "deleted", "nothing_to_delete", "would_delete", "failed", "deferred", "held")
    return {**dict.fromkeys(keys, 0), "failed_tasks_deleted": 0, **counts}


def emf_metrics(stdout: str) -> dict[str, Any]:
    """The metrics of every EMF document printed (Powertools Metrics flushes one per invocation)."""
    found: dict[str, Any] = {}
    for line in stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc:
            for directive in doc["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    found[metric["Name"]] = doc[metric["Name"]]
    return found


def check_clean_sweep(
    fake: FakeSdrs, result: dict[str, Any], before: dict[str, list[dict[str, Any]]], dry_run: bool = False
) -> None:
    """A sweep that went well: every listed group, sorted by id, audited once, deleted if it
    had failed tasks (unless a dry run), and a summary that adds up."""
    ids = sorted(before)
    assert (result["ok"], result["error"], result["dry_run"]) == (True, None, dry_run)
    assert [(g["project_id"], g["server_group_id"]) for g in result["groups"]] == [(P, gid) for gid in ids]
    with_tasks = [gid for gid in ids if before[gid]]
    for group in result["groups"]:
        jobs = before[group["server_group_id"]]
        assert group["failure_jobs"] == jobs
        assert group["error"] is None
        if not jobs:
            assert group["outcome"] == "nothing_to_delete"
        else:
            assert group["outcome"] == ("would_delete" if dry_run else "deleted")
            assert fake.failure_jobs(P, group["server_group_id"]) == ([] if not dry_run else jobs)
    audited = sorted(r.server_group_id or "" for r in fake.calls("GET", kind="failure_jobs") if r.offset == 0)
    assert audited == ids  # every group once, nothing else
    deleted = sorted(r.server_group_id or "" for r in fake.calls("DELETE"))
    assert deleted == ([] if dry_run else with_tasks)
    assert result["summary"] == summary(
        groups_found=len(ids),
        nothing_to_delete=len(ids) - len(with_tasks),
        deleted=0 if dry_run else len(with_tasks),
        would_delete=len(with_tasks) if dry_run else 0,
        failed_tasks_deleted=0 if dry_run else sum(len(before[g]) for g in with_tasks),
    )
    assert fake.project_wide_deletes == []


# --- discovery paging ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "page_size", "offsets"),
    [
        pytest.param(0, None, [0], id="no-groups"),
        pytest.param(3, None, [0], id="one-page"),
        pytest.param(5, 5, [0], id="exactly-one-full-page"),
        pytest.param(10, 5, [0, 5], id="count-a-multiple-of-the-page"),
        pytest.param(12, 5, [0, 5, 10], id="count-not-a-multiple"),
        pytest.param(4, 1, [0, 1, 2, 3], id="page-of-one"),
    ],
)
def test_discovery_reads_every_page_and_no_more(
    runtime: Runtime,
    groups: int,
    page_size: int | None,
    offsets: list[int],
    env: pytest.MonkeyPatch,
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
) -> None:
    if page_size is not None:
        env.setenv("SDRS_PAGE_SIZE", str(page_size))
    limit = page_size or 1000
    before = project(fake_sdrs, [(i * 3) % 7 for i in range(groups)])  # 0, 3, 6, 2, 5, 1, 4, 0, ...

    result = lambda_handler(SWEEP, lambda_context, runtime=runtime)

    listing = fake_sdrs.calls("GET", kind="server_groups")
    assert fake_sdrs.listing_offsets(P) == offsets
    assert {r.path for r in listing} == {server_groups_path(P)}
    assert all(r.query["limit"] == str(limit) for r in listing)
    assert listing[0].offset == 0  # the first page tells the count: it comes first
    check_clean_sweep(fake_sdrs, result, before)
    # each group's failed tasks are listed with the same page size, every page in order
    for gid, jobs in before.items():
        pages = [(r.method, r.path, r.query) for r in fake_sdrs.calls(server_group_id=gid)]
        assert pages == group_requests(P, gid, len(jobs), dry_run=False, page_size=limit)
    if groups == 0:
        assert result["groups"] == []
        assert result["summary"] == summary()
        assert fake_sdrs.calls(kind="failure_jobs") == []
        assert fake_sdrs.calls("DELETE") == []


def test_server_giving_less_than_the_limit_is_followed(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    """The server may cap its pages below the limit asked for: the sweep steps by what it got."""
    fake_sdrs.server_groups_page_cap = 4
    before = project(fake_sdrs, [1] * 10)
    result = lambda_handler(SWEEP, lambda_context, runtime=runtime)
    assert fake_sdrs.listing_offsets(P) == [0, 4, 8]
    check_clean_sweep(fake_sdrs, result, before)


@pytest.mark.parametrize("offset", [0, 5, 10])
def test_a_page_failing_once_is_retried_and_the_sweep_completes(
    runtime: Runtime,
    offset: int,
    env: pytest.MonkeyPatch,
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
    sleeps: list[float],
) -> None:
    env.setenv("SDRS_PAGE_SIZE", "5")
    before = project(fake_sdrs, [2, 0, 1] * 4)
    fake_sdrs.fail("GET", 503, body=UNAVAILABLE, kind="server_groups", offset=offset, times=1)

    result = lambda_handler(SWEEP, lambda_context, runtime=runtime)

    assert fake_sdrs.listing_offsets(P) == sorted([0, 5, 10, offset])
    assert [r.status for r in fake_sdrs.calls("GET", kind="server_groups") if r.offset == offset] == [503, 200]
    assert len(sleeps) == 1
    check_clean_sweep(fake_sdrs, result, before)


def test_sweep_result_is_sorted_by_id_whatever_the_listing_order(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    env.setenv("SDRS_PAGE_SIZE", "3")
    before = project(fake_sdrs, [1, 0, 2, 0, 3, 0, 4, 0])
    listed = [item["id"] for item in fake_sdrs.server_groups(P)]
    assert listed != sorted(listed)
    result = lambda_handler(SWEEP, lambda_context, runtime=runtime)
    assert [g["server_group_id"] for g in result["groups"]] == sorted(listed)
    check_clean_sweep(fake_sdrs, result, before)
    assert result["summary"]["failed_tasks_deleted"] == 1 + 2 + 3 + 4


# --- discovery failures ---------------------------------------------------------------------


def assert_discovery_failed(fake: FakeSdrs, result: dict[str, Any], fragment: str, retryable: bool) -> None:
    assert (result["ok"], result["groups"], result["summary"]) == (False, [], summary())
    assert result["error"]["type"] == "discovery_failed"
    assert result["error"]["retryable"] is retryable
    assert P in result["error"]["message"]
    assert fragment in result["error"]["message"], result["error"]["message"]
    assert fake.calls(kind="failure_jobs") == []  # nothing audited, nothing deleted
    assert fake.calls("DELETE") == []


@pytest.mark.parametrize("change", [+1, -1], ids=["group-added", "group-removed"])
def test_listing_whose_count_changes_mid_read_fails_discovery(
    runtime: Runtime, change: int, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    env.setenv("SDRS_PAGE_SIZE", "5")
    before = project(fake_sdrs, [1] * 12)
    extra = sweep_group_ids(1, "late")[0]

    def while_reading(project_id: str, offset: int) -> None:
        if offset == 5 and project_id == P and len(fake_sdrs.server_groups(P)) == 12:
            if change > 0:
                fake_sdrs.add_group(P, extra, 1)
            else:
                del fake_sdrs.jobs[(P, sorted(before)[0])]

    fake_sdrs.on_server_groups_page = while_reading
    result = lambda_handler(SWEEP, lambda_context, runtime=runtime)
    assert_discovery_failed(fake_sdrs, result, "changed while it was read", retryable=True)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param({"count": 3, "server_groups": []}, "first page is empty", id="first-page-empty"),
        pytest.param(
            {"count": 1, "server_groups": [server_group_item(g) for g in sweep_group_ids(2, "x")]},
            "changed while it was read",
            id="more-listed-than-counted",
        ),
        pytest.param({"server_groups": []}, "server_groups", id="no-count"),
        pytest.param({"count": 2, "server_groups": "two"}, "server_groups", id="groups-not-a-list"),
    ],
)
def test_inconsistent_or_malformed_first_page_fails_discovery(
    runtime: Runtime,
    body: dict[str, Any],
    fragment: str,
    env: pytest.MonkeyPatch,
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
) -> None:
    project(fake_sdrs, [1, 2, 3])
    fake_sdrs.fail("GET", 200, body=body, kind="server_groups", offset=0)
    result = lambda_handler(SWEEP, lambda_context, runtime=runtime)
    assert_discovery_failed(fake_sdrs, result, fragment, retryable=True)


def test_forbidden_listing_fails_discovery_for_good(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any, sleeps: list[float]
) -> None:
    project(fake_sdrs, [1, 2])
    fake_sdrs.fail("GET", 403, body=FORBIDDEN, kind="server_groups")
    # permanent: not retried, and even a timer sweep does not raise
    env.setenv("SDRS_SERVER_GROUP_IDS", "all")
    result = lambda_handler(scheduled_event(), lambda_context, runtime=runtime)
    assert_discovery_failed(fake_sdrs, result, "SDRS.0403", retryable=False)
    assert len(fake_sdrs.calls(kind="server_groups")) == 1
    assert sleeps == []


def test_listing_failing_transiently_raises_even_for_a_timer_sweep(
    runtime: Runtime,
    env: pytest.MonkeyPatch,
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Deferred groups of a timer sweep wait for the next run; a discovery that failed
    transiently is a retryable error of the whole event, and raises for async triggers."""
    project(fake_sdrs, [1, 2])
    fake_sdrs.fail("GET", 503, body=UNAVAILABLE, kind="server_groups")
    env.setenv("SDRS_SERVER_GROUP_IDS", "all")
    with pytest.raises(TransientFailure) as raised:
        lambda_handler(scheduled_event(), lambda_context, runtime=runtime)
    assert "retries the event" in str(raised.value)
    assert_discovery_failed(fake_sdrs, raised.value.result, "APIGW.0202", retryable=True)
    assert len(fake_sdrs.calls(kind="server_groups")) == 2  # SDRS_MAX_ATTEMPTS
    assert emf_metrics(capsys.readouterr().out)["DiscoveryFailures"] == [1.0]
    # the same sweep asked for directly returns its failure
    direct = lambda_handler(SWEEP, lambda_context, runtime=runtime)
    assert_discovery_failed(fake_sdrs, direct, "APIGW.0202", retryable=True)


def test_ids_that_are_not_uuids_are_reported_and_never_requested(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    good = sweep_group_ids(3, "good")
    for n, gid in enumerate(good):
        fake_sdrs.add_group(P, gid, n)
    bad_items = [
        {**server_group_item(good[0]), "id": "../../failure-jobs/batch"},
        {**server_group_item(good[0]), "id": good[1].upper()},
        {**server_group_item(good[0]), "id": good[2] + "/x"},
        {"name": "a group without an id"},
        {"id": 42},
    ]
    fake_sdrs.listings[P] = [server_group_item(good[2]), bad_items[0], server_group_item(good[0])]
    fake_sdrs.listings[P] += [*bad_items[1:], server_group_item(good[1])]
    bad_ids = {"../../failure-jobs/batch", good[1].upper(), good[2] + "/x", "None", "42"}

    result = lambda_handler(SWEEP, lambda_context, runtime=runtime)

    groups = result["groups"]
    assert [g["server_group_id"] for g in groups[:3]] == sorted(good)  # the usable ones, sorted
    # good[n] had n failed tasks
    assert [g["outcome"] for g in groups[:3]] == [
        "deleted" if good.index(gid) else "nothing_to_delete" for gid in sorted(good)
    ]
    unusable = groups[3:]
    assert {g["server_group_id"] for g in unusable} == bad_ids
    for group in unusable:
        assert (group["outcome"], group["project_id"], group["failure_jobs"]) == ("failed", P, [])
        assert (group["error"]["code"], group["error"]["retryable"]) == ("Response.Invalid", False)
        assert (group["status_code"], group["attempts"]) == (None, 0)
    # never in a URL: only the listing and the usable groups were requested
    for request in fake_sdrs.requests:
        assert request.kind in ("server_groups", "failure_jobs", "delete")
        assert request.server_group_id in (None, *good)
        for bad in bad_ids - {"None", "42"}:
            assert bad not in request.path
            assert bad not in request.raw_query
    assert sorted(r.server_group_id or "" for r in fake_sdrs.calls("DELETE")) == sorted(good[1:])
    assert result["ok"] is False
    assert (result["error"]["type"], result["error"]["retryable"]) == ("group_failures", False)
    assert result["summary"] == summary(
        groups_found=8, deleted=2, nothing_to_delete=1, failed=5, failed_tasks_deleted=1 + 2
    )


def test_permanent_failures_of_a_timer_sweep_do_not_raise_transient_ones_do(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    env.setenv("SDRS_SERVER_GROUP_IDS", "all")
    ids = project_sorted(fake_sdrs, [1, 2, 3, 0])
    fake_sdrs.fail("DELETE", 400, body=SDRS_1013, server_group_id=ids[0])

    result = lambda_handler(scheduled_event(), lambda_context, runtime=runtime)  # permanent only: returns

    assert outcomes(result) == ["failed", "deleted", "deleted", "nothing_to_delete"]
    assert result["summary"] == summary(
        groups_found=4, deleted=2, nothing_to_delete=1, failed=1, failed_tasks_deleted=2 + 3
    )
    assert ids[0] in result["error"]["message"]

    fake_sdrs.add_group(P, ids[1], 2)
    fake_sdrs.fail("DELETE", 503, body=UNAVAILABLE, server_group_id=ids[1])
    with pytest.raises(TransientFailure) as raised:
        lambda_handler(scheduled_event(), lambda_context, runtime=runtime)
    again = raised.value.result
    assert outcomes(again) == ["failed", "failed", "nothing_to_delete", "nothing_to_delete"]
    assert [g["error"]["retryable"] for g in again["groups"][:2]] == [False, True]
    assert ids[1] in str(raised.value)


# --- the safety brake -------------------------------------------------------------------------

BRAKE_TASKS = [3, 0, 4, 2, 0]  # 9 failed tasks in 3 of 5 groups


def check_held(fake: FakeSdrs, result: dict[str, Any], ids: list[str], limit: int, dry_run: bool = False) -> None:
    total = sum(BRAKE_TASKS)
    assert (result["ok"], result["dry_run"]) == (False, dry_run)
    assert (result["error"]["type"], result["error"]["retryable"]) == ("safety_brake", False)
    assert str(total) in result["error"]["message"]
    assert str(limit) in result["error"]["message"]
    assert fake.calls("DELETE") == []
    assert [g["server_group_id"] for g in result["groups"]] == ids
    for group, tasks in zip(result["groups"], BRAKE_TASKS, strict=True):
        jobs = fake.failure_jobs(P, group["server_group_id"])
        assert len(jobs) == tasks  # nothing deleted
        assert group["failure_jobs"] == jobs  # but every failed task found is reported
        if tasks:
            assert group["outcome"] == "held"
            assert (group["error"]["code"], group["error"]["retryable"]) == ("SafetyBrake.Tripped", False)
        else:
            assert (group["outcome"], group["error"]) == ("nothing_to_delete", None)
    held = sum(1 for t in BRAKE_TASKS if t)
    assert result["summary"] == summary(groups_found=len(ids), held=held, nothing_to_delete=len(ids) - held)


@pytest.mark.parametrize("dry_run", [False, True], ids=["real", "dry-run"])
def test_brake_trips_above_the_limit_and_deletes_nothing(
    runtime: Runtime,
    dry_run: bool,
    env: pytest.MonkeyPatch,
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env.setenv("SDRS_MAX_FAILED_TASKS", str(sum(BRAKE_TASKS) - 1))
    ids = project_sorted(fake_sdrs, BRAKE_TASKS)

    result = lambda_handler({**SWEEP, "dry_run": dry_run}, lambda_context, runtime=runtime)

    check_held(fake_sdrs, result, ids, sum(BRAKE_TASKS) - 1, dry_run)
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["SafetyBrakeTripped"] == [1.0]
    assert metrics["FailedTasksDeleted"] == [0.0]
    assert metrics["GroupsProcessed"] == [float(len(BRAKE_TASKS))]


def test_brake_held_timer_sweep_returns_instead_of_raising(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    """Retrying would trip the brake again: a held sweep never raises."""
    env.setenv("SDRS_SERVER_GROUP_IDS", "all")
    env.setenv("SDRS_MAX_FAILED_TASKS", "5")
    ids = project_sorted(fake_sdrs, BRAKE_TASKS)
    result = lambda_handler(scheduled_event(), lambda_context, runtime=runtime)
    assert result["trigger"] == "eventbridge_scheduled"
    check_held(fake_sdrs, result, ids, 5)


def test_brake_allows_exactly_the_limit(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    env.setenv("SDRS_MAX_FAILED_TASKS", str(sum(BRAKE_TASKS)))
    ids = project_sorted(fake_sdrs, BRAKE_TASKS)
    before = {gid: fake_sdrs.failure_jobs(P, gid) for gid in ids}
    result = lambda_handler(SWEEP, lambda_context, runtime=runtime)
    check_clean_sweep(fake_sdrs, result, before)


@pytest.mark.parametrize(
    ("configured", "requested", "trips"),
    [
        pytest.param(None, None, False, id="default-2000"),
        pytest.param("5", 9, False, id="request-raises-the-limit-to-exactly-the-total"),
        pytest.param("5", 8, True, id="request-raises-it-not-enough"),
        pytest.param(None, 8, True, id="request-lowers-the-limit"),
        pytest.param("100", 0, True, id="request-zero-trips-on-any-task"),
        pytest.param("0", 1_000_000, False, id="request-the-largest"),
    ],
)
def test_max_failed_tasks_in_the_request_overrides_the_setting(
    runtime: Runtime,
    configured: str | None,
    requested: int | None,
    trips: bool,
    env: pytest.MonkeyPatch,
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
) -> None:
    if configured is not None:
        env.setenv("SDRS_MAX_FAILED_TASKS", configured)
    ids = project_sorted(fake_sdrs, BRAKE_TASKS)
    before = {gid: fake_sdrs.failure_jobs(P, gid) for gid in ids}
    request = SWEEP if requested is None else {**SWEEP, "max_failed_tasks": requested}
    result = lambda_handler(request, lambda_context, runtime=runtime)
    if trips:
        limit = requested if requested is not None else int(configured or 2000)
        check_held(fake_sdrs, result, ids, limit)
    else:
        check_clean_sweep(fake_sdrs, result, before)


def test_brake_also_guards_named_groups(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    jobs = fake_sdrs.failure_jobs(PROJECT_ID, GROUP_WITH_FAILURES)
    assert len(jobs) == 3
    event = {"server_group_id": GROUP_WITH_FAILURES, "project_id": PROJECT_ID, "max_failed_tasks": 2}
    result = lambda_handler(event, lambda_context, runtime=runtime)
    (group,) = result["groups"]
    assert (group["outcome"], group["failure_jobs"]) == ("held", jobs)
    assert result["error"]["type"] == "safety_brake"
    assert fake_sdrs.calls("DELETE") == []
    result = lambda_handler({**event, "max_failed_tasks": 3}, lambda_context, runtime=runtime)
    assert (result["ok"], result["groups"][0]["outcome"]) == (True, "deleted")


def test_brake_counts_only_groups_it_could_audit(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    """A group whose listing failed has no known tasks: it neither trips the brake nor is held."""
    env.setenv("SDRS_MAX_FAILED_TASKS", "6")
    ids = project_sorted(fake_sdrs, BRAKE_TASKS)  # 9 tasks; 7 without the group of 2
    fake_sdrs.fail("GET", 403, body=FORBIDDEN, server_group_id=ids[3])
    result = lambda_handler(SWEEP, lambda_context, runtime=runtime)
    assert outcomes(result) == ["held", "nothing_to_delete", "held", "failed", "nothing_to_delete"]
    assert result["error"]["type"] == "safety_brake"
    assert fake_sdrs.calls("DELETE") == []
    env.setenv("SDRS_MAX_FAILED_TASKS", "7")
    result = lambda_handler(SWEEP, lambda_context, runtime=runtime)
    assert outcomes(result) == ["deleted", "nothing_to_delete", "deleted", "failed", "nothing_to_delete"]
    assert result["error"]["type"] == "group_failures"


# --- dry run ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["request", "SDRS_DRY_RUN"])
def test_dry_run_sweep_lists_what_a_real_sweep_deletes(
    runtime: Runtime, how: str, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    env.setenv("SDRS_PAGE_SIZE", "4")
    before = project(fake_sdrs, [0, 2, 5, 0, 1, 0, 3, 0, 0, 7])
    if how == "SDRS_DRY_RUN":
        env.setenv("SDRS_DRY_RUN", "true")
        dry = lambda_handler({**SWEEP, "dry_run": False}, lambda_context, runtime=runtime)
        env.setenv("SDRS_DRY_RUN", "false")
    else:
        dry = lambda_handler({**SWEEP, "dry_run": True}, lambda_context, runtime=runtime)
    check_clean_sweep(fake_sdrs, dry, before, dry_run=True)
    would = {g["server_group_id"]: g["failure_jobs"] for g in dry["groups"] if g["outcome"] == "would_delete"}
    assert fake_sdrs.calls("DELETE") == []
    assert {gid: fake_sdrs.failure_jobs(P, gid) for gid in before} == before

    real = lambda_handler(SWEEP, lambda_context, runtime=runtime)
    deleted = {g["server_group_id"]: g["failure_jobs"] for g in real["groups"] if g["outcome"] == "deleted"}
    assert deleted == would
    assert [(g["server_group_id"], g["outcome"] == "deleted") for g in real["groups"]] == [
        (g["server_group_id"], g["outcome"] == "would_delete") for g in dry["groups"]
    ]
    assert real["summary"]["failed_tasks_deleted"] == sum(len(j) for j in would.values()) == 2 + 5 + 1 + 3 + 7


# --- every trigger can sweep ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "trigger"),
    [
        pytest.param(SWEEP, "direct", id="direct"),
        pytest.param({**SWEEP, "project_id": P}, "direct", id="direct-with-project"),
        pytest.param({**SWEEP, "raise_on_transient_failure": True}, "direct", id="scheduler-input"),
        pytest.param(eventbridge_event(SWEEP), "eventbridge", id="eventbridge"),
        pytest.param(eventbridge_event(json.dumps({**SWEEP, "project_id": P})), "eventbridge", id="eventbridge-str"),
        pytest.param(sns_event({**SWEEP, "max_failed_tasks": 100}), "sns", id="sns-single-record"),
        pytest.param(scheduled_event(), "eventbridge_scheduled", id="scheduled-all"),
    ],
)
def test_every_trigger_can_sweep(
    runtime: Runtime,
    event: dict[str, Any],
    trigger: str,
    env: pytest.MonkeyPatch,
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
) -> None:
    env.setenv("SDRS_SERVER_GROUP_IDS", "ALL")  # case-insensitive
    before = project(fake_sdrs, [1, 0, 2])
    result = lambda_handler(event, lambda_context, runtime=runtime)
    assert result["trigger"] == trigger
    assert fake_sdrs.listing_offsets(P) == [0]  # every event here sweeps project P (the default)
    check_clean_sweep(fake_sdrs, result, before)
    assert {r.headers["X-Project-Id"] for r in fake_sdrs.requests} == {P}


def test_sweep_of_a_named_project_leaves_the_default_project_alone(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    env.setenv("HUAWEICLOUD_SDK_PROJECT_ID", PROJECT_ID)
    before = project(fake_sdrs, [2, 3])
    seeded = {key: list(jobs) for key, jobs in fake_sdrs.jobs.items() if key[0] == PROJECT_ID}
    result = lambda_handler({**SWEEP, "project_id": P}, lambda_context, runtime=runtime)
    check_clean_sweep(fake_sdrs, result, before)
    assert {key: fake_sdrs.jobs[key] for key in seeded} == seeded
    assert fake_sdrs.listing_offsets(PROJECT_ID) == []


def test_all_in_the_setting_does_not_widen_other_events(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    """SDRS_SERVER_GROUP_IDS=all makes scheduled events sweep; an event naming a group still
    touches that group only."""
    env.setenv("SDRS_SERVER_GROUP_IDS", "all")
    before = project(fake_sdrs, [2, 3])
    named = sorted(before)[0]
    result = lambda_handler(eventbridge_event({"server_group_id": named}), lambda_context, runtime=runtime)
    assert [(g["server_group_id"], g["outcome"]) for g in result["groups"]] == [(named, "deleted")]
    assert fake_sdrs.calls(kind="server_groups") == []
    assert [r.server_group_id for r in fake_sdrs.calls("DELETE")] == [named]


# --- the deadline -----------------------------------------------------------------------------


@pytest.fixture
def clock(env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, handler_clock: ManualClock) -> ManualClock:
    """Every request takes one second of the handler's (manual) time; one request at a
    time, so which group starts when is exact. The margins are set explicitly (they win over the
    budget judged from call times, tests/unit/test_budget.py), and sweeps start at the first group."""
    env.setenv("SDRS_MAX_CONCURRENCY", "1")
    env.setenv("SDRS_GROUP_START_MARGIN_SECONDS", "5")
    env.setenv("SDRS_DEADLINE_MARGIN_SECONDS", "2")
    env.setenv("SDRS_SWEEP_ROTATION_HOURS", "0")
    fake_sdrs.on_request = lambda request: handler_clock.advance(1.0)
    return handler_clock


def test_deadline_mid_audit_defers_the_rest(
    runtime: Runtime, clock: ManualClock, fake_sdrs: FakeSdrs, lambda_context: Any, env: pytest.MonkeyPatch
) -> None:
    """16 s left less the 2 s margin: 14 s. The listing takes 1 s; audits start at t=1..4 with
    13, 12, 11, 10 s left (>= twice the 5 s start margin); at t=5 only 9 s are left: the two last
    groups are not audited. The deletes, which need only the 5 s margin, still run for the
    audited groups: a sweep that runs short while auditing still cleans what it audited."""
    env.setenv("SDRS_SERVER_GROUP_IDS", "all")
    ids = project_sorted(fake_sdrs, [2, 0, 3, 0, 1, 4])
    lambda_context.remaining_millis = 16_000

    result = lambda_handler(scheduled_event(), lambda_context, runtime=runtime)  # a timer sweep: no raise

    outcomes = [(g["server_group_id"], g["outcome"], len(g["failure_jobs"])) for g in result["groups"]]
    assert outcomes == [
        (ids[0], "deleted", 2),
        (ids[1], "nothing_to_delete", 0),
        (ids[2], "deleted", 3),
        (ids[3], "nothing_to_delete", 0),
        (ids[4], "deferred", 0),  # not started
        (ids[5], "deferred", 0),
    ]
    for group in result["groups"]:
        if group["outcome"] == "deferred":
            # A timer's deferred groups wait for its next run: nothing retries this one.
            assert (group["error"]["code"], group["error"]["retryable"]) == ("Deadline.Deferred", False)
            assert group["attempts"] == 0
    assert sorted(r.server_group_id or "" for r in fake_sdrs.calls(kind="failure_jobs")) == ids[:4]
    assert sorted(r.server_group_id or "" for r in fake_sdrs.calls("DELETE")) == [ids[0], ids[2]]
    assert clock.now == 7.0
    assert (result["ok"], result["error"]["type"], result["error"]["retryable"]) == (
        False,
        "deadline",
        False,
    )  # the next timer run picks them up
    assert "2 of 6 groups deferred" in result["error"]["message"]
    assert result["summary"] == summary(
        groups_found=6, deleted=2, nothing_to_delete=2, deferred=2, failed_tasks_deleted=2 + 3
    )
    assert all(len(fake_sdrs.failure_jobs(P, gid)) == n for gid, n in zip(ids, [0, 0, 0, 0, 1, 4], strict=True))


SIX = sorted(sweep_group_ids(6, "sorted"))
NAMED_SIX: dict[str, Any] = {"server_group_ids": SIX}


@pytest.mark.parametrize(
    ("event", "remaining", "raises"),
    [
        # sweeps: the listing costs a second, so they get one more (18 s: deadline 16 s)
        pytest.param(SWEEP, 18_000, False, id="direct-sweep"),
        pytest.param({**SWEEP, "raise_on_transient_failure": True}, 18_000, False, id="scheduler-sweep"),
        pytest.param(eventbridge_event(SWEEP), 18_000, False, id="eventbridge-sweep"),
        pytest.param(sns_event(SWEEP), 18_000, False, id="sns-sweep"),
        pytest.param(scheduled_event(), 18_000, False, id="scheduled-sweep"),
        # named groups (17 s: deadline 15 s)
        pytest.param(NAMED_SIX, 17_000, False, id="direct-groups"),
        pytest.param({**NAMED_SIX, "raise_on_transient_failure": True}, 17_000, True, id="scheduler-groups"),
        pytest.param(eventbridge_event(NAMED_SIX), 17_000, True, id="eventbridge-groups"),
        pytest.param(sns_event(NAMED_SIX), 17_000, True, id="sns-groups"),
    ],
)
def test_deadline_mid_delete_defers_the_rest(
    runtime: Runtime,
    event: dict[str, Any],
    remaining: int,
    raises: bool,
    clock: ManualClock,
    fake_sdrs: FakeSdrs,
    lambda_context: Any,
    env: pytest.MonkeyPatch,
) -> None:
    """Audits take 1 s and deletes 2 s here. Six groups, all audited by t=6 (t=7 for a sweep)
    with at least 10 s left each (twice the start margin); the deletes then start with 9, 7, 5 s
    left, and the last three would start with 3 s: deferred, their failed tasks reported.
    Recurring work (a sweep, the configured groups of a timer) waits for the next run; a
    one-off asynchronous event raises so that it is retried."""
    env.setenv("SDRS_SERVER_GROUP_IDS", "all")
    fake_sdrs.on_request = lambda request: clock.advance(2.0 if request.method == "DELETE" else 1.0)
    ids = project_sorted(fake_sdrs, [1, 2, 3, 4, 5, 6])
    assert ids == SIX
    jobs = {gid: fake_sdrs.failure_jobs(P, gid) for gid in ids}
    lambda_context.remaining_millis = remaining

    if raises:
        with pytest.raises(TransientFailure) as raised:
            lambda_handler(event, lambda_context, runtime=runtime)
        result = raised.value.result
        assert "3 of 6 groups deferred" in str(raised.value)
    else:
        result = lambda_handler(event, lambda_context, runtime=runtime)

    assert outcomes(result) == ["deleted"] * 3 + ["deferred"] * 3
    assert [g["server_group_id"] for g in result["groups"]] == ids
    assert [g["failure_jobs"] for g in result["groups"]] == [jobs[gid] for gid in ids]
    # retryable: true where a retry of the event will happen (a one-off event raises) or can help
    # (a direct request's caller); false for timer work, which the next run picks up.
    retried_or_read = raises or event in (SWEEP, NAMED_SIX)
    for group in result["groups"][3:]:
        assert (group["error"]["code"], group["error"]["retryable"], group["attempts"]) == (
            "Deadline.Deferred",
            retried_or_read,
            0,
        )
        assert fake_sdrs.failure_jobs(P, group["server_group_id"]) == jobs[group["server_group_id"]]
    assert [r.server_group_id for r in fake_sdrs.calls("DELETE")] == ids[:3]
    assert (result["error"]["type"], result["error"]["retryable"]) == ("deadline", retried_or_read)
    assert result["summary"] == summary(groups_found=6, deleted=3, deferred=3, failed_tasks_deleted=1 + 2 + 3)


def test_deadline_with_configured_groups_on_a_timer_does_not_raise(
    runtime: Runtime, clock: ManualClock, fake_sdrs: FakeSdrs, lambda_context: Any, env: pytest.MonkeyPatch
) -> None:
    ids = project_sorted(fake_sdrs, [1, 2, 3, 4, 5, 6])
    env.setenv("SDRS_SERVER_GROUP_IDS", ",".join(ids))
    fake_sdrs.on_request = lambda request: clock.advance(2.0 if request.method == "DELETE" else 1.0)
    lambda_context.remaining_millis = 17_000
    result = lambda_handler(scheduled_event(), lambda_context, runtime=runtime)
    assert outcomes(result) == ["deleted"] * 3 + ["deferred"] * 3


def test_start_margin_setting_decides_what_starts(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    """Real time: 6 s left, less the 2 s margin, is 4 s; a start margin of 5 s leaves every
    group deferred after the listing (which has no start margin); 1.5 s (audits need twice
    that, 3 s) lets them all run."""
    before = project(fake_sdrs, [1, 2])
    lambda_context.remaining_millis = 6_000
    env.setenv("SDRS_GROUP_START_MARGIN_SECONDS", "5")
    result = lambda_handler(SWEEP, lambda_context, runtime=runtime)
    assert outcomes(result) == ["deferred", "deferred"]
    assert [r.kind for r in fake_sdrs.requests] == ["server_groups"]
    env.setenv("SDRS_GROUP_START_MARGIN_SECONDS", "1.5")
    result = lambda_handler(SWEEP, lambda_context, runtime=runtime)
    check_clean_sweep(fake_sdrs, result, before)


# --- concurrency ------------------------------------------------------------------------------


class InFlightByKind:
    """For each kind of call, the most requests in flight at once while one of that kind was
    being served (the fake counts every request in flight; phases do not overlap)."""

    def __init__(self, fake: FakeSdrs, latency: float) -> None:
        self.fake, self.latency = fake, latency
        self.most: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, request: Any) -> None:
        kind = request_kind(request.method, request.url.path)
        with self._lock:
            self.most[kind] = max(self.most.get(kind, 0), self.fake.in_flight)
        time.sleep(self.latency)


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_concurrency_is_bounded_and_real(
    runtime: Runtime, limit: int, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    env.setenv("SDRS_MAX_CONCURRENCY", str(limit))
    env.setenv("SDRS_PAGE_SIZE", "2")
    before = project(fake_sdrs, [1, 2, 0, 3, 1, 1, 2, 0, 4, 1, 1, 2])
    observed = InFlightByKind(fake_sdrs, latency=0.03)
    fake_sdrs.on_request = observed

    result = lambda_handler(SWEEP, lambda_context, runtime=runtime)

    check_clean_sweep(fake_sdrs, result, before)
    assert 1 <= fake_sdrs.max_in_flight <= limit
    assert set(observed.most) == {"server_groups", "failure_jobs", "delete"}
    for kind, most in observed.most.items():
        assert most <= limit, kind
        if limit > 1:  # the later listing pages, the audits and the deletes really overlap
            assert most > 1, kind
    if limit == 1:
        assert fake_sdrs.max_in_flight == 1


def test_audits_finish_before_the_first_delete(
    runtime: Runtime, env: pytest.MonkeyPatch, fake_sdrs: FakeSdrs, lambda_context: Any
) -> None:
    """The brake needs every count first: no DELETE is sent while an audit is still running."""
    env.setenv("SDRS_MAX_CONCURRENCY", "4")
    project(fake_sdrs, [3, 1, 0, 2, 5, 0, 1, 1])
    fake_sdrs.on_request = InFlightByKind(fake_sdrs, latency=0.01)
    lambda_handler(SWEEP, lambda_context, runtime=runtime)
    kinds = [r.kind for r in fake_sdrs.requests]
    assert kinds.index("delete") > max(i for i, k in enumerate(kinds) if k == "failure_jobs")
    assert kinds.index("failure_jobs") > max(i for i, k in enumerate(kinds) if k == "server_groups")


def test_timer_sweep_with_a_permanent_failure_and_deferred_groups_does_not_raise(
    runtime: Runtime, clock: ManualClock, fake_sdrs: FakeSdrs, lambda_context: Any, env: pytest.MonkeyPatch
) -> None:
    """Deferred groups wait for the next timer run, and a permanent failure cannot be fixed by
    a retry: neither is a reason to have Lambda run the whole sweep again."""
    env.setenv("SDRS_SERVER_GROUP_IDS", "all")
    ids = project_sorted(fake_sdrs, [2, 0, 3, 0, 1, 4])
    fake_sdrs.fail("DELETE", 400, server_group_id=ids[0], body=SDRS_1013)
    lambda_context.remaining_millis = 16_000  # as in test_deadline_mid_audit_defers_the_rest

    result = lambda_handler(scheduled_event(), lambda_context, runtime=runtime)  # must not raise

    assert outcomes(result) == ["failed", "nothing_to_delete", "deleted", "nothing_to_delete", "deferred", "deferred"]
    assert result["groups"][0]["error"]["retryable"] is False
    # Nothing retries a timer run, and its next run picks the deferred groups up: not retryable.
    assert (result["error"]["type"], result["error"]["retryable"]) == ("group_failures", False)
    assert "2 deferred" in result["error"]["message"]

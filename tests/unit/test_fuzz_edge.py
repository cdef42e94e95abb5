"""Property-based fuzzing of the function's edge (hypothesis), over every trigger shape,
arbitrary JSON, and a hostile SDRS API (tests/fuzz_strategies.py).

Properties, for every generated input (through `run` and through `lambda_handler`):

1. No unhandled exception. `lambda_handler` raises only `TransientFailure`, only for an
   asynchronous trigger (EventBridge, SNS, a direct request with
   `raise_on_transient_failure: true`) whose result holds something a retry may fix, and
   always then (README, "Raise or return"). An SQS batch never raises, reports every record
   once and in order, and hands back exactly the records the README says.
2. An event that does not validate (`invalid_event`, `configuration`) makes no request.
3. Every request goes to the configured https host; method + raw path match exactly one of
   the three allowed calls, with a 32-hex project id and a lowercase UUID group id (query:
   exactly server_group_id/limit/offset, or limit/offset; none on the DELETE); never the
   project-wide batch DELETE. A project is one the event or the configuration named. A
   group listed or DELETEd is one the event (or SDRS_SERVER_GROUP_IDS) named, or, in a
   sweep, one a protection-group listing validly returned. A DELETE comes after an audit
   listing of that group that found failed tasks, never with SDRS_DRY_RUN. A request is
   never repeated after a final answer (204, the listing JSON, 401, 403, 404, ...), nor
   tried more than SDRS_MAX_ATTEMPTS times, nor sent within the hold after a 401.
4. The result is JSON, says what happened (`ok` agrees with the groups and the error;
   `deleted` only after a 204, `failed` after anything else; no DELETE for
   nothing_to_delete / would_delete / held / deferred; a group's failure_jobs are exactly
   what its listing returned) and carries no credentials.

What the fuzzing found is at the end, as minimal examples: regression tests now (the bugs
were fixed in e17f6ba and 26ff0db). A new finding goes there as a strict xfail until fixed.

Figures (inputs generated, rejected cleanly, requests checked, ...) are printed at the end of
the session (tests/conftest.py) and written to $FUZZ_STATS_FILE when set.
FUZZ_EXAMPLES=N sets the examples per test (default: DEFAULT_EXAMPLES, for CI).
"""

from __future__ import annotations

import concurrent.futures
import http.server
import json
import os
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handler import app, core
from handler.app import TransientFailure
from handler.core import Runtime
from handler.sdrs import client as client_module
from handler.sdrs.api import MAX_LISTING_READS
from handler.sdrs.factory import ClientFactory
from tests.conftest import FakeLambdaContext, ManualClock
from tests.event_model import eventbridge_event, scheduled_event, sns_event, sqs_event
from tests.fake_sdrs import ACCESS_KEY, PROJECT_ID, SECRET_KEY, server_group_item
from tests.fuzz_strategies import (
    DEEP_ARRAY,
    GROUPS,
    PROJECT_RE,
    TRIGGERS,
    UUID_RE,
    Answer,
    ApiPlan,
    Exchange,
    FuzzApi,
    Mentioned,
    api_plans,
    deep_values,
    direct_requests,
    environments,
    event_like_objects,
    expected_origin,
    json_values,
    mentioned,
    sleep_on,
    trigger_events,
)
from tests.fuzz_strategies import alarm_messages as alarm_messages_strategy

DEFAULT_EXAMPLES = 40
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or DEFAULT_EXAMPLES)
settings.register_profile(
    "sdrs-fuzz",
    max_examples=EXAMPLES,
    derandomize=True,  # the same inputs on every run: CI is deterministic
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    print_blob=True,
)
FUZZ = settings.get_profile("sdrs-fuzz")

G = GROUPS[0]
P = PROJECT_ID
ERROR_TYPES = {"invalid_event", "configuration", "group_failures", "safety_brake", "deadline", "discovery_failed"}
REFUSALS = {"invalid_event", "configuration"}
OUTCOMES = {"deleted", "nothing_to_delete", "would_delete", "failed", "deferred", "held"}
DONE = {"deleted", "nothing_to_delete", "would_delete"}
ASYNC_TRIGGERS = {"eventbridge", "eventbridge_scheduled", "sns", "sns_alarm"}
RETRYABLE_STATUSES = {429, 500, 502, 503, 504}
# After a 401, nothing more is signed with those credentials for this long (the handler's clock).
CREDENTIALS_HOLD = getattr(client_module, "REJECTED_CREDENTIALS_HOLD_SECONDS", None)
REMAINING = st.sampled_from([300.0, 300.0, 300.0, 60.0, 15.0, 9.0, 4.0, 1.5, 0.2])

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ALLOWED_CALLS = {
    "list_failure_jobs": ("GET", re.compile(r"/v1/(?P<project>[0-9a-f]{32})/task-center/failure-jobs")),
    "list_server_groups": ("GET", re.compile(r"/v1/(?P<project>[0-9a-f]{32})/server-groups")),
    "delete_group": (
        "DELETE",
        re.compile(rf"/v1/(?P<project>[0-9a-f]{{32}})/task-center/(?P<group>{UUID})/failure-jobs/batch"),
    ),
}
PROJECT_WIDE_DELETE = re.compile(r"/v1/[^/]+/task-center/failure-jobs/batch/?")

# --- figures ------------------------------------------------------------------------------

STATS: defaultdict[str, Counter[str]] = defaultdict(Counter)
_STATS_LOCK = threading.Lock()


def write_summary(write: Callable[[str], None]) -> None:
    """Called by tests/conftest.py at the end of the session."""
    if not STATS:
        return
    columns = ("generated", "rejected_cleanly", "ok", "reported_failure", "raised_transient", "requests", "deletes")
    write("")
    write(f"fuzz edge (tests/unit/test_fuzz_edge.py): max_examples={EXAMPLES} per test, derandomized")
    write("  one row per strategy; every column counts invocations (an SQS batch is one; sqs_records below)")
    write(f"{'strategy':34} " + " ".join(f"{c:>16}" for c in columns))
    write("  (generated = rejected_cleanly + ok + reported_failure; raised_transient is part of reported_failure:")
    write("   lambda_handler raised TransientFailure, as asynchronous triggers must)")
    total: Counter[str] = Counter()
    for name in sorted(STATS):
        total.update(STATS[name])
        write(f"{name:34} " + " ".join(f"{STATS[name][c]:>16}" for c in columns))
    write(f"{'TOTAL':34} " + " ".join(f"{total[c]:>16}" for c in columns))
    extras = sorted(k for k in total if k not in columns)
    write("  also: " + ", ".join(f"{k}={total[k]}" for k in extras))
    if path := os.environ.get("FUZZ_STATS_FILE"):
        with open(path, "w") as out:
            json.dump({"max_examples": EXAMPLES, "per_strategy": STATS, "total": total}, out, indent=1, sort_keys=True)


# --- credentials ---------------------------------------------------------------------------

SECRETS = (ACCESS_KEY, SECRET_KEY)


def secret_leaks(result: Any) -> list[str]:
    """Where a credential appears in a result (failure_jobs aside: they are the API's data)."""
    leaks = []
    stack: list[tuple[str, Any]] = [("", result)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str) and any(secret in value for secret in SECRETS):
            leaks.append(where)
        elif isinstance(value, dict):
            stack.extend((f"{where}.{k}", v) for k, v in value.items() if k != "failure_jobs")
        elif isinstance(value, list):
            stack.extend((f"{where}.{i}", v) for i, v in enumerate(value))
    return leaks


# --- one invocation -----------------------------------------------------------------------


@dataclass
class Invocation:
    entry: str  # "run" (the core, handler.core.handle) or "lambda_handler"
    event: Any
    env: dict[str, str]
    api: FuzzApi
    response: dict[str, Any] | None  # run: result.to_dict(); lambda_handler: what it returned
    must_raise: bool = False  # run's answer
    raised: Exception | None = None


def invoke(entry: str, event: Any, env: dict[str, str], remaining: float, plan: ApiPlan) -> Invocation:
    clock = ManualClock()
    api = FuzzApi(plan, clock)
    factory = ClientFactory(sleep=sleep_on(clock), clock=clock)
    runtime = Runtime(factory, clock)
    invocation = Invocation(entry, event, env, api, None)
    with (
        pytest.MonkeyPatch.context() as mp,
        respx.mock(assert_all_mocked=True, assert_all_called=False) as router,
    ):
        router.route().mock(side_effect=api)
        try:
            if entry == "run":
                disposition = core.handle(core.Invocation(event, remaining, env, runtime))
                invocation.response, invocation.must_raise = disposition.body, disposition.must_raise
            else:
                for name in list(os.environ):
                    if name.startswith(("SDRS_", "HUAWEICLOUD_SDK_")):
                        mp.delenv(name)
                for name, value in env.items():
                    mp.setenv(name, value)
                context = FakeLambdaContext(remaining_millis=int(remaining * 1000))
                invocation.response = app.lambda_handler(event, context, runtime=runtime)
        except Exception as exc:  # judged by the properties
            invocation.raised = exc
        finally:
            factory.close()
        assert router.calls.call_count == len(api.exchanges), "a request escaped the recorder"
    return invocation


def is_sqs(event: Any) -> bool:
    """An SQS batch as docs/triggers.md describes it (read independently of the handler)."""
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and isinstance(records[0], dict)
        and (records[0].get("eventSource") == "aws:sqs")
    )


# --- the properties -----------------------------------------------------------------------


@dataclass
class Scope:
    """What the event and the configuration allow the function to touch."""

    groups: set[str]  # named by the event or the configuration
    projects: set[str]
    sweep: bool
    page_size: int
    max_attempts: int
    dry_run_forced: bool
    sequential: bool  # one request at a time (SDRS_MAX_CONCURRENCY=1)


def scope_of(event_facts: Mentioned, env: dict[str, str]) -> Scope:
    scheduled = env.get("SDRS_SERVER_GROUP_IDS", "")
    groups = set(event_facts.groups) | {g.strip() for g in scheduled.split(",") if UUID_RE.fullmatch(g.strip())}
    projects = set(event_facts.projects)
    if PROJECT_RE.fullmatch(env.get("HUAWEICLOUD_SDK_PROJECT_ID", "").strip()):
        projects.add(env["HUAWEICLOUD_SDK_PROJECT_ID"].strip())
    return Scope(
        groups=groups,
        projects=projects,
        sweep="all_server_groups" in event_facts.keys or scheduled.strip().lower() == "all",
        page_size=int(env.get("SDRS_PAGE_SIZE", "1000")),
        max_attempts=int(env.get("SDRS_MAX_ATTEMPTS", "4")),
        dry_run_forced=env.get("SDRS_DRY_RUN", "").strip().lower() in ("true", "1", "yes"),
        sequential=env.get("SDRS_MAX_CONCURRENCY") == "1",
    )


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _query(raw: str) -> dict[str, str]:
    pairs = [part.partition("=") for part in raw.split("&")] if raw else []
    keys = [k for k, _, _ in pairs]
    assert len(keys) == len(set(keys)), f"a query parameter is repeated: {raw!r}"
    return {k: v for k, _, v in pairs}


def _is_offset(text: str) -> bool:
    return text.isascii() and text.isdigit() and str(int(text)) == text


def succeeded(answer: Answer | None, method: str) -> bool:
    """What the README calls success: a 2xx (whose body decodes), and for the DELETE exactly 204."""
    if answer is None or answer.error is not None or answer.bad_encoding:
        return False
    return answer.status == 204 if method == "DELETE" else 200 <= answer.status < 300


def listing_body(answer: Answer | None, items: str) -> dict[str, Any] | None:
    """The body of a 2xx answer that is the API's listing JSON: {"count": int >= 0 (not a
    bool), items: [objects]}; None for anything else (which no listing may be built from)."""
    if not succeeded(answer, "GET") or answer is None:
        return None
    body = _parse_json(answer.body)
    if not isinstance(body, dict) or type(body.get("count")) is not int or body["count"] < 0:
        return None
    listed = body.get(items)
    if not isinstance(listed, list) or not all(isinstance(item, dict) for item in listed):
        return None
    return body


def final(answer: Answer | None, method: str, items: str | None) -> bool:
    """An answer after which the same request must not be sent again: a success (204 to the
    DELETE, the listing JSON to a GET) or an error a retry cannot fix (401, 403, 404, ...:
    everything but 429, 500, 502-504 and transport errors). Not final: a 2xx that is not the
    expected answer (a proxy's page), which the README says is retried, nor a body that
    does not decode."""
    if answer is None or answer.error is not None or answer.status in RETRYABLE_STATUSES or answer.bad_encoding:
        return False
    if 200 <= answer.status < 300:
        return answer.status == 204 if method == "DELETE" else listing_body(answer, items or "") is not None
    return True


def _allowed_call(method: str, raw_path: str) -> tuple[str, re.Match[str]]:
    matches = []
    for name, (verb, pattern) in ALLOWED_CALLS.items():
        match = pattern.fullmatch(raw_path)
        if verb == method and match:
            matches.append((name, match))
    assert len(matches) == 1, f"{method} {raw_path} is not exactly one of the allowed calls"
    return matches[0]


def check_requests(inv: Invocation, scope: Scope, facts: Mentioned, sqs: bool) -> None:
    """Property 3: where every request went, and what it may touch."""
    scheme, host, port = expected_origin(inv.env)
    listed: defaultdict[str, set[str]] = defaultdict(set)  # project -> valid ids a listing returned
    audited: set[tuple[str, str]] = set()  # (project, group) a 2xx listing found failed tasks for
    tries: Counter[tuple[str, str, int]] = Counter()
    last_answer: dict[tuple[str, str, int], Answer | None] = {}
    # A group's listing read again from offset 0 after later pages (it changed while paged) is a new
    # read, not a retry: at most MAX_LISTING_READS of them.
    reads: Counter[tuple[str, str]] = Counter()
    paged: set[tuple[str, str]] = set()
    rejected_at: float | None = None  # the handler's clock when a 401 was answered
    for exchange in inv.api.exchanges:
        request, answer = exchange.request, exchange.answer
        url, method = request.url, request.method
        assert url.scheme == scheme, url
        assert scheme == "https", url
        assert url.host == host, url
        assert (url.port or 443) == port, url
        assert not url.userinfo, url
        assert not url.fragment, url
        raw = url.raw_path.decode("ascii")
        assert "%" not in raw, f"an id needed escaping: {raw!r}"
        raw_path, _, raw_query = raw.partition("?")
        assert not (method == "DELETE" and PROJECT_WIDE_DELETE.fullmatch(raw_path)), "the project-wide DELETE"
        name, match = _allowed_call(method, raw_path)
        project = match["project"]
        assert project in scope.projects, f"project {project}: named by neither the event nor the configuration"
        assert request.headers.get("X-Project-Id") == project
        assert request.headers.get("Authorization", "").startswith(f"SDK-HMAC-SHA256 Access={ACCESS_KEY}, ")
        assert request.content == b""
        if rejected_at is not None and scope.sequential and CREDENTIALS_HOLD is not None:
            assert exchange.arrived - rejected_at >= CREDENTIALS_HOLD, "a request signed with rejected credentials"
        query = _query(raw_query)
        if name == "list_failure_jobs":
            assert set(query) == {"server_group_id", "limit", "offset"}, raw_query
            group = query["server_group_id"]
            assert UUID_RE.fullmatch(group), raw_query
            assert query["limit"] == str(scope.page_size), raw_query
            assert _is_offset(query["offset"]), raw_query
            assert group in scope.groups or (scope.sweep and group in listed[project]), f"audit of unasked {group}"
            if query["offset"] == "0" and (project, group) in paged:
                paged.discard((project, group))
                reads[project, group] += 1
                assert sqs or reads[project, group] < MAX_LISTING_READS, f"the listing of {group} read too often"
            elif query["offset"] != "0":
                paged.add((project, group))
            body = listing_body(answer, "failure_jobs")
            if body is not None and body["failure_jobs"]:
                audited.add((project, group))
        elif name == "list_server_groups":
            assert scope.sweep, "a protection-group listing without a sweep"
            assert set(query) == {"limit", "offset"}, raw_query
            assert query["limit"] == str(scope.page_size), raw_query
            assert _is_offset(query["offset"]), raw_query
            body = listing_body(answer, "server_groups")
            for item in body["server_groups"] if body is not None else []:
                if isinstance(item.get("id"), str) and UUID_RE.fullmatch(item["id"]):
                    listed[project].add(item["id"])
        else:
            group = match["group"]
            assert raw_query == "", raw_query
            assert not scope.dry_run_forced, "a DELETE with SDRS_DRY_RUN=true"
            assert group in scope.groups or (scope.sweep and group in listed[project]), f"DELETE of unasked {group}"
            if scope.sweep and group not in scope.groups:
                assert group in listed[project], f"sweep DELETE of {group}, which no listing returned"
            assert (project, group) in audited, f"DELETE of {group} before an audit listing found failed tasks"
        key = (method, raw, reads[project, group] if name == "list_failure_jobs" else 0)
        items = {"list_failure_jobs": "failure_jobs", "list_server_groups": "server_groups"}.get(name)
        if tries[key] and not sqs:  # a repeat is a retry: never after a final answer
            assert not final(last_answer[key], method, items), f"{method} {raw} repeated after {last_answer[key]}"
        tries[key] += 1
        last_answer[key] = answer
        if not sqs:
            assert tries[key] <= scope.max_attempts, f"{method} {raw} tried {tries[key]} times"
        if answer is not None and answer.error is None and answer.status == 401 and rejected_at is None:
            rejected_at = exchange.answered


def check_result(result: Any, inv: Invocation, single: bool) -> None:
    """Property 4: a well-formed result that reports what happened."""
    assert isinstance(result, dict), result
    assert {"ok", "trigger", "dry_run", "groups", "error", "summary"} <= set(result), set(result)
    json.dumps(result)  # what Lambda will do with it
    assert not secret_leaks(result), f"credentials in the result at {secret_leaks(result)}"
    assert isinstance(result["ok"], bool)
    assert isinstance(result["dry_run"], bool)
    error = result["error"]
    if error is not None:
        assert error["type"] in ERROR_TYPES, error
        assert isinstance(error["retryable"], bool), error
        assert isinstance(error["message"], str), error
        assert error["message"], error
    outcomes = [g["outcome"] for g in result["groups"]]
    assert set(outcomes) <= OUTCOMES, outcomes
    assert result["ok"] == (error is None and all(o in DONE for o in outcomes)), result
    summary = result["summary"]
    assert summary["groups_found"] == len(outcomes)
    for outcome in OUTCOMES:
        assert summary[outcome] == outcomes.count(outcome), summary
    if error is not None and error["type"] in REFUSALS:
        assert result["ok"] is False
        assert result["groups"] == [], result
        if error["type"] == "invalid_event":
            assert error["retryable"] is False, result
    deletes = defaultdict(list)
    for exchange in inv.api.exchanges:
        if exchange.request.method == "DELETE":
            project, _, group = exchange.request.url.path.split("/")[2:5]
            deletes[(project, group)].append(exchange.answer)
    for group in result["groups"]:
        if group["outcome"] in ("failed", "deferred", "held"):
            assert isinstance(group["error"], dict), group
            assert {"code", "message", "retryable"} <= set(group["error"]), group
        key = (group["project_id"], group["server_group_id"])
        sent = deletes.get(key, [])
        if group["outcome"] == "deleted":
            assert sent, f"reported deleted without a DELETE: {key}"
            if single:
                assert succeeded(sent[-1], "DELETE"), f"reported deleted, but the DELETE got {sent[-1]}"
        if single and group["outcome"] in ("nothing_to_delete", "would_delete", "held", "deferred"):
            assert not sent, f"{group['outcome']} but a DELETE was sent: {key}"
        if single and group["outcome"] == "failed" and group["attempts"]:
            assert sent, f"failed after {group['attempts']} attempts, but no DELETE was sent"
            assert not succeeded(sent[-1], "DELETE"), f"reported failed, but the DELETE got {sent[-1]}"
    if single and result["dry_run"]:
        assert not deletes, "a dry run sent a DELETE"


def raises_when_it_should(inv: Invocation, result: dict[str, Any], raised: bool, sweep: bool) -> None:
    """Property 1: TransientFailure only for asynchronous triggers with something a retry can
    fix (README, "Raise or return"), and always then."""
    flagged = isinstance(inv.event, dict) and inv.event.get("raise_on_transient_failure") is True
    asynchronous = result["trigger"] in ASYNC_TRIGGERS or (result["trigger"] == "direct" and flagged)
    recurring = result["trigger"] == "eventbridge_scheduled" or sweep  # the next run picks up the rest
    error = result["error"] or {}
    retryable_groups = any(
        g["outcome"] == "failed" and g["error"] is not None and g["error"]["retryable"] for g in result["groups"]
    )
    deferred = any(g["outcome"] == "deferred" for g in result["groups"])
    discovery = error.get("type") == "discovery_failed" and error.get("retryable") is True
    if raised:
        assert asynchronous, f"raised for a synchronous trigger: {result['trigger']}"
        assert result["ok"] is False, result
        assert retryable_groups or error.get("retryable") or (deferred and not recurring), result
        assert error.get("type") != "invalid_event", result
    elif asynchronous and (retryable_groups or discovery or (deferred and not recurring)):
        raise AssertionError(f"a transient failure of an asynchronous trigger did not raise: {result}"[:3000])


def _listing_pages(inv: Invocation, project: str, group: str) -> list[dict[str, Any]]:
    """The group's failed-task listing pages of its last read, in order: the answers that were
    the listing JSON (any other answer is retried, or fails the group). A listing that changed
    while it was paged is read again from offset 0: the audit record is that last read."""
    pages: list[dict[str, Any]] = []
    for exchange in inv.api.exchanges:
        request = exchange.request
        if request.method != "GET" or request.url.path != f"/v1/{project}/task-center/failure-jobs":
            continue
        body = listing_body(exchange.answer, "failure_jobs")
        if request.url.params.get("server_group_id") == group and body is not None:
            if request.url.params.get("offset") == "0":
                pages = []
            pages.append(body)
    return pages


def check_audit_record(result: dict[str, Any], inv: Invocation) -> None:
    """A group's failure_jobs are exactly the failed tasks its listing pages returned; nothing
    to delete only when the listing said 0."""
    for group in result["groups"]:
        if group["outcome"] not in ("deleted", "would_delete", "held", "nothing_to_delete"):
            continue
        pages = _listing_pages(inv, group["project_id"], group["server_group_id"])
        assert pages, f"{group['outcome']} without a successful listing: {group['server_group_id']}"
        jobs = [job for page in pages for job in page["failure_jobs"]]
        assert json.dumps(group["failure_jobs"]) == json.dumps(jobs), "the audit record is not what was listed"
        assert pages[-1]["count"] == len(jobs), f"{len(jobs)} failed tasks listed, count {pages[-1]['count']}"
        assert (group["outcome"] == "nothing_to_delete") == (not jobs), group["outcome"]


def check(label: str, inv: Invocation, record: bool = True) -> None:
    """Every property for one invocation; the figures go to STATS[label]."""
    stats: Counter[str] = Counter(generated=1)
    facts = mentioned(inv.event)
    scope = scope_of(facts, inv.env)
    sqs = is_sqs(inv.event)  # both entries handle batches
    stats["requests"] = len(inv.api.exchanges)
    stats["deletes"] = sum(e.request.method == "DELETE" for e in inv.api.exchanges)
    stats["budget_exhausted"] = int(inv.api.budget_exhausted)
    try:
        check_requests(inv, scope, facts, sqs)
        if inv.raised is not None and not isinstance(inv.raised, TransientFailure):
            raise AssertionError(f"unhandled {type(inv.raised).__name__}: {inv.raised!r}"[:2000]) from inv.raised
        if isinstance(inv.raised, TransientFailure):
            assert inv.entry == "lambda_handler", "TransientFailure from run()"
            assert not sqs, "TransientFailure from an SQS batch"
            result = inv.raised.result
            stats["raised_transient"] += 1
        else:
            result = inv.response
        assert isinstance(result, dict), result
        if sqs:
            check_sqs(inv, result, stats)
            return
        check_result(result, inv, single=True)
        check_audit_record(result, inv)
        raises_when_it_should(inv, result, raised=inv.raised is not None or inv.must_raise, sweep=scope.sweep)
        error_type = (result["error"] or {}).get("type")
        if error_type in REFUSALS:
            assert not inv.api.exchanges, f"{error_type}, yet {len(inv.api.exchanges)} requests were sent"
            stats["rejected_cleanly"] += 1
        elif result["ok"]:
            stats["ok"] += 1
        else:
            stats["reported_failure"] += 1
    finally:
        if record:
            with _STATS_LOCK:
                STATS[label].update(stats)


def check_sqs(inv: Invocation, response: dict[str, Any], stats: Counter[str]) -> None:
    """An SQS batch: every record reported once, in order; redelivered exactly when the README says."""
    records = inv.event["Records"]
    ids = [r.get("messageId") if isinstance(r, dict) else None for r in records]
    ids = [i if isinstance(i, str) else repr(i) for i in ids]  # as the batch sent them (hashable)
    failures = response.get("batchItemFailures")
    assert isinstance(failures, list), response
    failed_ids = {f["itemIdentifier"] for f in failures}
    assert failed_ids <= set(ids), failures
    if "records" not in response:  # the batch itself was refused
        check_result(response, inv, single=True)
        assert response["error"]["type"] == "invalid_event", response
        assert not failures, response
        assert not inv.api.exchanges, "an invalid batch sent requests"
        stats["rejected_cleanly"] += 1
        return
    assert response["trigger"] == "sqs"
    assert isinstance(response["ok"], bool)
    reported = response["records"]
    assert [r["message_id"] for r in reported] == ids, "every record reported once, in order"
    unique = len(set(ids)) == len(ids)
    for record in reported:
        check_result(record, inv, single=False)
        error_type = (record["error"] or {}).get("type")
        if unique and error_type == "invalid_event":
            assert record["message_id"] not in failed_ids, "an invalid record would be redelivered"
        if unique and error_type == "configuration":
            assert record["message_id"] in failed_ids, "a configuration problem must be redelivered"
        transient = any(g["outcome"] == "failed" and g["error"]["retryable"] for g in record["groups"])
        deferred = any(g["outcome"] == "deferred" for g in record["groups"])
        discovery = error_type == "discovery_failed" and record["error"]["retryable"]
        if unique and (transient or deferred or discovery):
            assert record["message_id"] in failed_ids, "a transient failure or a deferral must be redelivered"
    assert response["ok"] == all(r["ok"] for r in reported)
    refused = [r for r in reported if (r["error"] or {}).get("type") in REFUSALS]
    if reported and len(refused) == len(reported):
        assert not inv.api.exchanges, "every record refused, yet requests were sent"
    stats["sqs_records"] += len(records)
    stats["sqs_records_refused"] += len(refused)
    if reported and len(refused) == len(reported):
        stats["rejected_cleanly"] += 1
    elif response["ok"]:
        stats["ok"] += 1
    else:
        stats["reported_failure"] += 1


# --- the fuzz tests -----------------------------------------------------------------------


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("entry", ["run", "lambda_handler"])
@pytest.mark.parametrize("shape", ["arbitrary_json", "event_like_object"])
def test_arbitrary_json_events(shape: str, entry: str, data: st.DataObject) -> None:
    if shape == "arbitrary_json":
        event = data.draw(json_values | deep_values, label="event")
    else:
        event = data.draw(event_like_objects(), label="event")
    env = data.draw(environments(), label="env")
    plan = data.draw(api_plans("some"), label="plan")
    remaining = data.draw(REMAINING, label="remaining")
    check(f"{shape} via {entry}", invoke(entry, event, env, remaining, plan))


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_trigger_events_mutated(trigger: str, data: st.DataObject) -> None:
    event = data.draw(trigger_events(trigger), label="event")
    env = data.draw(environments(trigger), label="env")
    plan = data.draw(api_plans("some"), label="plan")
    remaining = data.draw(REMAINING, label="remaining")
    entry = "lambda_handler" if trigger == "sqs_batch" else data.draw(st.sampled_from(["run", "lambda_handler"]))
    check(f"{trigger} (mutated)", invoke(entry, event, env, remaining, plan))


@st.composite
def valid_events(draw: st.DrawFn, shape: str) -> Any:
    if shape == "named_groups":
        return draw(direct_requests(draw(st.sampled_from(["single", "list"]))))
    if shape == "sweep":
        request = draw(direct_requests("sweep"))
        return draw(st.sampled_from([request, eventbridge_event(request), sns_event(request), scheduled_event()]))
    if shape == "sns_alarm":
        return sns_event(draw(alarm_messages_strategy(valid=True)))
    return sqs_event(*draw(st.lists(direct_requests(), min_size=1, max_size=4)))


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("shape", ["named_groups", "sweep", "sns_alarm", "sqs"])
def test_hostile_api_answers(shape: str, data: st.DataObject) -> None:
    event = data.draw(valid_events(shape), label="event")
    env = data.draw(environments("eventbridge_scheduled" if shape == "sweep" else "direct"), label="env")
    if shape == "sweep":
        env["SDRS_SERVER_GROUP_IDS"] = "all"
    plan = data.draw(api_plans("high"), label="plan")
    remaining = data.draw(REMAINING, label="remaining")
    entry = "lambda_handler" if shape == "sqs" else data.draw(st.sampled_from(["run", "lambda_handler"]))
    check(f"hostile API: {shape}", invoke(entry, event, env, remaining, plan))


# --- the harness checks itself ------------------------------------------------------------

_ENV = {
    "HUAWEICLOUD_SDK_AK": ACCESS_KEY,
    "HUAWEICLOUD_SDK_SK": SECRET_KEY,
    "HUAWEICLOUD_SDK_PROJECT_ID": P,
    "SDRS_REGION": "cn-north-4",
}
_HOST = "https://sdrs.cn-north-4.myhuaweicloud.com"


def _forged(method: str, path: str) -> Exchange:
    """A request the handler did not send, signed-looking, for the checks to judge."""
    headers = {"X-Project-Id": path.split("/")[2], "Authorization": f"SDK-HMAC-SHA256 Access={ACCESS_KEY}, x"}
    return Exchange(httpx.Request(method, _HOST + path, headers=headers), Answer("forged", 204))


def _sane(**overrides: Any) -> ApiPlan:
    plan: dict[str, Any] = {
        "salt": 1,
        "hostile_percent": 0,
        "hostile": (),
        "max_jobs": 3,
        "listing": (server_group_item(GROUPS[1]), {"id": "../x"}),
        "page_cap": 1000,
        "delete_statuses": (204,),
        "latency": 0.0,
    }
    return ApiPlan(**{**plan, **overrides})


def test_harness_sees_a_clean_run() -> None:
    """A valid event against a sane API: listed, deleted, and every check passes."""
    inv = invoke("lambda_handler", {"server_group_ids": [G, GROUPS[1]]}, dict(_ENV), 300.0, _sane(max_jobs=7, salt=3))
    check("harness", inv, record=False)
    assert inv.raised is None, inv.raised
    assert inv.response is not None
    assert inv.response["ok"] is True
    methods = [e.request.method for e in inv.api.exchanges]
    assert methods.count("GET") == 2, methods
    assert methods.count("DELETE") == sum(g["outcome"] == "deleted" for g in inv.response["groups"]) > 0, methods


def test_harness_sees_a_sweep_delete_only_listed_groups() -> None:
    env = {**_ENV, "SDRS_SERVER_GROUP_IDS": "all"}
    inv = invoke("run", scheduled_event(), env, 300.0, _sane(max_jobs=7, salt=3))
    check("harness", inv, record=False)
    assert inv.response is not None
    outcomes = {g["server_group_id"]: g["outcome"] for g in inv.response["groups"]}
    assert outcomes["../x"] == "failed"  # listed, never touched
    assert outcomes[GROUPS[1]] in ("deleted", "nothing_to_delete")


def test_harness_catches_a_delete_of_an_unasked_group() -> None:
    """The request checks fail when a DELETE names a group the event did not."""
    inv = invoke("lambda_handler", {"server_group_id": G}, dict(_ENV), 300.0, _sane())
    inv.api.exchanges.append(_forged("DELETE", f"/v1/{P}/task-center/{GROUPS[2]}/failure-jobs/batch"))
    facts = mentioned(inv.event)
    with pytest.raises(AssertionError, match="DELETE of unasked"):
        check_requests(inv, scope_of(facts, inv.env), facts, sqs=False)


def test_harness_catches_a_request_after_a_refusal() -> None:
    inv = invoke("run", {"server_group_id": "../x", "project_id": P}, dict(_ENV), 300.0, _sane())
    assert inv.response is not None
    assert inv.response["error"]["type"] == "invalid_event"
    assert not inv.api.exchanges
    check("harness", inv, record=False)
    inv.api.exchanges.append(_forged("GET", f"/v1/{P}/server-groups?limit=1000&offset=0"))
    with pytest.raises(AssertionError, match="without a sweep"):
        check("harness", inv, record=False)


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/{P}/task-center/failure-jobs/batch",  # the project-wide delete
        f"/v1/{P}/task-center/{G.upper()}/failure-jobs/batch",
        f"/v1/{P}/task-center/{G}/failure-jobs/batch/",
        f"/v1/{P.upper()}/task-center/{G}/failure-jobs/batch",
    ],
)
def test_harness_refuses_paths_outside_the_three_calls(path: str) -> None:
    inv = invoke("run", {"server_group_id": G}, dict(_ENV), 300.0, _sane(max_jobs=0))
    inv.api.exchanges.append(_forged("DELETE", path))
    facts = mentioned(inv.event)
    with pytest.raises(AssertionError, match=r"project-wide|allowed calls"):
        check_requests(inv, scope_of(facts, inv.env), facts, sqs=False)


# --- what the fuzzing found: minimal examples, now regression tests ----------------------------
# e17f6ba: crashes on JSON nested too deep (event strings, API bodies), on a body that does not
# match its Content-Encoding, and a sweep that queued every page a listing claimed.
# 26ff0db: a credential echoed in an error body's request_id reached the result and the logs.


@pytest.fixture
def env_vars(sdrs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("SDRS_MAX_ATTEMPTS", "1")
    return {**sdrs_env, "SDRS_MAX_ATTEMPTS": "1"}


def _deep_event(where: str) -> Any:
    if where == "sns_message":
        return sns_event(DEEP_ARRAY)
    if where == "eventbridge_detail":
        return eventbridge_event(DEEP_ARRAY)
    return scheduled_event(DEEP_ARRAY)


@pytest.mark.parametrize("where", ["sns_message", "eventbridge_detail", "scheduled_detail"])
def test_json_string_nested_too_deep_in_an_event_is_invalid(
    where: str, env_vars: dict[str, str], sdrs_api: respx.Router, lambda_context: Any
) -> None:
    """Was: RecursionError out of lambda_handler (json.loads recurses once per level)."""
    result = app.lambda_handler(_deep_event(where), lambda_context)
    assert result["error"]["type"] == "invalid_event"
    assert sdrs_api.calls.call_count == 0


def test_sqs_body_nested_too_deep_is_reported_not_redelivered(
    env_vars: dict[str, str], sdrs_api: respx.Router, lambda_context: Any
) -> None:
    """Was: the record handed back to the queue (until the DLQ), missing from `records`, and
    the batch reported `ok: true`."""
    response = app.lambda_handler(sqs_event(DEEP_ARRAY), lambda_context)
    assert response["batchItemFailures"] == []
    assert [r["error"]["type"] for r in response["records"]] == ["invalid_event"]
    assert response["ok"] is False


@pytest.mark.parametrize(("status", "body"), [(200, DEEP_ARRAY), (503, '{"error": ' + DEEP_ARRAY + "}")])
def test_api_body_nested_too_deep_is_a_failed_group(
    status: int, body: str, env_vars: dict[str, str], sdrs_api: respx.Router, lambda_context: Any
) -> None:
    """Was: RecursionError out of the listing parser / the error-body parser."""
    sdrs_api.route().respond(status, content=body.encode())
    result = app.lambda_handler({"server_group_id": G}, lambda_context)
    assert [g["outcome"] for g in result["groups"]] == ["failed"]


class _MislabelledGzip(http.server.BaseHTTPRequestHandler):
    """Answers every request 200 with `Content-Encoding: gzip` and a body that is not gzip."""

    def _answer(self) -> None:
        body = b'{"count": 0, "failure_jobs": []}'
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def mislabelled_gzip_endpoint() -> Iterator[str]:
    """A real HTTP server on loopback (respx decodes bodies itself, before the handler could)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _MislabelledGzip)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_body_not_matching_its_content_encoding_is_a_failed_group(
    env_vars: dict[str, str], lambda_context: Any, monkeypatch: pytest.MonkeyPatch, mislabelled_gzip_endpoint: str
) -> None:
    """Was: httpx.DecodingError (not a TransportError) out of lambda_handler."""
    monkeypatch.setenv("SDRS_ENDPOINT", mislabelled_gzip_endpoint)  # plain http: allowed to loopback only
    result = app.lambda_handler({"server_group_id": G}, lambda_context)
    assert [g["outcome"] for g in result["groups"]] == ["failed"]
    assert result["groups"][0]["error"]["retryable"] is True


def test_huge_listing_count_ends_as_discovery_failed(
    env_vars: dict[str, str],
    sdrs_api: respx.Router,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
    handler_clock: ManualClock,
) -> None:
    """count=10**12, one group per page. Was: the sweep submitted every claimed page to its
    pool before the first answer (count 10**5: 365 MB and 47 s; 10**12: never returned).
    Running out of memory is simulated by a pool refusing its 20,001st submission."""

    class BoundedPool(ThreadPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.submitted = 0

        def submit(self, *args: Any, **kwargs: Any) -> Any:
            self.submitted += 1
            if self.submitted > 20_000:
                raise MemoryError("simulated: too many queued page requests")
            return super().submit(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", BoundedPool)  # cleanup imports it when needed

    def first_page_then_out_of_time(request: httpx.Request) -> httpx.Response:
        handler_clock.advance(1e6)  # no time left: the other pages must not be requested
        return httpx.Response(200, json={"count": 10**12, "server_groups": [{"id": G}]})

    sdrs_api.route().mock(side_effect=first_page_then_out_of_time)
    result = app.lambda_handler({"all_server_groups": True}, lambda_context)
    assert result["error"]["type"] == "discovery_failed"


def test_credential_echoed_in_an_error_request_id_is_not_reported(
    env_vars: dict[str, str], sdrs_api: respx.Router, lambda_context: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """README: AK, SK and token never appear in logs or results. Was: the code and the message
    of an error body were redacted, its `request_id` (used when there is no X-Request-Id
    header) was not."""
    body = {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information", "request_id": ""}
    for secret in (SECRET_KEY, ACCESS_KEY):
        sdrs_api.routes.clear()
        sdrs_api.route().respond(401, json={**body, "request_id": secret})  # and no X-Request-Id header
        result = app.lambda_handler({"server_group_id": G}, lambda_context)
        assert [g["outcome"] for g in result["groups"]] == ["failed"]
        assert secret not in json.dumps(result), f"{secret} in {result['groups'][0]['request_id']}"
        assert secret not in capfd.readouterr().out, "in the logs"

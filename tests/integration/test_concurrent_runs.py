"""Two invocations racing on one protection group, over loopback against the SDRS emulator.

An alarm may fire during a sweep, or a group be asked for twice (the template allows three
concurrent executions): two Lambda execution environments then list and delete the same
group's failed tasks at once. Each run here is what the Lambda edge does,
`handle(Invocation(event, time left, env, Runtime(ClientFactory(...))))`, on its own thread
with its own ClientFactory (two concurrent invocations never share a process, so never a
client), started together at a barrier, with emulator latency so that their calls interleave.

What the emulator really did is the truth the runs' reports are held to:

* `RacingState` (the emulator's state, subclassed here: nothing in handler/local changes)
  records the effect of every request by its X-Request-Id: the failed tasks a listing
  answered and the ones a DELETE removed. Its hooks add failed tasks in the middle of a run
  (right after a listing, or right before a DELETE is applied) and hold requests at gates, to
  force one interleaving where a test needs it.
* Each run's requests are attributed to it by a recording wrapper round the transport the
  factory would build anyway (the same `httpx.HTTPTransport` with the same pool limits): it
  notes every request the run sent and the X-Request-Id of the answer, so that every request
  the emulator recorded belongs to exactly one run.
* Each run's log lines: the Powertools handler's stream is swapped for one that notes the
  thread each line was written from. Both runs log through the one process-wide logger (a
  correlation id is process-wide too, so it could not tell two runs in one process apart),
  but a run's lines are written on its own thread (named after the run): a single-group run
  does everything there, and a sweep's pool threads (`sdrs_N`) belong to the sweep, the only
  run in a test that has a pool. The audit record ("audit: failed task found") is always
  logged on the run's own thread.

Left to themselves (a barrier, 0.05-0.2 s of latency) the runs interleave as they will, and
the checks (`check_truth`) hold for any interleaving; gates force the interleavings worth
pinning down. One finding is a known limit (README): two runs that both list the tasks before
either deletes both report them deleted, so their failed_tasks_deleted add up to twice what the
group held (the batch DELETE answers 204 and says nothing of what it removed); a test pins it.
"""

from __future__ import annotations

import copy
import io
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from handler.core import Invocation, Runtime, handle
from handler.local.emulator import (
    DEMO_GROUP_CLEAN,
    DEMO_GROUP_UNTOUCHED,
    DEMO_GROUP_WITH_FAILURES,
    DEMO_PROJECT_ID,
    EmulatorState,
    SdrsEmulator,
)
from handler.local.sdrs_behaviour import (
    DELETE_GROUP_FAILURE_JOBS,
    LIST_FAILURE_JOBS,
    LIST_SERVER_GROUPS,
    SdrsAnswer,
    SdrsRequest,
    route_of,
)
from handler.observability import logger
from handler.sdrs.factory import ClientFactory

pytestmark = pytest.mark.slow  # loopback servers and threads: not in `make fast`

EVENTS = Path(__file__).resolve().parents[2] / "events"
G = DEMO_GROUP_WITH_FAILURES  # the group both runs ask for
OTHER_PROJECT_ID = "fedcba9876543210fedcba9876543210"
OTHER_PROJECT_GROUP = "00000000-0000-4000-8000-000000000001"
SWEEP_GROUPS = [f"5eed0000-0000-4000-8000-{n:012d}" for n in range(8)]
HELD = 5  # failed tasks in G before the runs start
LATE = 2  # failed tasks that appear in G in the middle of a run (test c)
TIME_GIVEN = 10.0  # seconds each invocation is given (each test takes about one)


# --- the emulator's record of what it did ---------------------------------------------------


@dataclass
class Effect:
    """What one request did, by the emulator's own account."""

    route: str
    group: str | None
    status: int
    listed: list[str] = field(default_factory=list)  # job ids of a listing's answer (this page)
    count: int | None = None  # a listing's `count`
    offset: int = 0
    removed: list[str] = field(default_factory=list)  # job ids a DELETE removed


Gate = Callable[[str, str, int, dict[str, str]], None]  # (phase "before"/"after", route, n-th of the route, query)
Mutation = Callable[["RacingState", str, str | None, int], None]  # (state, route, group, n), under the lock


@dataclass
class RacingState(EmulatorState):
    """The emulator's state, recording each request's effect and with hooks for the races."""

    effects: dict[str, Effect] = field(default_factory=dict)  # by X-Request-Id
    gate: Gate | None = None  # called outside the lock, before and after a request is applied
    before_apply: Mutation | None = None  # called under the lock just before a request is applied
    after_apply: Mutation | None = None  # and just after
    late: list[str] = field(default_factory=list)  # job ids added by the hooks
    _ordinals: Counter[str] = field(default_factory=Counter)

    def respond(self, request: SdrsRequest, request_id: str) -> SdrsAnswer:
        route, parts = route_of(request.method, request.path)
        query = dict(parse_qsl(request.query))
        group = parts.get("group") or query.get("server_group_id")
        project = parts.get("project", "")
        with self.lock:
            n = self._ordinals[route]
            self._ordinals[route] += 1
        if self.gate is not None:
            self.gate("before", route, n, query)
        with self.lock:
            if self.before_apply is not None:
                self.before_apply(self, route, group, n)
            before = self._job_ids(project, group)
            answer = super().respond(request, request_id)
            after = self._job_ids(project, group)
            effect = Effect(route, group, answer.status, offset=int(query.get("offset", 0)))
            if route == LIST_FAILURE_JOBS and answer.status == 200:
                body = json.loads(answer.body)
                effect.listed, effect.count = [job["job_id"] for job in body["failure_jobs"]], body["count"]
            if route == DELETE_GROUP_FAILURE_JOBS:
                effect.removed = [job_id for job_id in before if job_id not in set(after)]
            self.effects[request_id] = effect
            if self.after_apply is not None:
                self.after_apply(self, route, group, n)
        if self.gate is not None:
            self.gate("after", route, n, query)
        return answer

    def _job_ids(self, project: str, group: str | None) -> list[str]:
        return [job["job_id"] for job in self.projects.get(project, {}).get(group or "", [])]

    def add_late_tasks(self, group: str, how_many: int) -> None:
        with self.lock:
            jobs = self.projects[DEMO_PROJECT_ID][group]
            start = len(jobs) + len(self.late) + 1000  # never the id of a task listed before
            new = [self.job_factory(group, start + n) for n in range(how_many)]
            jobs.extend(new)
            self.late.extend(job["job_id"] for job in new)

    def job_ids(self, group: str, project: str = DEMO_PROJECT_ID) -> list[str]:
        with self.lock:
            return self._job_ids(project, group)


def racing_state(latency: float, sweep: bool = False) -> RacingState:
    """G with HELD failed tasks; groups around it that nobody asked for (another project's, and
    for a direct request the project's others); with `sweep`, more groups, some with tasks."""
    state = RacingState(latency=latency)
    state.add_group(DEMO_PROJECT_ID, G, failed_tasks=HELD, name="pg-web-tier")
    state.add_group(DEMO_PROJECT_ID, DEMO_GROUP_CLEAN, failed_tasks=0, name="pg-db-tier")
    state.add_group(DEMO_PROJECT_ID, DEMO_GROUP_UNTOUCHED, failed_tasks=2, name="pg-reporting")
    if sweep:
        for n, group_id in enumerate(SWEEP_GROUPS):
            state.add_group(DEMO_PROJECT_ID, group_id, failed_tasks=3 if n % 3 == 0 else 0)
    state.add_group(OTHER_PROJECT_ID, OTHER_PROJECT_GROUP, failed_tasks=4)  # never asked for
    return state


# --- one simulated Lambda execution environment per run ------------------------------------------


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    query: str
    status: int | None
    request_id: str | None

    @property
    def route(self) -> str:
        return route_of(self.method, self.path)[0]

    @property
    def group(self) -> str | None:
        return route_of(self.method, self.path)[1].get("group") or dict(parse_qsl(self.query)).get("server_group_id")

    @property
    def project(self) -> str:
        return route_of(self.method, self.path)[1].get("project", "")


class RecordingTransport(httpx.BaseTransport):
    """The transport ClientFactory builds by default (connect(): HTTPTransport, pool of 16),
    noting what this run sent and the X-Request-Id each answer came with."""

    def __init__(self) -> None:
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        self._inner = httpx.HTTPTransport(limits=limits)
        self.sent: list[Sent] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        method, path, query = request.method, request.url.path, request.url.query.decode()
        try:
            response = self._inner.handle_request(request)
        except Exception:
            self.sent.append(Sent(method, path, query, None, None))
            raise
        self.sent.append(Sent(method, path, query, response.status_code, response.headers.get("X-Request-Id")))
        return response

    def close(self) -> None:
        self._inner.close()


class ThreadTaggedStream(io.TextIOBase):
    """The log handler's stream: each line with the name of the thread that wrote it."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        thread = threading.current_thread().name
        with self._lock:
            self.lines.extend((thread, json.loads(line)) for line in text.splitlines() if line.strip())
        return len(text)

    def flush(self) -> None:
        pass


@pytest.fixture
def log_lines() -> Iterator[ThreadTaggedStream]:
    handler = logger.registered_handler
    assert hasattr(handler, "setStream")
    stream = ThreadTaggedStream()
    previous = handler.setStream(stream)  # type: ignore[union-attr]
    try:
        yield stream
    finally:
        handler.setStream(previous)  # type: ignore[union-attr]


@dataclass
class Run:
    name: str
    event: dict[str, Any]
    groups_asked: set[str]  # the groups this run may send requests about
    pooled: bool = False  # a sweep (or several groups): some of its lines come from pool threads
    settings: dict[str, str] = field(default_factory=dict)  # this run's environment, on top of the emulator's
    transport: RecordingTransport = field(default_factory=RecordingTransport)
    body: dict[str, Any] | None = None
    error: BaseException | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def result(self) -> dict[str, Any]:
        assert self.error is None, f"{self.name} raised: {self.error!r}"
        assert self.body is not None
        return self.body

    def group(self, group_id: str) -> dict[str, Any]:
        [group] = [g for g in self.result["groups"] if g["server_group_id"] == group_id]
        return group

    def claimed(self, group_id: str) -> list[str]:
        """The failed tasks this run reports it deleted in the group."""
        group = self.group(group_id)
        return [job["job_id"] for job in group["failure_jobs"]] if group["outcome"] == "deleted" else []


def race(emulator: SdrsEmulator, stream: ThreadTaggedStream, *runs: Run, **settings: str) -> None:
    """Start the runs together (a barrier), each on its own thread with its own ClientFactory."""
    # Two concurrent invocations never share a process: the one import of the HTTP stack here
    # must not hold one run back behind the other's.
    ClientFactory.preload()
    env = {**emulator.environment(), **settings}
    start = threading.Barrier(len(runs), timeout=5)

    def invoke(run: Run) -> None:
        factory = ClientFactory(transport=run.transport)
        try:
            start.wait()
            invocation = Invocation(run.event, TIME_GIVEN, {**env, **run.settings}, Runtime(factory))
            run.body = handle(invocation).body
        except BaseException as exc:  # reported by the test, not lost in the thread
            run.error = exc
        finally:
            factory.close()

    threads = [threading.Thread(target=invoke, args=(run,), name=run.name, daemon=True) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIME_GIVEN + 5)
        assert not thread.is_alive(), f"{thread.name} did not finish"
    emulator.state.settle()
    attribute_lines(stream, runs)


def attribute_lines(stream: ThreadTaggedStream, runs: tuple[Run, ...]) -> None:
    by_name = {run.name: run for run in runs}
    pooled = [run for run in runs if run.pooled]
    assert len(pooled) <= 1, "pool threads' lines could not be told apart"
    for thread, line in stream.lines:
        if thread in by_name:
            by_name[thread].lines.append(line)
        elif thread.startswith("sdrs_") and pooled:
            pooled[0].lines.append(line)
        else:
            raise AssertionError(f"a line from thread {thread!r}, no run's: {line}")


def direct(group_id: str = G) -> dict[str, Any]:
    return {"server_group_id": group_id}


def alarm(group_id: str = G) -> dict[str, Any]:
    """CloudWatch's alarm action (the events/ sample) with the group as its ServerGroupId dimension."""
    event: dict[str, Any] = json.loads((EVENTS / "cloudwatch-alarm-action.json").read_text())
    event = copy.deepcopy(event)
    for metric in event["alarmData"]["configuration"]["metrics"]:
        metric["metricStat"]["metric"]["dimensions"] = {"ServerGroupId": group_id, "ProjectId": DEMO_PROJECT_ID}
    return event


def sweep() -> dict[str, Any]:
    return {"all_server_groups": True, "project_id": DEMO_PROJECT_ID}


# --- the truth -----------------------------------------------------------------------------------


@dataclass
class Truth:
    removed: dict[str, str]  # job id -> the X-Request-Id of the DELETE that removed it
    unaudited: set[str]  # removed, and in no audit record of a run that reports it deleted
    claimed: dict[str, list[str]]  # run name -> the tasks it reports deleted in G
    double_claimed: set[str]  # tasks in G both runs report they deleted


def check_truth(state: RacingState, runs: tuple[Run, ...], held: dict[str, list[str]]) -> Truth:
    """Assert every run's report (result and logs) against what the emulator recorded; return what
    the tests document. `held`: each group's failed tasks (ids) before the runs started."""
    effects = state.effects
    calls = state.calls()
    # Only the routes the function may use (never the project-wide delete), every request signed.
    assert {call.route for call in calls} <= {LIST_SERVER_GROUPS, LIST_FAILURE_JOBS, DELETE_GROUP_FAILURE_JOBS}
    assert all(call.status != 401 for call in calls), "every request passes the signature check"
    # Every request the emulator served belongs to exactly one run, with the status it recorded.
    sent_by = {s.request_id: run for run in runs for s in run.transport.sent if s.request_id}
    assert sum(len(run.transport.sent) for run in runs) == len(calls) == len(sent_by)
    for call in calls:
        assert call.request_id in sent_by, f"a request no run sent: {call}"
        [sent] = [s for s in sent_by[call.request_id].transport.sent if s.request_id == call.request_id]
        assert (sent.method, sent.path, sent.status) == (call.method, call.path, call.status)
    # No request about a group (or project) a run was not asked for.
    for run in runs:
        for sent in run.transport.sent:
            assert sent.project == DEMO_PROJECT_ID, f"{run.name} sent {sent}"
            if sent.route == LIST_SERVER_GROUPS:
                assert run.pooled, f"{run.name} listed the project's groups: {sent}"
            else:
                assert sent.group in run.groups_asked, f"{run.name} sent a request about {sent.group}"

    removed = {job: rid for rid, e in effects.items() if e.route == DELETE_GROUP_FAILURE_JOBS for job in e.removed}
    for run in runs:
        check_run(run, state)
    # What each run says it deleted is what the emulator listed to it, and it is gone now.
    audited_by_deleters = {job for run in runs for gid in run.groups_asked for job in _claimed(run, gid)}
    for run in runs:
        for gid in run.groups_asked:
            for job in _claimed(run, gid):
                assert job in removed, f"{run.name} reports {job} deleted; the emulator never removed it"
    for gid, before in held.items():
        asked = any(gid in run.groups_asked for run in runs)
        now = state.job_ids(gid)
        if asked:
            assert now == [], f"group {gid} still holds {now}"
        else:
            assert now == before, f"group {gid}, asked for by no run, changed"
    assert len(state.job_ids(OTHER_PROJECT_GROUP, OTHER_PROJECT_ID)) == 4, "another project's group changed"
    # Every task the emulator removed is in the audit record of a run that reports it deleted,
    # except tasks that failed after that audit (test c, the known limit).
    unaudited = set(removed) - audited_by_deleters
    assert unaudited <= set(state.late), f"removed but never audited: {unaudited - set(state.late)}"
    claimed = {run.name: run.claimed(G) for run in runs if G in run.groups_asked}
    lists = list(claimed.values())
    double = set(lists[0]).intersection(*lists[1:]) if len(lists) > 1 else set()
    # failed_tasks_deleted is the tasks claimed: the tasks removed, plus those claimed twice,
    # less those removed unaudited.
    total = sum(run.result["summary"]["failed_tasks_deleted"] for run in runs)
    assert total == sum(len(_claimed(run, gid)) for run in runs for gid in run.groups_asked)
    assert total == len(removed) + len(double) - len(unaudited)
    return Truth(removed, unaudited, claimed, double)


def _claimed(run: Run, group_id: str) -> list[str]:
    return run.claimed(group_id) if any(g["server_group_id"] == group_id for g in run.result["groups"]) else []


def check_run(run: Run, state: RacingState) -> None:
    """One run's result and its log lines against the emulator's answers to its own requests."""
    effects = state.effects
    result = run.result
    assert result["error"] is None, result["error"]
    assert result["ok"] is True
    mine = {s.request_id for s in run.transport.sent}
    for group in result["groups"]:
        gid, outcome, rid = group["server_group_id"], group["outcome"], group["request_id"]
        assert rid in mine, f"{run.name} reports an answer it was not sent: {group}"
        listings = [s.request_id for s in run.transport.sent if s.route == LIST_FAILURE_JOBS and s.group == gid]
        assert listings, f"{run.name} reports on {gid} without listing it"
        last_read = listings[max(i for i, r in enumerate(listings) if effects[r].offset == 0) :]
        listed = [job for r in last_read for job in effects[r].listed]
        reported = [job["job_id"] for job in group["failure_jobs"]]
        deletes = [s for s in run.transport.sent if s.route == DELETE_GROUP_FAILURE_JOBS and s.group == gid]
        # The audit record is exactly the emulator's answer to the run's last read of the listing.
        assert reported == listed
        assert len(reported) == effects[last_read[0]].count
        assert group["status_code"] == effects[rid].status
        if outcome == "deleted":
            [delete] = deletes
            assert rid == delete.request_id
            assert (group["status_code"], effects[rid].route) == (204, DELETE_GROUP_FAILURE_JOBS)
            # Its DELETE removed nothing it had not audited, but tasks that failed after the audit.
            assert set(effects[rid].removed) - set(reported) <= set(state.late)
        elif outcome == "nothing_to_delete":
            assert (reported, deletes) == ([], [])
            assert rid == last_read[-1]
            assert effects[rid].count == 0
        else:
            raise AssertionError(f"{run.name}: {outcome} for {gid}: {group}")
    check_logs(run)


def check_logs(run: Run) -> None:
    """The run's own lines: its audit record is its result's, logged before its delete."""
    lines = run.lines
    messages = [line["message"] for line in lines]
    result = run.result
    audit = [
        (line["server_group_id"], line["failure_job"])
        for line in lines
        if line["message"] == "audit: failed task found"
    ]
    reported = [(g["server_group_id"], job) for g in result["groups"] for job in g["failure_jobs"]]
    assert sorted(audit, key=_key) == sorted(reported, key=_key)
    deleted_lines = {line["server_group_id"]: line for line in lines if line["message"] == "failed tasks deleted"}
    deleted = {g["server_group_id"]: g for g in result["groups"] if g["outcome"] == "deleted"}
    assert deleted_lines.keys() == deleted.keys()
    for gid, line in deleted_lines.items():
        assert (line["count"], line["request_id"]) == (len(deleted[gid]["failure_jobs"]), deleted[gid]["request_id"])
        last_audit = max(
            (
                i
                for i, other in enumerate(lines)
                if other.get("server_group_id") == gid and other["message"].startswith("audit")
            ),
            default=-1,
        )
        assert last_audit < lines.index(line), "the audit record is logged before the delete"
    [finished] = [line for line in lines if line["message"] == "invocation finished"]
    assert finished["summary"] == result["summary"]
    assert messages.count("invocation finished") == 1


def _key(item: tuple[str, dict[str, Any]]) -> tuple[str, str]:
    return item[0], item[1]["job_id"]


def held_now(state: RacingState) -> dict[str, list[str]]:
    with state.lock:
        return {gid: [job["job_id"] for job in jobs] for gid, jobs in state.projects[DEMO_PROJECT_ID].items()}


def outcomes(*runs: Run, group_id: str = G) -> list[str]:
    return sorted(run.group(group_id)["outcome"] for run in runs)


def describe(truth: Truth, *runs: Run) -> str:
    """The interleaving a test saw, for its output (pytest -rP)."""
    parts = [f"{run.name}: {run.group(G)['outcome']} claims {len(truth.claimed.get(run.name, []))}" for run in runs]
    return "; ".join(parts) + f"; removed {len(truth.removed)}, claimed twice {len(truth.double_claimed)}"


# Gates that force one interleaving (the emulator holds a request until the other run catches up).


def both_listings_before_any_delete(group: str = G) -> Gate:
    """The first two listings of the group are each held until the other has arrived."""
    together = threading.Barrier(2, timeout=5)
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def gate(phase: str, route: str, n: int, query: dict[str, str]) -> None:
        if phase == "before" and route == LIST_FAILURE_JOBS and query.get("server_group_id") == group:
            with lock:
                nth = seen[group]
                seen[group] += 1
            if nth < 2:
                together.wait()

    return gate


def listing_held_until_the_first_delete(held: Callable[[int, dict[str, str]], bool]) -> Gate:
    """A listing request for which `held(n, query)` is true waits until the first DELETE is applied."""
    deleted = threading.Event()

    def gate(phase: str, route: str, n: int, query: dict[str, str]) -> None:
        if phase == "after" and route == DELETE_GROUP_FAILURE_JOBS and n == 0:
            deleted.set()
        if phase == "before" and route == LIST_FAILURE_JOBS and held(n, query):
            assert deleted.wait(5), "the other run never deleted"

    return gate


def second_listing_after_first_delete() -> Gate:
    return listing_held_until_the_first_delete(lambda n, query: n == 1)


def pages_of_two_wait_for_the_delete() -> Gate:
    """The paged run's second page (limit=2, offset=2) is held until the other run's DELETE is applied."""
    return listing_held_until_the_first_delete(lambda n, query: query.get("limit") == "2" and query["offset"] == "2")


def two_direct_runs() -> tuple[Run, Run]:
    return Run("run-a", direct(), {G}), Run("run-b", direct(), {G})


def forced_race(
    log_lines: ThreadTaggedStream, *runs: Run, latency: float = 0.05, **hooks: Any
) -> tuple[RacingState, dict[str, list[str]], Truth]:
    """Race `runs` (two direct runs for G by default), the interleaving forced by `hooks` (the
    state's gate, before_apply, after_apply); return the state, what it held, and the truth."""
    state = racing_state(latency)
    for name, hook in hooks.items():
        setattr(state, name, hook)
    held = held_now(state)
    runs = runs or two_direct_runs()
    with SdrsEmulator(state) as emulator:
        race(emulator, log_lines, *runs)
    return state, held, check_truth(state, runs, held)


# --- (a) two direct requests for the same group ---------------------------------------------------


@pytest.mark.parametrize("page_size", ["1000", "2"], ids=["one-page", "pages-of-2"])
@pytest.mark.parametrize("latency", [0.05, 0.2])
def test_two_direct_requests_for_one_group_report_what_the_emulator_did(
    log_lines: ThreadTaggedStream, latency: float, page_size: str
) -> None:
    """However the two runs interleave (with pages of 2, one's DELETE may land between the
    other's pages), each run's audit record is the emulator's answer to it, every removed task
    is in the audit record of a run that reports it deleted, and nothing else is touched."""
    state = racing_state(latency)
    held = held_now(state)
    runs = two_direct_runs()
    with SdrsEmulator(state) as emulator:
        race(emulator, log_lines, *runs, SDRS_PAGE_SIZE=page_size)
    truth = check_truth(state, runs, held)
    print(describe(truth, *runs))
    assert set(truth.removed) == set(held[G])
    assert not truth.unaudited
    assert len(state.calls(DELETE_GROUP_FAILURE_JOBS)) in (1, 2)
    assert "deleted" in outcomes(*runs)
    # The second run either listed the tasks before the first run's DELETE (and reports them
    # deleted as well: its own DELETE removed nothing), or found them gone.
    for run in runs:
        assert run.group(G)["outcome"] in ("deleted", "nothing_to_delete")


def test_both_runs_listing_before_either_deletes_both_report_every_task_deleted(
    log_lines: ThreadTaggedStream,
) -> None:
    """The race forced: each run's listing is held until the other's arrives. Both audit the
    same five tasks, both DELETE (204 both times; the second removes nothing), and both report
    the five tasks `deleted`: the batch DELETE's answer cannot say what it removed."""
    runs = two_direct_runs()
    state, held, truth = forced_race(log_lines, *runs, gate=both_listings_before_any_delete())
    assert outcomes(*runs) == ["deleted", "deleted"]
    assert truth.double_claimed == set(held[G])
    removals = sorted(len(state.effects[c.request_id or ""].removed) for c in state.calls(DELETE_GROUP_FAILURE_JOBS))
    assert removals == [0, HELD]
    # The known limit (README, Known limits): the two results together claim twice what was held.
    assert [run.result["summary"]["failed_tasks_deleted"] for run in runs] == [HELD, HELD]


def test_a_run_listing_after_the_other_deleted_reports_nothing_to_delete(log_lines: ThreadTaggedStream) -> None:
    """The other interleaving forced: the second listing is held until the first DELETE is applied."""
    runs = two_direct_runs()
    state, _, truth = forced_race(log_lines, *runs, gate=second_listing_after_first_delete())
    assert outcomes(*runs) == ["deleted", "nothing_to_delete"]
    assert not truth.double_claimed
    assert len(state.calls(DELETE_GROUP_FAILURE_JOBS)) == 1
    assert sum(run.result["summary"]["failed_tasks_deleted"] for run in runs) == HELD
    [late] = [run for run in runs if run.group(G)["outcome"] == "nothing_to_delete"]
    assert not [line for line in late.lines if line["message"] == "audit: failed task found"]


def test_a_delete_between_the_other_runs_pages_makes_it_read_again_and_find_nothing(
    log_lines: ThreadTaggedStream,
) -> None:
    """One run lists in pages of 2, the other in one page. The paged run's second page is held
    until the other run's DELETE is applied: that page then counts 0, not 5, so the paged run
    reads the listing again from the start, finds nothing and deletes nothing."""
    paged = Run("run-paged", direct(), {G}, settings={"SDRS_PAGE_SIZE": "2"})
    whole = Run("run-whole", direct(), {G})
    state, held, truth = forced_race(log_lines, paged, whole, gate=pages_of_two_wait_for_the_delete())
    assert (paged.group(G)["outcome"], whole.group(G)["outcome"]) == ("nothing_to_delete", "deleted")
    assert truth.claimed == {"run-paged": [], "run-whole": held[G]}
    pages = [(s.status, dict(parse_qsl(s.query))["offset"]) for s in paged.transport.sent]
    assert pages == [(200, "0"), (200, "2"), (200, "0")]  # the first read, its changed page, the read again
    assert [state.effects[s.request_id or ""].count for s in paged.transport.sent] == [HELD, 0, 0]


# --- (b) an alarm for one group during a sweep of its project ------------------------------------------


@pytest.mark.parametrize(
    ("latency", "forced"),
    [
        pytest.param(0.05, False, id="0.05"),
        pytest.param(0.15, False, id="0.15"),
        pytest.param(0.05, True, id="the-sweep-lists-G-before-the-alarm-deletes"),
    ],
)
def test_an_alarm_during_a_sweep(log_lines: ThreadTaggedStream, latency: float, forced: bool) -> None:
    """The alarm's run lists and deletes G while the sweep lists the project's groups, then
    lists every group (G among them) and deletes where it found tasks: the alarm's run touches
    only G, the sweep only its project, and G's tasks are audited by whichever deleted them.
    Left to itself the alarm's run wins (the sweep lists the groups first, a round trip more);
    `forced` holds the alarm's listing of G until the sweep's arrives: both then report G's
    five tasks deleted."""
    state = racing_state(latency, sweep=True)
    if forced:
        state.gate = both_listings_before_any_delete(G)
    held = held_now(state)
    other_before = state.job_ids(OTHER_PROJECT_GROUP, OTHER_PROJECT_ID)
    alarm_run = Run("run-alarm", alarm(), {G})
    sweep_run = Run("run-sweep", sweep(), set(held), pooled=True)
    with SdrsEmulator(state) as emulator:
        race(emulator, log_lines, alarm_run, sweep_run)
    truth = check_truth(state, (alarm_run, sweep_run), held)
    print(describe(truth, alarm_run, sweep_run))
    assert alarm_run.result["trigger"] == "cloudwatch_alarm"
    assert [g["server_group_id"] for g in alarm_run.result["groups"]] == [G]
    assert {g["server_group_id"] for g in sweep_run.result["groups"]} == set(held)
    assert set(truth.removed) == {job for jobs in held.values() for job in jobs}
    assert not truth.unaudited
    assert state.job_ids(OTHER_PROJECT_GROUP, OTHER_PROJECT_ID) == other_before
    if forced:
        assert outcomes(alarm_run, sweep_run) == ["deleted", "deleted"]
        assert truth.double_claimed == set(held[G])
    # Every group but G was the sweep's alone: it reports what it found there.
    for gid, jobs in held.items():
        if gid != G:
            expected = "deleted" if jobs else "nothing_to_delete"
            assert sweep_run.group(gid)["outcome"] == expected
            assert sweep_run.claimed(gid) == jobs


# --- (c) failed tasks appearing between a run's listing and its DELETE --------------------------------


def late_tasks_after_first_listing(state: RacingState, route: str, group: str | None, n: int) -> None:
    # Just after the first listing *applied* (its effect is recorded already).
    if route == LIST_FAILURE_JOBS and group == G and len(applied(state, LIST_FAILURE_JOBS)) == 1:
        state.add_late_tasks(G, LATE)


def late_tasks_before_first_delete(state: RacingState, route: str, group: str | None, n: int) -> None:
    # The first DELETE *applied*: the n-th ordinal is taken before the gate, so it may not be.
    if route == DELETE_GROUP_FAILURE_JOBS and group == G and not applied(state, DELETE_GROUP_FAILURE_JOBS):
        state.add_late_tasks(G, LATE)


def applied(state: RacingState, route: str) -> list[str]:
    """The request ids of a route's requests in the order they were applied (not answered)."""
    return [request_id for request_id, effect in state.effects.items() if effect.route == route]


def test_tasks_failing_just_before_the_delete_are_removed_unaudited(log_lines: ThreadTaggedStream) -> None:
    """The known limit, documented: the batch DELETE removes every failed task of the group,
    including tasks that failed after the audit. Two tasks fail just before the first DELETE
    is applied: it removes them; no run listed them, so they are in no audit record, and the
    run that sent that DELETE reports `deleted` with the five tasks it audited
    (failed_tasks_deleted 5, though the emulator removed 7)."""
    runs = two_direct_runs()
    state, held, truth = forced_race(log_lines, *runs, latency=0.1, before_apply=late_tasks_before_first_delete)
    print(describe(truth, *runs))
    assert len(state.late) == LATE
    assert truth.unaudited == set(state.late)
    assert set(truth.removed) == set(held[G]) | set(state.late)
    [first_delete, *_] = applied(state, DELETE_GROUP_FAILURE_JOBS)
    assert set(state.effects[first_delete].removed) == set(held[G]) | set(state.late)
    [sender] = [run for run in runs if any(s.request_id == first_delete for s in run.transport.sent)]
    assert sender.group(G)["outcome"] == "deleted"
    assert sender.claimed(G) == held[G]
    assert sender.result["summary"]["failed_tasks_deleted"] == HELD
    # Nothing any run returned or logged names the late tasks.
    for run in runs:
        text = json.dumps(run.result) + json.dumps(run.lines)
        assert not [job for job in state.late if job in text]


def test_tasks_failing_after_the_first_listing_are_audited_by_whichever_run_saw_them(
    log_lines: ThreadTaggedStream,
) -> None:
    """Two tasks fail right after the first listing is answered. The other run, listing before
    the first DELETE, sees them and reports them deleted; if it lists after that DELETE, they
    were removed unaudited (the known limit again). Either way the reports say only what was
    listed to each run, and the tasks removed without an audit are only the late ones."""
    runs = two_direct_runs()
    state, held, truth = forced_race(log_lines, *runs, latency=0.1, after_apply=late_tasks_after_first_listing)
    print(describe(truth, *runs))
    assert set(truth.removed) == set(held[G]) | set(state.late)
    claims = sorted(truth.claimed.values(), key=len)
    if truth.unaudited:  # the second run listed after the first DELETE
        assert truth.unaudited == set(state.late)
        assert outcomes(*runs) == ["deleted", "nothing_to_delete"]
    else:  # the second run listed the five and the two late ones
        assert claims == [held[G], held[G] + state.late]

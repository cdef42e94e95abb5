"""The cleanup itself. Knows no events and no HTTP.

    (sweep: list every protection group of the project)
    audit:  list each group's failed tasks, concurrently         → the audit record
    brake:  more failed tasks than allowed in all? delete nothing → every group `held`
    delete: one batch DELETE per group that has failed tasks, concurrently (unless dry run)

The time budget: a group's audit starts only while the time left covers a listing and the
delete it may lead to, and a delete only while it covers one call; what a call takes is judged
from the API's answers so far (SdrsApi.call_time), or fixed by SDRS_GROUP_START_MARGIN_SECONDS
(a delete needs the margin, an audit twice it). Groups not started are reported `deferred`,
with the time that was left and the time that was needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

from handler.models import (
    CleanupRequest,
    ErrorType,
    GroupError,
    GroupResult,
    GroupTarget,
    InvocationError,
    InvocationResult,
    Outcome,
)
from handler.observability import logger
from handler.sdrs.api import (
    Deadline,
    FailureJobListing,
    Reply,
    SdrsApi,
    SdrsApiError,
    check_server_group_id,
    invalid_response,
)
from handler.values import value_object

# A listing that claims more pages than this is refused rather than fetched: at the API's page
# size (1000) that is a million groups, far beyond any project's quota.
MAX_DISCOVERY_PAGES = 1000


class Mapper(Protocol):
    """A ThreadPoolExecutor, or the calling thread (`_OnThisThread`)."""

    def map[R](self, fn: Callable[..., R], *iterables: Iterable[Any]) -> Iterator[R]: ...


class _OnThisThread:
    """One group needs no pool: starting and joining threads would be most of a warm call's overhead."""

    def map[R](self, fn: Callable[..., R], *iterables: Iterable[Any]) -> Iterator[R]:
        return map(fn, *iterables)


def _pool(request: CleanupRequest, policy: CleanupPolicy) -> AbstractContextManager[Mapper]:
    if request.sweep_project_id is None and len(request.targets) <= 1:
        return nullcontext(_OnThisThread())
    from concurrent.futures import ThreadPoolExecutor  # 6 ms of import a one-group invocation never needs

    return ThreadPoolExecutor(max_workers=policy.max_concurrency, thread_name_prefix="sdrs")


@value_object
class CleanupPolicy:
    """How a run is bounded: threads, the safety brake, and the margin a group needs to start (None: judged from
    the calls)."""

    max_concurrency: int
    # The safety brake: a run that would delete more failed tasks than this deletes none.
    max_failed_tasks: int
    # None: judged from what the calls take.
    group_start_margin: float | None

    def delete_needs(self, api: SdrsApi) -> float:
        return self.group_start_margin if self.group_start_margin is not None else api.call_time()

    def audit_needs(self, api: SdrsApi) -> float:
        """A listing, and the delete it may lead to: audits stop while there is still time for the
        deletes, or a run that ran short while auditing would defer every delete, run after run."""
        return 2 * self.delete_needs(api)


@value_object
class CleanupReport:
    """What a run did: each group's result, or the error that stopped it before any group."""

    groups: list[GroupResult]
    error: InvocationError | None = None
    listed_bytes: int | None = 0  # what the listings with failed tasks weighed (None: not known)


def run_cleanup(request: CleanupRequest, api: SdrsApi, deadline: Deadline, policy: CleanupPolicy) -> CleanupReport:
    with _pool(request, policy) as pool:
        run = _Run(api, deadline, policy, pool)
        targets, unusable = list(request.targets), list[GroupResult]()
        if request.sweep_project_id is not None:
            try:
                targets, unusable = _discover(request.sweep_project_id, api, deadline, pool)
            except SdrsApiError as error:
                return _discovery_failed(request.sweep_project_id, error)
            start = int(len(targets) * request.sweep_start) % max(1, len(targets))
            targets = targets[start:] + targets[:start]  # fair sweeps: the start moves between runs
        audits = list(pool.map(run.audit, targets))
        found = [(t, a) for t, a in zip(targets, audits, strict=True) if isinstance(a, FailureJobListing) and a.jobs]
        for target, listing in found:
            for job in listing.jobs:
                logger.info("audit: failed task found", extra={**_ids(target), "failure_job": job})
        results, brake_error = run.act(request, found)
    audited = list(zip(targets, audits, strict=True))
    if request.sweep_project_id is not None:  # reported by id, wherever the sweep started
        audited.sort(key=lambda item: item[0].server_group_id)
    groups = [
        results.get(t) or (a if isinstance(a, GroupResult) else _listed(t, Outcome.NOTHING_TO_DELETE, a))
        for t, a in audited
    ]
    weights = [listing.body_bytes for _, listing in found]
    return CleanupReport(groups + unusable, brake_error, None if 0 in weights else sum(weights))


@value_object
class _Run:
    """One run's shared state: the request, the API, the deadline and the policy."""

    api: SdrsApi
    deadline: Deadline
    policy: CleanupPolicy
    pool: Mapper

    def audit(self, target: GroupTarget) -> GroupResult | FailureJobListing:
        left, needed = self.deadline.remaining(), self.policy.audit_needs(self.api)
        if left < needed:
            return _deferred(target, [], "not started", left, needed)
        try:
            return self.api.list_failure_jobs(target.project_id, target.server_group_id, self.deadline)
        except SdrsApiError as error:
            return _failed(target, error, [], attempts=0)

    def act(
        self, request: CleanupRequest, found: list[tuple[GroupTarget, FailureJobListing]]
    ) -> tuple[dict[GroupTarget, GroupResult], InvocationError | None]:
        """The brake, a dry run, or the deletes: the results of the groups that have failed tasks."""
        total = sum(len(listing.jobs) for _, listing in found)
        limit = self.policy.max_failed_tasks if request.max_failed_tasks is None else request.max_failed_tasks
        if total > limit:
            return _brake(found, total, limit)
        if request.dry_run:
            return {t: _listed(t, Outcome.WOULD_DELETE, listing) for t, listing in found}, None
        return dict(zip((t for t, _ in found), self.pool.map(self.delete, found), strict=True)), None

    def delete(self, item: tuple[GroupTarget, FailureJobListing]) -> GroupResult:
        target, listing = item
        return _delete(target, listing.jobs, self.api, self.deadline, self.policy)


def _discovery_failed(project_id: str, error: SdrsApiError) -> CleanupReport:
    message = f"listing the protection groups of project {project_id} failed: {error}"
    logger.error("discovery failed", extra={"error_code": error.code, "request_id": error.request_id})
    return CleanupReport([], InvocationError(ErrorType.DISCOVERY_FAILED, message, error.retryable))


def _discover(
    project_id: str, api: SdrsApi, deadline: Deadline, pool: Mapper
) -> tuple[list[GroupTarget], list[GroupResult]]:
    """Every protection group of the project, sorted by id; later pages fetched concurrently."""
    first = api.server_groups_page(project_id, 0, deadline)
    if first.count and not first.server_groups:
        raise invalid_response(
            f"the protection group listing counts {first.count} groups but its first page is empty", first.reply
        )
    # The server's page size may be smaller than the limit asked for: step by what it gave.
    page_size = len(first.server_groups) or 1
    if first.count > MAX_DISCOVERY_PAGES * page_size:
        raise invalid_response(
            f"the protection group listing counts {first.count} groups in pages of {page_size}: "
            f"more than {MAX_DISCOVERY_PAGES} pages, not to be believed",
            first.reply,
        )
    offsets = range(page_size, first.count, page_size)
    pages = [first, *pool.map(lambda offset: api.server_groups_page(project_id, offset, deadline), offsets)]
    listed = [group for page in pages for group in page.server_groups]
    if len(listed) != first.count or any(page.count != first.count for page in pages):
        raise invalid_response(
            f"the protection group listing changed while it was read ({len(listed)} listed, count {first.count})",
            pages[-1].reply,
        )
    targets, unusable = [], []
    for group_id in sorted({str(group.get("id")) for group in listed}):
        try:
            targets.append(GroupTarget(project_id, check_server_group_id(group_id)))
        except ValueError:
            unusable.append(_unusable(project_id, group_id))
    logger.info("protection groups found", extra={"project_id": project_id, "groups": len(targets)})
    return targets, unusable


def _delete(
    target: GroupTarget, jobs: list[dict[str, Any]], api: SdrsApi, deadline: Deadline, policy: CleanupPolicy
) -> GroupResult:
    left, needed = deadline.remaining(), policy.delete_needs(api)
    if left < needed:
        return _deferred(target, jobs, "audited but not deleted", left, needed)
    try:
        reply = api.delete_group_failure_jobs(target.project_id, target.server_group_id, deadline)
    except SdrsApiError as error:
        return _failed(target, error, jobs, attempts=error.attempts)
    logger.info("failed tasks deleted", extra={**_ids(target), "count": len(jobs), "request_id": reply.request_id})
    return _result(target, Outcome.DELETED, jobs, reply, reply.attempts)


def _brake(
    found: Iterable[tuple[GroupTarget, FailureJobListing]], total: int, limit: int
) -> tuple[dict[GroupTarget, GroupResult], InvocationError]:
    message = (
        f"safety brake: this run would delete {total} failed tasks, more than the limit of {limit} "
        "(SDRS_MAX_FAILED_TASKS, or max_failed_tasks in the request); nothing was deleted"
    )
    error = GroupError("SafetyBrake.Tripped", message, retryable=False)
    held = {target: _listed(target, Outcome.HELD, listing, error) for target, listing in found}
    logger.error("safety brake tripped", extra={"failed_tasks": total, "limit": limit})
    return held, InvocationError(ErrorType.SAFETY_BRAKE, message)


def _ids(target: GroupTarget) -> dict[str, str]:
    return {"project_id": target.project_id, "server_group_id": target.server_group_id}


def _listed(
    target: GroupTarget, outcome: Outcome, listing: FailureJobListing, error: GroupError | None = None
) -> GroupResult:
    if error is None:
        extra = {
            **_ids(target),
            "outcome": str(outcome),
            "count": len(listing.jobs),
            "request_id": listing.last.request_id,
        }
        # Groups with nothing to delete are most of a sweep: their line is for debugging only.
        log = logger.debug if outcome is Outcome.NOTHING_TO_DELETE else logger.info
        log("protection group audited", extra=extra)
    return _result(target, outcome, listing.jobs, listing.last, 0, error)


def _result(
    target: GroupTarget,
    outcome: Outcome,
    jobs: list[dict[str, Any]],
    reply: Reply,
    attempts: int,
    error: GroupError | None = None,
) -> GroupResult:
    return GroupResult(
        target.project_id,
        target.server_group_id,
        outcome,
        failure_jobs=jobs,
        status_code=reply.status_code,
        request_id=reply.request_id,
        attempts=attempts,
        error=error,
    )


def _deferred(target: GroupTarget, jobs: list[dict[str, Any]], what: str, left: float, needed: float) -> GroupResult:
    message = (
        f"{what}: too little invocation time left ({left:.2f}s left, {needed:.2f}s needed); "
        "the next run picks this group up"
    )
    logger.warning(
        "protection group deferred",
        extra={**_ids(target), "reason": message, "seconds_left": round(left, 3), "seconds_needed": round(needed, 3)},
    )
    return GroupResult(
        target.project_id,
        target.server_group_id,
        Outcome.DEFERRED,
        failure_jobs=jobs,
        error=GroupError("Deadline.Deferred", message, retryable=True),
    )


def _failed(target: GroupTarget, error: SdrsApiError, jobs: list[dict[str, Any]], attempts: int) -> GroupResult:
    logger.error(
        "protection group cleanup failed",
        extra={
            **_ids(target),
            "error_code": error.code,
            "error_message": error.message,
            "retryable": error.retryable,
            "status_code": error.status_code,
            "request_id": error.request_id,
        },
    )
    return GroupResult(
        target.project_id,
        target.server_group_id,
        Outcome.FAILED,
        failure_jobs=jobs,
        status_code=error.status_code,
        request_id=error.request_id,
        attempts=attempts,
        error=GroupError(error.code, error.message, error.retryable),
    )


def _unusable(project_id: str, group_id: str) -> GroupResult:
    message = "the API listed a protection group whose id is not a UUID; it was left alone"
    logger.error("unusable protection group id", extra={"project_id": project_id, "listed_id": group_id[:64]})
    return GroupResult(
        project_id, group_id[:64], Outcome.FAILED, error=GroupError("Response.Invalid", message, retryable=False)
    )


def invocation_result(trigger: str, dry_run: bool, report: CleanupReport) -> InvocationResult:
    """The report as the invocation's result: its top-level error names the failed groups
    (the first 20), and says whether a retry of the event may help."""
    error = report.error
    failed = [g for g in report.groups if g.outcome is Outcome.FAILED]
    deferred = sum(1 for g in report.groups if g.outcome is Outcome.DEFERRED)
    later = f"; {deferred} deferred for lack of time" if deferred else ""
    if error is None and failed:
        names = "; ".join(f"{g.server_group_id}: {g.error.code if g.error else '?'}" for g in failed[:20])
        more = f"; and {len(failed) - 20} more" if len(failed) > 20 else ""
        message = f"{len(failed)} of {len(report.groups)} groups failed: {names}{more}{later}"
        retryable = deferred > 0 or any(g.error is not None and g.error.retryable for g in failed)
        error = InvocationError(ErrorType.GROUP_FAILURES, message, retryable=retryable)
    elif error is None and deferred:
        message = f"{deferred} of {len(report.groups)} groups deferred: too little invocation time left to start them"
        error = InvocationError(ErrorType.DEADLINE, message, retryable=True)
    return InvocationResult(trigger, dry_run, report.groups, error, report.listed_bytes)

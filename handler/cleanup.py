"""The cleanup itself: per group, list the failed tasks (the audit record), then delete
them with one call, or only report them on a dry run. Knows no events and no HTTP."""

from __future__ import annotations

from typing import Any, Protocol

from handler.models import CleanupRequest, GroupError, GroupResult, GroupTarget, Outcome
from handler.observability import logger
from handler.sdrs.client import Deadline, FailureJobListing, Reply
from handler.sdrs.errors import SdrsApiError


class FailureJobsApi(Protocol):
    def list_failure_jobs(self, project_id: str, server_group_id: str, deadline: Deadline) -> FailureJobListing: ...

    def delete_group_failure_jobs(self, project_id: str, server_group_id: str, deadline: Deadline) -> Reply: ...


def clean_groups(request: CleanupRequest, api: FailureJobsApi, deadline: Deadline) -> list[GroupResult]:
    return [clean_group(target, request.dry_run, api, deadline) for target in request.targets]


def _failed(target: GroupTarget, error: SdrsApiError, jobs: list[dict[str, Any]], attempts: int) -> GroupResult:
    logger.error(
        "protection group cleanup failed",
        extra={
            "project_id": target.project_id,
            "server_group_id": target.server_group_id,
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


def clean_group(target: GroupTarget, dry_run: bool, api: FailureJobsApi, deadline: Deadline) -> GroupResult:
    ids = {"project_id": target.project_id, "server_group_id": target.server_group_id}
    try:
        listing = api.list_failure_jobs(target.project_id, target.server_group_id, deadline)
    except SdrsApiError as error:
        return _failed(target, error, [], attempts=0)
    jobs = listing.jobs
    if jobs and not dry_run:
        for job in jobs:
            logger.info("audit: failed task to be deleted", extra={**ids, "failure_job": job})
        try:
            deleted = api.delete_group_failure_jobs(target.project_id, target.server_group_id, deadline)
        except SdrsApiError as error:
            return _failed(target, error, jobs, attempts=error.attempts)
        logger.info("failed tasks deleted", extra={**ids, "count": len(jobs), "request_id": deleted.request_id})
        return _result(target, Outcome.DELETED, jobs, deleted)
    outcome = Outcome.WOULD_DELETE if jobs else Outcome.NOTHING_TO_DELETE
    logger.info(
        f"{len(jobs)} failed tasks found",
        extra={**ids, "outcome": str(outcome), "request_id": listing.last.request_id, "failure_jobs": jobs},
    )
    return _result(target, outcome, jobs, listing.last, attempts=0)


def _result(
    target: GroupTarget, outcome: Outcome, jobs: list[dict[str, Any]], reply: Reply, attempts: int | None = None
) -> GroupResult:
    return GroupResult(
        target.project_id,
        target.server_group_id,
        outcome,
        failure_jobs=jobs,
        status_code=reply.status_code,
        request_id=reply.request_id,
        attempts=reply.attempts if attempts is None else attempts,
    )

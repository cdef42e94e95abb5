"""Identifiers, the validated cleanup request, and the result the function returns."""

from __future__ import annotations

from dataclasses import field
from enum import StrEnum
from typing import Any

from handler.sdrs.api import check_project_id, check_server_group_id
from handler.values import value_object


@value_object
class GroupTarget:
    """A protection group to clean, in its project."""

    project_id: str
    server_group_id: str

    def __post_init__(self) -> None:
        check_project_id(self.project_id)
        check_server_group_id(self.server_group_id)


@value_object
class CleanupRequest:
    """What one invocation must do, whatever the trigger was: the groups named in
    `targets`, or, with `sweep_project_id`, every protection group of that project."""

    targets: tuple[GroupTarget, ...] = ()
    dry_run: bool = False
    sweep_project_id: str | None = None
    # Overrides SDRS_MAX_FAILED_TASKS, the safety brake, for this request only.
    max_failed_tasks: int | None = None
    # Where in its sorted groups a sweep starts, as a fraction of them (fair sweeps).
    sweep_start: float = 0.0

    def __post_init__(self) -> None:
        if self.sweep_project_id is not None:
            check_project_id(self.sweep_project_id)
            if self.targets:
                raise ValueError("a sweep names no groups")

    @property
    def has_work(self) -> bool:
        return bool(self.targets) or self.sweep_project_id is not None


class Outcome(StrEnum):
    DELETED = "deleted"
    NOTHING_TO_DELETE = "nothing_to_delete"
    WOULD_DELETE = "would_delete"
    FAILED = "failed"
    # Not started: the invocation's time ran short. The next run picks the group up.
    DEFERRED = "deferred"
    # Found failed tasks but deleted nothing: the safety brake tripped.
    HELD = "held"


class Retry(StrEnum):
    """How the trigger's platform retries an invocation, which decides what a failure should do."""

    NONE = "none"  # synchronous: the caller reads the result; nothing is retried
    EVENT = "event"  # asynchronous, one-off: a raise makes the platform deliver the event again
    TIMER = "timer"  # asynchronous, recurring: a raise retries, and the next run redoes deferred work anyway
    RECORD = "record"  # a queue record: a record reported as failed is delivered again


class ErrorType(StrEnum):
    INVALID_EVENT = "invalid_event"
    CONFIGURATION = "configuration"
    GROUP_FAILURES = "group_failures"
    SAFETY_BRAKE = "safety_brake"
    DEADLINE = "deadline"
    DISCOVERY_FAILED = "discovery_failed"


@value_object
class GroupError:
    """Why a group was not cleaned, and whether trying again can help."""

    code: str
    message: str
    retryable: bool

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


@value_object
class GroupResult:
    """What became of one group: its outcome, the failed tasks listed (the audit record) and the API's answer."""

    project_id: str
    server_group_id: str
    outcome: Outcome
    failure_jobs: list[dict[str, Any]] = field(default_factory=list)
    status_code: int | None = None
    request_id: str | None = None
    attempts: int = 0
    error: GroupError | None = None

    def to_dict(self) -> dict[str, Any]:
        """Each failed task is a copy of the one listed (a task's values are JSON scalars)."""
        return {
            "project_id": self.project_id,
            "server_group_id": self.server_group_id,
            "outcome": self.outcome,
            "failure_jobs": [dict(job) for job in self.failure_jobs],
            "status_code": self.status_code,
            "request_id": self.request_id,
            "attempts": self.attempts,
            "error": None if self.error is None else self.error.to_dict(),
        }


@value_object
class InvocationError:
    """Why an invocation did nothing, or not everything."""

    type: ErrorType
    message: str
    retryable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "retryable": self.retryable}


_DONE = frozenset({Outcome.DELETED, Outcome.NOTHING_TO_DELETE, Outcome.WOULD_DELETE})
# The summary's counts, in its order.
_SUMMARY_OUTCOMES = (
    Outcome.DELETED,
    Outcome.NOTHING_TO_DELETE,
    Outcome.WOULD_DELETE,
    Outcome.FAILED,
    Outcome.DEFERRED,
    Outcome.HELD,
)


@value_object
class InvocationResult:
    """The structured result of one invocation (or one SQS record)."""

    trigger: str
    dry_run: bool = False
    groups: list[GroupResult] = field(default_factory=list)
    error: InvocationError | None = None
    # What the failed tasks in `groups` weighed as the API sent them (None: not known), so that the
    # response size guard measures only results that may be near the limit. Not in the result.
    listed_bytes: int | None = field(default=None, compare=False, repr=False)
    # Why a valid event asked for nothing (an alarm's recovery, an alarm about something else).
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(g.outcome in _DONE for g in self.groups)

    @property
    def retryable_failures(self) -> list[GroupResult]:
        """Groups that failed in a way a retry may fix (deferred groups are not failures)."""
        return [g for g in self.groups if g.outcome is Outcome.FAILED and g.error is not None and g.error.retryable]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for g in self.groups if g.outcome is outcome)

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(_SUMMARY_OUTCOMES, 0)  # one pass: a sweep's result has thousands of groups
        tasks_deleted = 0
        for group in self.groups:
            counts[group.outcome] += 1
            if group.outcome is Outcome.DELETED:
                tasks_deleted += len(group.failure_jobs)
        return {
            "groups_found": len(self.groups),
            **{outcome.value: counts[outcome] for outcome in _SUMMARY_OUTCOMES},
            "failed_tasks_deleted": tasks_deleted,
        }

    def to_dict(self) -> dict[str, Any]:
        """The result as the function returns it (written out: `dataclasses.asdict` took 14 µs of
        every warm invocation; tests/unit/test_result_dict.py holds the two to the same output)."""
        result: dict[str, Any] = {
            "ok": self.ok,
            "trigger": self.trigger,
            "dry_run": self.dry_run,
            "groups": [group.to_dict() for group in self.groups],
            "error": None if self.error is None else self.error.to_dict(),
        }
        if self.note is not None:
            result["note"] = self.note
        result["summary"] = self.summary()
        return result

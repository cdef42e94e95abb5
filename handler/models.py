"""Identifiers, the validated cleanup request, and the result the function returns."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

PROJECT_ID_RE = re.compile(r"[0-9a-f]{32}")
SERVER_GROUP_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EXAMPLE_PROJECT_ID = "0123456789abcdef0123456789abcdef"
EXAMPLE_SERVER_GROUP_ID = "decf224d-87fe-403a-8721-037a1a45c287"


def check_project_id(value: str) -> str:
    """Raise ValueError unless `value` is safe to put in a URL path as a project id."""
    if not PROJECT_ID_RE.fullmatch(value):
        raise ValueError(f"must be a project id: 32 lowercase hex characters, e.g. {EXAMPLE_PROJECT_ID}")
    return value


def check_server_group_id(value: str) -> str:
    """Raise ValueError unless `value` is safe to put in a URL path as a protection group id."""
    if not SERVER_GROUP_ID_RE.fullmatch(value):
        raise ValueError(f"must be a protection group id: a lowercase UUID, e.g. {EXAMPLE_SERVER_GROUP_ID}")
    return value


@dataclass(frozen=True, slots=True)
class GroupTarget:
    project_id: str
    server_group_id: str

    def __post_init__(self) -> None:
        check_project_id(self.project_id)
        check_server_group_id(self.server_group_id)


@dataclass(frozen=True, slots=True)
class CleanupRequest:
    """What one invocation must do, whatever the trigger was."""

    targets: tuple[GroupTarget, ...]
    dry_run: bool = False


class Outcome(StrEnum):
    DELETED = "deleted"
    NOTHING_TO_DELETE = "nothing_to_delete"
    WOULD_DELETE = "would_delete"
    FAILED = "failed"


class ErrorType(StrEnum):
    INVALID_EVENT = "invalid_event"
    CONFIGURATION = "configuration"
    GROUP_FAILURES = "group_failures"


@dataclass(frozen=True, slots=True)
class GroupError:
    code: str
    message: str
    retryable: bool


@dataclass(frozen=True, slots=True)
class GroupResult:
    project_id: str
    server_group_id: str
    outcome: Outcome
    failure_jobs: list[dict[str, Any]] = field(default_factory=list)
    status_code: int | None = None
    request_id: str | None = None
    attempts: int = 0
    error: GroupError | None = None


@dataclass(frozen=True, slots=True)
class InvocationError:
    type: ErrorType
    message: str


@dataclass(frozen=True, slots=True)
class InvocationResult:
    trigger: str
    dry_run: bool = False
    groups: list[GroupResult] = field(default_factory=list)
    error: InvocationError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(g.outcome is not Outcome.FAILED for g in self.groups)

    @property
    def retryable_failures(self) -> list[GroupResult]:
        return [g for g in self.groups if g.error is not None and g.error.retryable]

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        return {"ok": self.ok, **body}

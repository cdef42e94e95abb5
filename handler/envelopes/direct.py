"""A direct request: the event itself (a console test, an API call, a schedule's input), and what
an SNS, SQS or SMN message, or a FunctionGraph timer's user_event, may carry."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from handler.sdrs.api import check_project_id, check_server_group_id

MAX_GROUPS_PER_REQUEST = 100

ProjectId = Annotated[str, Field(strict=True), AfterValidator(check_project_id)]
ServerGroupId = Annotated[str, Field(strict=True), AfterValidator(check_server_group_id)]

SchedulerText = Annotated[str, Field(strict=True, min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]


class SchedulerContext(BaseModel):
    """EventBridge Scheduler's context attributes, put in a schedule's input as
    `<aws.scheduler.scheduled-time>`, `<aws.scheduler.execution-id>` and
    `<aws.scheduler.attempt-number>`: logged for correlation, otherwise ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scheduled_time: SchedulerText | None = None
    execution_id: SchedulerText | None = None
    attempt_number: SchedulerText | None = None


class DirectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    server_group_id: ServerGroupId | None = None
    server_group_ids: list[ServerGroupId] | None = Field(default=None, min_length=1, max_length=MAX_GROUPS_PER_REQUEST)
    # Sweep: every protection group of the project.
    all_server_groups: bool | None = Field(default=None, strict=True)
    project_id: ProjectId | None = None
    dry_run: bool = Field(default=False, strict=True)
    # Raises (or lowers) the safety brake, SDRS_MAX_FAILED_TASKS, for this request.
    max_failed_tasks: int | None = Field(default=None, strict=True, ge=0, le=1_000_000)
    # Set by schedules (EventBridge Scheduler input looks like a direct request) so that a
    # transient failure raises and Lambda's asynchronous retry takes over.
    raise_on_transient_failure: bool = Field(default=False, strict=True)
    scheduler: SchedulerContext | None = None

    @model_validator(mode="after")
    def _one_way_to_name_groups(self) -> DirectRequest:
        if self.all_server_groups is False:
            raise ValueError("all_server_groups may only be true; leave it out to name groups")
        ways = [self.server_group_id, self.server_group_ids, self.all_server_groups]
        if sum(way is not None for way in ways) != 1:
            raise ValueError(
                "name the protection groups with exactly one of server_group_id, server_group_ids "
                "or all_server_groups: true"
            )
        return self

    def group_ids(self) -> list[str]:
        ids = [self.server_group_id] if self.server_group_id else list(self.server_group_ids or [])
        return list(dict.fromkeys(ids))

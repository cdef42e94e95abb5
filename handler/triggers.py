"""Every event shape the function accepts, validated into one `CleanupRequest`.

The envelope models follow Powertools' parser models (same field names and aliases), but
are declared here: importing `aws_lambda_powertools.utilities.parser.models` loads every
AWS event model there is, which costs about half a second of each cold start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from handler.models import CleanupRequest, GroupTarget, Retry
from handler.sdrs.api import check_project_id, check_server_group_id

MAX_EVENT_BYTES = 256 * 1024  # the asynchronous invocation payload limit
MAX_GROUPS_PER_REQUEST = 100

ProjectId = Annotated[str, Field(strict=True), AfterValidator(check_project_id)]
ServerGroupId = Annotated[str, Field(strict=True), AfterValidator(check_server_group_id)]


class InvalidEvent(Exception):
    """The event does not validate. The message says what is wrong; nothing was called."""

    def __init__(self, message: str, trigger: str = "unknown") -> None:
        super().__init__(message)
        self.trigger = trigger


class NeedsConfiguration(Exception):
    """The event is valid but relies on configuration that is missing."""

    def __init__(self, message: str, trigger: str = "unknown") -> None:
        super().__init__(message)
        self.trigger = trigger


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    trigger: str
    request: CleanupRequest
    retry: Retry
    correlation_id: str | None = None


def _asynchronous(request: CleanupRequest) -> Retry:
    """An event the platform retries when the invocation raises. A sweep is timer work: the
    next run picks up what this one had no time for."""
    return Retry.TIMER if request.sweep_project_id is not None else Retry.EVENT


@dataclass(frozen=True, slots=True)
class Defaults:
    project_id: str | None
    scheduled_server_group_ids: tuple[str, ...]
    sweep_on_schedule: bool = False


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


class EventBridgeEvent(BaseModel):
    version: str
    id: str
    source: str
    account: str
    time: str
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: Any = None


class SnsNotification(BaseModel):
    MessageId: str
    TopicArn: str
    Message: str = Field(max_length=MAX_EVENT_BYTES)
    Subject: str | None = None
    Type: str | None = None


class SnsRecord(BaseModel):
    EventSource: Literal["aws:sns"]
    EventVersion: str
    EventSubscriptionArn: str
    Sns: SnsNotification


class SnsEvent(BaseModel):
    Records: list[SnsRecord] = Field(min_length=1, max_length=10)


class SqsRecord(BaseModel):
    messageId: str = Field(min_length=1)
    body: str
    eventSource: Literal["aws:sqs"]


class SqsEvent(BaseModel):
    Records: list[SqsRecord] = Field(min_length=1, max_length=10_000)


class AlarmDimension(BaseModel):
    name: str
    value: str


class AlarmTrigger(BaseModel):
    Dimensions: list[AlarmDimension] = Field(default_factory=list)


class AlarmStateChange(BaseModel):
    AlarmName: str
    NewStateValue: Literal["ALARM", "OK", "INSUFFICIENT_DATA"]
    Trigger: AlarmTrigger = Field(default_factory=AlarmTrigger)


def describe_validation_error(error: ValidationError, prefix: str = "") -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        location = f"{prefix}{where}" if where else prefix.rstrip(".")
        problems.append(f"{location}: {message}" if location else message)
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


def _validate[M: BaseModel](model: type[M], data: Any, trigger: str, prefix: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(describe_validation_error(exc, prefix), trigger) from None


def _direct(data: Any, trigger: str, defaults: Defaults, prefix: str = "") -> tuple[CleanupRequest, bool]:
    if not isinstance(data, dict):
        what = prefix.rstrip(".") or "the event"
        raise InvalidEvent(f"{what} must be a JSON object, got {type(data).__name__}", trigger)
    request = _validate(DirectRequest, data, trigger, prefix)
    project_id = request.project_id or _default_project(defaults, trigger)
    if request.all_server_groups:
        cleanup = CleanupRequest(
            dry_run=request.dry_run, sweep_project_id=project_id, max_failed_tasks=request.max_failed_tasks
        )
    else:
        targets = tuple(GroupTarget(project_id, gid) for gid in request.group_ids())
        cleanup = CleanupRequest(targets, dry_run=request.dry_run, max_failed_tasks=request.max_failed_tasks)
    return cleanup, request.raise_on_transient_failure


def _default_project(defaults: Defaults, trigger: str) -> str:
    if defaults.project_id is None:
        raise NeedsConfiguration("the event names no project_id and HUAWEICLOUD_SDK_PROJECT_ID is not set", trigger)
    return defaults.project_id


def _json_message(text: str, trigger: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidEvent(f"{where} is not JSON", trigger) from None
    except RecursionError:  # json.loads recurses per level: "[[[[…" ten thousand deep
        raise InvalidEvent(f"{where} is JSON nested too deep", trigger) from None


def _eventbridge(event: dict[str, Any], defaults: Defaults) -> ParsedEvent:
    envelope = _validate(EventBridgeEvent, event, "eventbridge")
    if envelope.detail_type == "Scheduled Event":
        detail = envelope.detail
        if isinstance(detail, str):
            detail = _json_message(detail, "eventbridge_scheduled", "detail")
        if detail not in ({}, None):
            raise InvalidEvent(
                "a Scheduled Event carries no payload: its detail must be empty "
                "(the groups come from SDRS_SERVER_GROUP_IDS)",
                "eventbridge_scheduled",
            )
        if defaults.sweep_on_schedule:
            sweep = CleanupRequest(sweep_project_id=_default_project(defaults, "eventbridge_scheduled"))
            return ParsedEvent("eventbridge_scheduled", sweep, Retry.TIMER, envelope.id)
        if not defaults.scheduled_server_group_ids:
            raise NeedsConfiguration(
                "a scheduled event names no groups and SDRS_SERVER_GROUP_IDS is not set", "eventbridge_scheduled"
            )
        project_id = _default_project(defaults, "eventbridge_scheduled")
        targets = tuple(GroupTarget(project_id, gid) for gid in defaults.scheduled_server_group_ids)
        return ParsedEvent("eventbridge_scheduled", CleanupRequest(targets), Retry.TIMER, envelope.id)
    detail = envelope.detail
    if isinstance(detail, str):
        detail = _json_message(detail, "eventbridge", "detail")
    request, _ = _direct(detail, "eventbridge", defaults, prefix="detail.")
    return ParsedEvent("eventbridge", request, _asynchronous(request), envelope.id)


def _alarm_targets(alarm: AlarmStateChange, defaults: Defaults) -> tuple[GroupTarget, ...]:
    if alarm.NewStateValue != "ALARM":
        return ()
    dimensions = {d.name: d.value for d in alarm.Trigger.Dimensions}
    group_id = dimensions.get("ServerGroupId")
    if group_id is None:
        raise InvalidEvent("the alarm's Trigger.Dimensions carry no ServerGroupId", "sns_alarm")
    project_id = dimensions.get("ProjectId")
    for name, value, check in (
        ("ServerGroupId", group_id, check_server_group_id),
        ("ProjectId", project_id, check_project_id),
    ):
        try:
            if value is not None:
                check(value)
        except ValueError as exc:
            raise InvalidEvent(f"the alarm's {name} dimension {exc}", "sns_alarm") from None
    return (GroupTarget(project_id or _default_project(defaults, "sns_alarm"), group_id),)


def _sns_record(index: int, record: SnsRecord, defaults: Defaults) -> tuple[str, CleanupRequest]:
    message = _json_message(record.Sns.Message, "sns", f"Records.{index}.Sns.Message")
    prefix = f"Records.{index}.Sns.Message."
    if isinstance(message, dict) and "AlarmName" in message and "NewStateValue" in message:
        alarm = _validate(AlarmStateChange, message, "sns_alarm", prefix)
        return "sns_alarm", CleanupRequest(_alarm_targets(alarm, defaults))
    request, _ = _direct(message, "sns", defaults, prefix=prefix)
    return "sns", request


def _sns(event: dict[str, Any], defaults: Defaults) -> ParsedEvent:
    """SNS delivers one record per invocation; several are merged only when they name groups."""
    envelope = _validate(SnsEvent, event, "sns")
    parsed = [_sns_record(index, record, defaults) for index, record in enumerate(envelope.Records)]
    message_id = envelope.Records[0].Sns.MessageId
    if len(parsed) == 1:
        trigger, request = parsed[0]
        return ParsedEvent(trigger, request, _asynchronous(request), message_id)
    trigger = "sns_alarm" if any(t == "sns_alarm" for t, _ in parsed) else "sns"
    requests = [request for _, request in parsed]
    if any(r.sweep_project_id or r.max_failed_tasks is not None for r in requests):
        raise InvalidEvent("a sweep or a max_failed_tasks must come in an SNS event of its own", trigger)
    if len({r.dry_run for r in requests}) > 1:
        raise InvalidEvent("the SNS records disagree on dry_run: send them separately", trigger)
    targets = tuple(dict.fromkeys(t for r in requests for t in r.targets))
    return ParsedEvent(trigger, CleanupRequest(targets, requests[0].dry_run), Retry.EVENT, message_id)


def parse_event(event: Any, defaults: Defaults) -> ParsedEvent:
    """Recognise the trigger and validate the event. Raises InvalidEvent or NeedsConfiguration."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"the event must be a JSON object, got {type(event).__name__}")
    try:
        size = len(json.dumps(event, default=str))
    except (TypeError, ValueError, RecursionError):
        raise InvalidEvent("the event is not serialisable JSON") from None
    if size > MAX_EVENT_BYTES:
        raise InvalidEvent(f"the event is {size} bytes; at most {MAX_EVENT_BYTES} are accepted")
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list) or not records:
            raise InvalidEvent("Records must be a non-empty list of SNS records")
        first = records[0] if isinstance(records, list) and records and isinstance(records[0], dict) else {}
        source = first.get("EventSource") or first.get("eventSource")
        if source == "aws:sns":
            return _sns(event, defaults)
        raise InvalidEvent(f"unsupported Records event (event source {str(source)[:40]!r}); SNS and SQS are accepted")
    if "detail-type" in event and "source" in event:
        return _eventbridge(event, defaults)
    request, raise_flag = _direct(event, "direct", defaults)
    return ParsedEvent("direct", request, _asynchronous(request) if raise_flag else Retry.NONE)


def is_sqs_event(event: Any) -> bool:
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list) or not event["Records"]:
        return False
    first = event["Records"][0]
    return isinstance(first, dict) and first.get("eventSource") == "aws:sqs"


def check_sqs_event(event: dict[str, Any]) -> None:
    """Every record must carry a message id and a body, or no record can be reported."""
    _validate(SqsEvent, event, "sqs")


def parse_sqs_body(body: str, defaults: Defaults) -> ParsedEvent:
    """An SQS record's body: a direct request. SQS redelivers what raises, like an async trigger."""
    if len(body) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"the message body is {len(body)} bytes; at most {MAX_EVENT_BYTES} are accepted", "sqs")
    request, _ = _direct(_json_message(body, "sqs", "body"), "sqs", defaults, prefix="body.")
    return ParsedEvent("sqs", request, Retry.RECORD)

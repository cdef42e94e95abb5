"""Every event shape the function accepts, validated into one `CleanupRequest`.

The envelope models (handler/envelopes) follow Powertools' parser models (same field names
and aliases), but are declared there: importing `aws_lambda_powertools.utilities.parser.models`
loads every AWS event model there is, which costs about half a second of each cold start.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from handler.models import CleanupRequest, GroupTarget, Retry
from handler.observability import logger
from handler.sdrs.api import check_project_id, check_server_group_id
from handler.values import value_object

if TYPE_CHECKING:  # imported when an event of their family arrives: handler/envelopes/__init__.py
    from handler.envelopes.cloudwatch import AlarmData
    from handler.envelopes.direct import DirectRequest
    from handler.envelopes.functiongraph import SmnTriggerRecord
    from handler.envelopes.sns import SnsRecord

MAX_EVENT_BYTES = 256 * 1024  # the asynchronous invocation payload limit


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


@value_object
class ParsedEvent:
    """A validated event: the request it makes, how its trigger retries, and what to log it by."""

    trigger: str
    request: CleanupRequest
    retry: Retry
    correlation_id: str | None = None
    # When a timer meant the run to happen (ISO 8601, as the event says it): where a sweep starts.
    scheduled_at: str | None = None
    # Set when a valid message names no protection group (a recovery, another service's alarm,
    # plain text): why nothing is done, for the log and the 2xx answer. The request is empty.
    ignored: str | None = None


def _asynchronous(request: CleanupRequest) -> Retry:
    """An event the platform retries when the invocation raises. A sweep is timer work: the
    next run picks up what this one had no time for."""
    return Retry.TIMER if request.sweep_project_id is not None else Retry.EVENT


@value_object
class Defaults:
    """What an event may leave out: the project and the scheduled groups."""

    project_id: str | None
    scheduled_server_group_ids: tuple[str, ...]
    sweep_on_schedule: bool = False


AlarmState = Literal["ALARM", "OK", "INSUFFICIENT_DATA"]
MAX_ALARM_METRICS = 100  # CloudWatch allows 10 metrics in a metric-math alarm


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


def _direct(data: Any, trigger: str, defaults: Defaults, prefix: str = "") -> tuple[CleanupRequest, DirectRequest]:
    if not isinstance(data, dict):
        what = prefix.rstrip(".") or "the event"
        raise InvalidEvent(f"{what} must be a JSON object, got {type(data).__name__}", trigger)
    from handler.envelopes.direct import DirectRequest

    request = _validate(DirectRequest, data, trigger, prefix)
    project_id = request.project_id or _default_project(defaults, trigger)
    if request.all_server_groups:
        cleanup = CleanupRequest(
            dry_run=request.dry_run, sweep_project_id=project_id, max_failed_tasks=request.max_failed_tasks
        )
    else:
        targets = tuple(GroupTarget(project_id, gid) for gid in request.group_ids())
        cleanup = CleanupRequest(targets, dry_run=request.dry_run, max_failed_tasks=request.max_failed_tasks)
    if request.scheduler is not None:
        logger.info("scheduled invocation", extra={"scheduler": request.scheduler.model_dump(exclude_none=True)})
    return cleanup, request


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


def _alarm_data(data: AlarmData, defaults: Defaults, trigger: str, prefix: str) -> CleanupRequest:
    if data.configuration.alarmRule is not None and not data.configuration.metrics:
        raise InvalidEvent(
            f"{prefix}configuration: a composite alarm (alarmRule) names no metric and so no protection group; "
            "point the action of a metric alarm with a ServerGroupId dimension at this function",
            trigger,
        )
    return _alarm_request(data.state.value, data.dimension_sets(), defaults, trigger, prefix)


def _cloudwatch_alarm(event: dict[str, Any], defaults: Defaults) -> ParsedEvent:
    """A CloudWatch alarm whose action is this function: it invokes asynchronously, on every
    state change (OK too)."""
    from handler.envelopes.cloudwatch import CloudWatchAlarmAction

    envelope = _validate(CloudWatchAlarmAction, event, "cloudwatch_alarm")
    request = _alarm_data(envelope.alarmData, defaults, "cloudwatch_alarm", "alarmData.")
    return ParsedEvent("cloudwatch_alarm", request, Retry.EVENT)


def _eventbridge(event: dict[str, Any], defaults: Defaults) -> ParsedEvent:
    from handler.envelopes.cloudwatch import AlarmData, EventBridgeEvent

    envelope = _validate(EventBridgeEvent, event, "eventbridge")
    if envelope.detail_type == "CloudWatch Alarm State Change" and envelope.source == "aws.cloudwatch":
        data = _validate(AlarmData, envelope.detail, "eventbridge_alarm", "detail.")
        request = _alarm_data(data, defaults, "eventbridge_alarm", "detail.")
        return ParsedEvent("eventbridge_alarm", request, Retry.EVENT, envelope.id)
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
        return _configured_groups(defaults, "eventbridge_scheduled", envelope.id, envelope.time)
    detail = envelope.detail
    if isinstance(detail, str):
        detail = _json_message(detail, "eventbridge", "detail")
    request, _ = _direct(detail, "eventbridge", defaults, prefix="detail.")
    return ParsedEvent("eventbridge", request, _asynchronous(request), envelope.id)


def _configured_groups(
    defaults: Defaults, trigger: str, correlation_id: str | None, scheduled_at: str | None
) -> ParsedEvent:
    """A timer that carries no request: the groups of SDRS_SERVER_GROUP_IDS (`all`: the sweep)."""
    if defaults.sweep_on_schedule:
        sweep = CleanupRequest(sweep_project_id=_default_project(defaults, trigger))
        return ParsedEvent(trigger, sweep, Retry.TIMER, correlation_id, scheduled_at)
    if not defaults.scheduled_server_group_ids:
        raise NeedsConfiguration("a scheduled event names no groups and SDRS_SERVER_GROUP_IDS is not set", trigger)
    project_id = _default_project(defaults, trigger)
    targets = tuple(GroupTarget(project_id, gid) for gid in defaults.scheduled_server_group_ids)
    return ParsedEvent(trigger, CleanupRequest(targets), Retry.TIMER, correlation_id, scheduled_at)


def _alarm_request(
    state: str, dimension_sets: tuple[str, list[dict[str, str]]], defaults: Defaults, trigger: str, prefix: str
) -> CleanupRequest:
    """An alarm acts only in ALARM state, on every group its metrics name (once each)."""
    if state != "ALARM":
        return CleanupRequest()
    where, sets = dimension_sets
    targets: list[GroupTarget] = []
    for dimensions in sets:
        group_id = dimensions.get("ServerGroupId")
        if group_id is None:
            continue
        project_id = dimensions.get("ProjectId")
        for name, value, check in (
            ("ServerGroupId", group_id, check_server_group_id),
            ("ProjectId", project_id, check_project_id),
        ):
            try:
                if value is not None:
                    check(value)
            except ValueError as exc:
                raise InvalidEvent(f"the alarm's {name} dimension {exc}", trigger) from None
        targets.append(GroupTarget(project_id or _default_project(defaults, trigger), group_id))
    if not targets:
        raise InvalidEvent(f"the alarm's {prefix}{where} carry no ServerGroupId", trigger)
    return CleanupRequest(tuple(dict.fromkeys(targets)))


def _is_alarm_message(message: Any) -> bool:
    return isinstance(message, dict) and "AlarmName" in message and "NewStateValue" in message


def _sns_message(message: Any, trigger: str, defaults: Defaults, prefix: str) -> CleanupRequest:
    """An SNS message (in an SNS record or an SQS body): a CloudWatch alarm or a direct request.
    Either way the platform retries it (SNS's delivery to Lambda is asynchronous)."""
    if _is_alarm_message(message):
        from handler.envelopes.sns import AlarmStateChange

        alarm = _validate(AlarmStateChange, message, trigger, prefix)
        return _alarm_request(alarm.NewStateValue, alarm.dimension_sets(), defaults, trigger, "")
    return _direct(message, trigger, defaults, prefix=prefix)[0]


def _sns_record(index: int, record: SnsRecord, defaults: Defaults) -> tuple[str, CleanupRequest]:
    message = _json_message(record.Sns.Message, "sns", f"Records.{index}.Sns.Message")
    trigger = "sns_alarm" if _is_alarm_message(message) else "sns"
    return trigger, _sns_message(message, trigger, defaults, f"Records.{index}.Sns.Message.")


def _sns(event: dict[str, Any], defaults: Defaults) -> ParsedEvent:
    """SNS delivers one record per invocation; several are merged only when they name groups."""
    from handler.envelopes.sns import SnsEvent

    envelope = _validate(SnsEvent, event, "sns")
    parsed = [_sns_record(index, record, defaults) for index, record in enumerate(envelope.Records)]
    message_id = envelope.Records[0].Sns.MessageId
    if len(parsed) == 1:
        trigger, request = parsed[0]
        return ParsedEvent(trigger, request, _asynchronous(request), message_id)
    trigger = "sns_alarm" if any(t == "sns_alarm" for t, _ in parsed) else "sns"
    request = _merged([request for _, request in parsed], trigger, "SNS")
    return ParsedEvent(trigger, request, Retry.EVENT, message_id)


def _merged(requests: list[CleanupRequest], trigger: str, service: str) -> CleanupRequest:
    """The requests of several records of one event as one: only when they name groups."""
    if any(r.sweep_project_id or r.max_failed_tasks is not None for r in requests):
        raise InvalidEvent(f"a sweep or a max_failed_tasks must come in an {service} event of its own", trigger)
    if len({r.dry_run for r in requests}) > 1:
        raise InvalidEvent(f"the {service} records disagree on dry_run: send them separately", trigger)
    targets = tuple(dict.fromkeys(t for r in requests for t in r.targets))
    return CleanupRequest(targets, requests[0].dry_run)


def _check_event(event: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidEvent(f"the event must be a JSON object, got {type(event).__name__}")
    try:
        size = len(json.dumps(event, default=str))
    except (TypeError, ValueError, RecursionError):
        raise InvalidEvent("the event is not serialisable JSON") from None
    if size > MAX_EVENT_BYTES:
        raise InvalidEvent(f"the event is {size} bytes; at most {MAX_EVENT_BYTES} are accepted")
    return event


def _direct_invocation(event: dict[str, Any], defaults: Defaults) -> ParsedEvent:
    """A request sent as the event itself (a console test, an API call, a schedule's input)."""
    request, direct = _direct(event, "direct", defaults)
    retry = _asynchronous(request) if direct.raise_on_transient_failure else Retry.NONE
    scheduler = direct.scheduler
    if scheduler is None:
        return ParsedEvent("direct", request, retry)
    return ParsedEvent("direct", request, retry, scheduler.execution_id, scheduler.scheduled_time)


def parse_event(event: Any, defaults: Defaults) -> ParsedEvent:
    """Recognise the trigger and validate the event. Raises InvalidEvent or NeedsConfiguration."""
    event = _check_event(event)
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
    if event.get("source") == "aws.cloudwatch" and "alarmData" in event:
        return _cloudwatch_alarm(event, defaults)
    return _direct_invocation(event, defaults)


def preload_aws_envelopes() -> None:
    """The models of every AWS trigger family (handler/envelopes), for SnapStart's init: a restored
    copy's first event, whatever its family, builds none."""
    import handler.envelopes.cloudwatch
    import handler.envelopes.direct
    import handler.envelopes.sns
    import handler.envelopes.sqs  # noqa: F401


def is_sqs_event(event: Any) -> bool:
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list) or not event["Records"]:
        return False
    first = event["Records"][0]
    return isinstance(first, dict) and first.get("eventSource") == "aws:sqs"


def check_sqs_event(event: dict[str, Any]) -> None:
    """Every record must carry a message id and a body, or no record can be reported."""
    from handler.envelopes.sqs import SqsEvent

    _validate(SqsEvent, event, "sqs")


def _is_sns_envelope(message: Any) -> bool:
    return isinstance(message, dict) and message.get("Type") == "Notification" and "TopicArn" in message


def parse_sqs_body(body: str, defaults: Defaults) -> ParsedEvent:
    """An SQS record's body: a direct request, a CloudWatch alarm (an SNS topic's raw
    delivery), or an SNS envelope (raw delivery off: the default) holding either."""
    if len(body) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"the message body is {len(body)} bytes; at most {MAX_EVENT_BYTES} are accepted", "sqs")
    message, prefix = _json_message(body, "sqs", "body"), "body."
    if _is_sns_envelope(message):
        from handler.envelopes.sns import SnsNotification

        envelope = _validate(SnsNotification, message, "sqs", prefix)
        message, prefix = _json_message(envelope.Message, "sqs", "body.Message"), "body.Message."
    return ParsedEvent("sqs", _sns_message(message, "sqs", defaults, prefix), Retry.RECORD)


# --- Huawei Cloud: the message of an SMN delivery (HTTP(S) subscription or FunctionGraph trigger) -------

# Cloud Eye publishes no SDRS metrics: an alarm about a protection group comes from a custom metric
# the operator reports. Cloud Eye's custom namespaces are `service.item` (letters, digits and `_`,
# each part starting with a letter, 3 to 32 characters in all; `SYS.` is reserved for Huawei's own
# services), so the custom one is CUSTOM.SDRS; SYS.SDRS is what Huawei would call its own. Matched
# exactly: a localised or any other namespace is not ours.
SDRS_ALARM_NAMESPACES = frozenset({"SYS.SDRS", "CUSTOM.SDRS"})
SDRS_GROUP_DIMENSION = "server_group_id"
SDRS_PROJECT_DIMENSION = "project_id"
MAX_ALARM_DIMENSIONS = 4  # Cloud Eye allows up to 4 dimensions per metric

_CORRELATION_RE = re.compile(r"[\x21-\x7e]{1,128}")


def _ignored(trigger: str, reason: str, correlation_id: str | None = None) -> ParsedEvent:
    logger.info("message ignored", extra={"trigger": trigger, "reason": reason})
    return ParsedEvent(trigger, CleanupRequest(), Retry.EVENT, correlation_id, ignored=reason)


def _shown(value: Any) -> str:
    """A value from the message, fit for a log line: quoted and cut short."""
    text = value if isinstance(value, str) else type(value).__name__
    return repr(text[:40] + ("…" if len(text) > 40 else ""))


def _correlation(value: Any) -> str | None:
    return value if isinstance(value, str) and _CORRELATION_RE.fullmatch(value) else None


def _checked(name: str, value: str, check: Any, trigger: str) -> str:
    try:
        return str(check(value))
    except ValueError as exc:
        raise InvalidEvent(f"the alarm's {name} dimension {exc}", trigger) from None


def _legacy_dimensions(text: Any, trigger: str) -> dict[str, str] | None:
    """`dimension` of the legacy template: `name:value`, several joined with commas. None when it
    is not a string of that form (then it names no protection group)."""
    if not isinstance(text, str) or not text:
        return None
    parts = text.split(",")
    if len(parts) > MAX_ALARM_DIMENSIONS:
        raise InvalidEvent(
            f"the alarm's dimension has {len(parts)} parts; Cloud Eye allows {MAX_ALARM_DIMENSIONS}", trigger
        )
    dimensions: dict[str, str] = {}
    for part in parts:
        name, colon, value = part.partition(":")
        if not colon:
            return None
        if name in dimensions:
            raise InvalidEvent(f"the alarm's dimension names {_shown(name)} twice", trigger)
        dimensions[name] = value
    return dimensions


def _sdrs_alarm_request(
    namespace: Any, dimensions: dict[str, str] | None, defaults: Defaults, trigger: str, correlation_id: str | None
) -> ParsedEvent:
    """An alarm in alarm state: acted on only when its namespace and dimension name say it is
    about an SDRS protection group, whatever its resource id looks like."""
    if not isinstance(namespace, str) or namespace not in SDRS_ALARM_NAMESPACES:
        return _ignored(trigger, f"an alarm about {_shown(namespace)}, not an SDRS protection group", correlation_id)
    if dimensions is None or SDRS_GROUP_DIMENSION not in dimensions:
        return _ignored(
            trigger,
            f"an {namespace} alarm without a {SDRS_GROUP_DIMENSION} dimension names no protection group",
            correlation_id,
        )
    group_id = _checked(SDRS_GROUP_DIMENSION, dimensions[SDRS_GROUP_DIMENSION], check_server_group_id, trigger)
    project = dimensions.get(SDRS_PROJECT_DIMENSION)
    if project is not None:
        project = _checked(SDRS_PROJECT_DIMENSION, project, check_project_id, trigger)
    target = GroupTarget(project or _default_project(defaults, trigger), group_id)
    return ParsedEvent(trigger, CleanupRequest((target,)), Retry.EVENT, correlation_id)


def _cloud_eye_legacy(message: dict[str, Any], defaults: Defaults, trigger: str) -> ParsedEvent:
    """`{"message_type": "alarm", "alarm_status", "namespace", "dimension": "name:value", ...}`.
    `template_variable` repeats it localised ("Host monitoring"): not used to decide."""
    correlation_id = _correlation(message.get("alarm_id"))
    if message.get("message_type") != "alarm":
        return _ignored(
            trigger, f"a Cloud Eye message of type {_shown(message.get('message_type'))}, not an alarm", correlation_id
        )
    status = message.get("alarm_status")
    if status != "alarm":
        what = "recovery" if status == "ok" else "not in alarm state"
        return _ignored(trigger, f"{what} (alarm_status {_shown(status)}): nothing to do", correlation_id)
    dimensions = _legacy_dimensions(message.get("dimension"), trigger)
    return _sdrs_alarm_request(message.get("namespace"), dimensions, defaults, trigger, correlation_id)


def _cloud_eye_v1(data: dict[str, Any], defaults: Defaults, trigger: str) -> ParsedEvent:
    """`{"version": "v1", "data": {"Namespace", "DimensionName", "ResourceId", "IsAlarm", ...}}`.
    One dimension only: a DimensionName that is not exactly server_group_id is not ours."""
    correlation_id = _correlation(data.get("AlarmRecordID"))
    is_alarm = data.get("IsAlarm")
    if is_alarm is not True:
        what = "recovery (IsAlarm false)" if is_alarm is False else f"not an alarm (IsAlarm {_shown(is_alarm)})"
        return _ignored(trigger, f"{what}: nothing to do", correlation_id)
    resource_id = data.get("ResourceId")
    dimensions = None
    if data.get("DimensionName") == SDRS_GROUP_DIMENSION:
        if not isinstance(resource_id, str):
            raise InvalidEvent(f"the alarm's ResourceId must be a string, got {type(resource_id).__name__}", trigger)
        dimensions = {SDRS_GROUP_DIMENSION: resource_id}
    return _sdrs_alarm_request(data.get("Namespace"), dimensions, defaults, trigger, correlation_id)


def _is_nested_message(message: dict[str, Any]) -> bool:
    """An SMN envelope (or anything carrying a `message`) inside the message: never unwrapped."""
    return "message" in message or "Message" in message


def parse_smn_message(message: str, defaults: Defaults, trigger: str = "smn") -> ParsedEvent:
    """The `message` of a verified SMN delivery: a direct request, or a Cloud Eye alarm (legacy or
    v1 template). SMN redelivers when the endpoint answers 5xx, so a raise is retried (Retry.EVENT).
    A message that names no protection group is not an error: it comes back with an empty request
    and `ignored` saying why. A direct request that does not validate raises InvalidEvent."""
    if len(message) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"the message is {len(message)} characters; at most {MAX_EVENT_BYTES} are accepted", trigger)
    try:
        data = json.loads(message)
    except ValueError:
        return _ignored(trigger, "the message is not JSON: nothing to do")
    except RecursionError:
        return _ignored(trigger, "the message is JSON nested too deep: nothing to do")
    if not isinstance(data, dict):
        return _ignored(trigger, f"the message is a JSON {type(data).__name__}, not an object: nothing to do")
    if "message_type" in data:
        return _cloud_eye_legacy(data, defaults, trigger)
    if "version" in data and isinstance(data.get("data"), dict):
        return _cloud_eye_v1(data["data"], defaults, trigger)
    if _is_nested_message(data):
        return _ignored(trigger, "the message holds another message: it is not unwrapped, nothing to do")
    request, _ = _direct(data, trigger, defaults)
    return ParsedEvent(trigger, request, Retry.EVENT)


# --- Huawei Cloud FunctionGraph: its triggers' own events (models: handler.envelopes.functiongraph) ----

FUNCTIONGRAPH_TIMER = "functiongraph_timer"
FUNCTIONGRAPH_SMN = "functiongraph_smn"


def _functiongraph_timer(event: dict[str, Any], defaults: Defaults) -> ParsedEvent:
    """`user_event` is the text the trigger was configured with: a JSON object is a direct request;
    empty or other text means the configured groups. Text that opens like JSON but is not a valid
    object is refused: a typo in a request must not turn into a run over the configured groups."""
    from handler.envelopes.functiongraph import FunctionGraphTimer

    timer = _validate(FunctionGraphTimer, event, FUNCTIONGRAPH_TIMER)
    text = timer.user_event.strip()
    if text[:1] in ("{", "["):
        data = _json_message(text, FUNCTIONGRAPH_TIMER, "user_event")
        request, _ = _direct(data, FUNCTIONGRAPH_TIMER, defaults, prefix="user_event.")
        return ParsedEvent(FUNCTIONGRAPH_TIMER, request, Retry.TIMER, scheduled_at=timer.time)
    if text:
        logger.info("the timer's user_event is text, not a request: the configured groups", extra={"chars": len(text)})
    return _configured_groups(defaults, FUNCTIONGRAPH_TIMER, None, timer.time)


def _smn_trigger_record(record: SmnTriggerRecord, defaults: Defaults) -> ParsedEvent:
    smn = record.smn
    logger.info("SMN trigger message", extra={"topic_urn": smn.topic_urn, "message_id": smn.message_id})
    if smn.type is not None and smn.type.lower() != "notification":
        return _ignored(FUNCTIONGRAPH_SMN, f"an SMN {_shown(smn.type)} message, not a notification: nothing to do")
    return parse_smn_message(smn.message, defaults, FUNCTIONGRAPH_SMN)


def _functiongraph_smn(event: dict[str, Any], defaults: Defaults) -> ParsedEvent:
    """The platform delivers it (no signature to check: only who may invoke the function can send
    it). Each message is parsed as an SMN HTTPS delivery's is; several records are merged."""
    from handler.envelopes.functiongraph import SmnTriggerEvent

    envelope = _validate(SmnTriggerEvent, event, FUNCTIONGRAPH_SMN)
    parsed = [_smn_trigger_record(record, defaults) for record in envelope.record]
    acting = [p for p in parsed if p.request.has_work]
    if len(parsed) == 1 or not acting:
        return parsed[0]
    if len(acting) == 1:
        return acting[0]
    return ParsedEvent(FUNCTIONGRAPH_SMN, _merged([p.request for p in acting], FUNCTIONGRAPH_SMN, "SMN"), Retry.EVENT)


def parse_functiongraph_event(event: Any, defaults: Defaults) -> ParsedEvent:
    """A FunctionGraph event: a TIMER trigger's, an SMN trigger's, or a direct request (a console
    test event, an API call). Raises InvalidEvent or NeedsConfiguration."""
    event = _check_event(event)
    if "trigger_type" in event:
        if event["trigger_type"] == "TIMER":
            return _functiongraph_timer(event, defaults)
        raise InvalidEvent(f"unsupported FunctionGraph trigger_type {_shown(event['trigger_type'])}; TIMER is accepted")
    if "record" in event:
        return _functiongraph_smn(event, defaults)
    return _direct_invocation(event, defaults)

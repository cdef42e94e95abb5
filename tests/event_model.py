"""What an event should make the function do, read from the documented trigger shapes
(docs/triggers.md and the issue), independently of handler/triggers.py; and builders for
the envelopes, so tests can write events of every shape in a line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.fake_sdrs import PAGE_LIMIT, group_delete_path, list_path

ASYNC_TRIGGERS = frozenset({"eventbridge", "eventbridge_scheduled", "sns", "sns_alarm"})


@dataclass(frozen=True)
class Expected:
    trigger: str
    targets: tuple[tuple[str, str], ...]  # (project_id, server_group_id), in order, no repeats
    dry_run: bool
    asynchronous: bool  # a transient failure must raise TransientFailure


def _direct(request: dict[str, Any], default_project: str | None) -> tuple[list[tuple[str, str]], bool, bool]:
    ids = [request["server_group_id"]] if "server_group_id" in request else list(request["server_group_ids"])
    project = request.get("project_id", default_project)
    assert project is not None, "the event names no project and the test set no default"
    return (
        [(project, gid) for gid in ids],
        bool(request.get("dry_run", False)),
        bool(request.get("raise_on_transient_failure", False)),
    )


def _unique(targets: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(dict.fromkeys(targets))


def expected_from_event(
    event: dict[str, Any],
    *,
    default_project: str | None,
    scheduled_group_ids: Sequence[str] = (),
    force_dry_run: bool = False,
) -> Expected:
    """The documented meaning of a *valid* event."""
    if "Records" in event:
        targets: list[tuple[str, str]] = []
        trigger, dry_run = "sns", False
        for record in event["Records"]:
            message = json.loads(record["Sns"]["Message"])
            if "AlarmName" in message and "NewStateValue" in message:
                trigger = "sns_alarm"
                if message["NewStateValue"] != "ALARM":
                    continue
                dimensions = {d["name"]: d["value"] for d in message["Trigger"]["Dimensions"]}
                project = dimensions.get("ProjectId", default_project)
                assert project is not None
                targets.append((project, dimensions["ServerGroupId"]))
            else:
                found, wants_dry_run, _ = _direct(message, default_project)
                targets += found
                dry_run = dry_run or wants_dry_run
        return Expected(trigger, _unique(targets), dry_run or force_dry_run, True)
    if "detail-type" in event and "source" in event:
        if event["detail-type"] == "Scheduled Event":
            assert default_project is not None
            targets = [(default_project, gid) for gid in scheduled_group_ids]
            return Expected("eventbridge_scheduled", _unique(targets), force_dry_run, True)
        detail = event["detail"]
        detail = json.loads(detail) if isinstance(detail, str) else detail
        found, dry_run, _ = _direct(detail, default_project)
        return Expected("eventbridge", _unique(found), dry_run or force_dry_run, True)
    found, dry_run, raise_flag = _direct(event, default_project)
    return Expected("direct", _unique(found), dry_run or force_dry_run, raise_flag)


def expected_calls(
    project_id: str, server_group_id: str, failed_tasks: int, dry_run: bool
) -> list[tuple[str, str, dict[str, str]]]:
    """(method, path, query) the function must send for one group holding `failed_tasks`."""
    calls = [
        ("GET", list_path(project_id), {"server_group_id": server_group_id, "limit": str(PAGE_LIMIT), "offset": str(o)})
        for o in range(0, max(failed_tasks, 1), PAGE_LIMIT)
    ]
    if failed_tasks and not dry_run:
        calls.append(("DELETE", group_delete_path(project_id, server_group_id), {}))
    return calls


# --- envelopes -----------------------------------------------------------------------------

SNS_TOPIC = "arn:aws:sns:eu-west-1:123456789012:sdrs-alarms"


def sns_event(*messages: dict[str, Any] | str) -> dict[str, Any]:
    """An SNS delivery, one record per message (dicts are JSON-encoded, strings kept)."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{SNS_TOPIC}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": f"95df01b4-ee98-5cb9-9903-4c221d41eb{i:02d}",
                    "TopicArn": SNS_TOPIC,
                    "Subject": "sdrs",
                    "Message": message if isinstance(message, str) else json.dumps(message),
                    "Timestamp": "2026-11-20T10:00:01.123Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0.pem",
                    "UnsubscribeUrl": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {},
                },
            }
            for i, message in enumerate(messages)
        ]
    }


def alarm_message(state: str = "ALARM", dimensions: dict[str, Any] | None = None) -> dict[str, Any]:
    """A CloudWatch alarm state change as SNS carries it."""
    return {
        "AlarmName": "sdrs-replication-failed",
        "AWSAccountId": "123456789012",
        "NewStateValue": state,
        "OldStateValue": "OK" if state != "OK" else "ALARM",
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints was greater than the threshold (0.0).",
        "StateChangeTime": "2026-11-20T10:00:00.000+0000",
        "Region": "EU (Ireland)",
        "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:sdrs-replication-failed",
        "Trigger": {
            "MetricName": "ReplicationFailures",
            "Namespace": "SDRS",
            "Dimensions": [{"name": k, "value": v} for k, v in (dimensions or {}).items()],
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0.0,
        },
    }


def eventbridge_event(detail: Any, detail_type: str = "SDRS Replication Failed", source: str = "custom.sdrs") -> dict:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2026-11-20T10:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }


def scheduled_event(detail: Any = None) -> dict[str, Any]:
    event = eventbridge_event({} if detail is None else detail, "Scheduled Event", "aws.events")
    event["resources"] = ["arn:aws:events:eu-west-1:123456789012:rule/sdrs-cleanup-hourly"]
    return event

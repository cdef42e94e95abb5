"""Builders for the trigger envelopes, so tests can write events of every shape in a line;
and the requests the function must send for a group (or a sweep's listing), from explicit
arguments. What an event should make the function do is written out in each test, never
derived here: this module does not read events."""

from __future__ import annotations

import json
from typing import Any

from tests.fake_sdrs import PAGE_LIMIT, group_delete_path, list_path, server_groups_path


def group_requests(
    project_id: str, server_group_id: str, failed_tasks: int, dry_run: bool, page_size: int = PAGE_LIMIT
) -> list[tuple[str, str, dict[str, str]]]:
    """(method, path, query) the function must send for one group holding `failed_tasks`:
    its listing pages in order, then (unless a dry run, or nothing to delete) one DELETE."""
    calls = [
        ("GET", list_path(project_id), {"server_group_id": server_group_id, "limit": str(page_size), "offset": str(o)})
        for o in range(0, max(failed_tasks, 1), page_size)
    ]
    if failed_tasks and not dry_run:
        calls.append(("DELETE", group_delete_path(project_id, server_group_id), {}))
    return calls


def sweep_listing_requests(project_id: str, groups: int, page_size: int = PAGE_LIMIT) -> list[tuple[str, str, dict]]:
    """The protection-group pages a sweep must ask for when the project has `groups` groups:
    offset 0, then one per further page; never a page past the count."""
    return [
        ("GET", server_groups_path(project_id), {"limit": str(page_size), "offset": str(o)})
        for o in range(0, max(groups, 1), page_size)
    ]


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


SQS_QUEUE = "arn:aws:sqs:eu-west-1:123456789012:sdrs-cleanup-requests"


def sqs_message_id(i: int) -> str:
    return f"059f36b4-87a3-44ab-83d2-6619758300{i:02d}"


def sqs_event(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    """An SQS batch as Lambda's event source mapping delivers it, one record per body
    (dicts are JSON-encoded, strings kept); message ids from `sqs_message_id(i)`."""
    return {
        "Records": [
            {
                "messageId": sqs_message_id(i),
                "receiptHandle": f"AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a{i:02d}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795442400000",
                    "SenderId": "AROAIWPX5BD2BHG722MW4:sdrs-dispatcher",
                    "ApproximateFirstReceiveTimestamp": "1795442400012",
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": SQS_QUEUE,
                "awsRegion": "eu-west-1",
            }
            for i, body in enumerate(bodies)
        ]
    }

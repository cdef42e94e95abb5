"""The core's one decision, as a table: should the platform deliver the event (or record) again?

Rows are results as the core builds them; columns are the four ways a trigger is retried.
The expectations are written out by hand from the rules in the README ("What a failure
does"), not computed: a change to any cell must show up here.
"""

from __future__ import annotations

import pytest

from handler.core import Invocation, Runtime, handle, should_retry
from handler.models import (
    ErrorType,
    GroupError,
    GroupResult,
    InvocationError,
    InvocationResult,
    Outcome,
    Retry,
)
from handler.settings import Settings
from tests.fake_sdrs import GROUP_WITH_FAILURES, PROJECT_ID


def group(outcome: Outcome, code: str | None = None, retryable: bool = False) -> GroupResult:
    error = GroupError(code, "m", retryable) if code else None
    return GroupResult(PROJECT_ID, GROUP_WITH_FAILURES, outcome, error=error)


def result(*groups: GroupResult, error: InvocationError | None = None) -> InvocationResult:
    return InvocationResult("t", groups=list(groups), error=error)


RESULTS = {
    "all deleted": result(group(Outcome.DELETED), group(Outcome.NOTHING_TO_DELETE)),
    "nothing asked": result(),
    "dry run": result(group(Outcome.WOULD_DELETE)),
    "transient group failure": result(group(Outcome.FAILED, "HTTP.503", retryable=True)),
    "permanent group failure": result(group(Outcome.FAILED, "SDRS.1013")),
    "deferred group": result(group(Outcome.DELETED), group(Outcome.DEFERRED, "Deadline.Deferred", retryable=True)),
    "held by the brake": result(
        group(Outcome.HELD, "SafetyBrake.Tripped"), error=InvocationError(ErrorType.SAFETY_BRAKE, "m")
    ),
    "discovery failed, transient": result(error=InvocationError(ErrorType.DISCOVERY_FAILED, "m", retryable=True)),
    "discovery failed, for good": result(error=InvocationError(ErrorType.DISCOVERY_FAILED, "m")),
    "secret not readable yet": result(error=InvocationError(ErrorType.CONFIGURATION, "m", retryable=True)),
    "configuration missing": result(error=InvocationError(ErrorType.CONFIGURATION, "m")),
    "invalid event": result(error=InvocationError(ErrorType.INVALID_EVENT, "m")),
}

#                                       NONE   EVENT  TIMER  RECORD
TABLE = {
    "all deleted": (False, False, False, False),
    "nothing asked": (False, False, False, False),
    "dry run": (False, False, False, False),
    "transient group failure": (False, True, True, True),
    "permanent group failure": (False, False, False, False),
    "deferred group": (False, True, False, True),
    "held by the brake": (False, False, False, False),
    "discovery failed, transient": (False, True, True, True),
    "discovery failed, for good": (False, False, False, False),
    "secret not readable yet": (False, True, True, True),
    "configuration missing": (False, False, False, True),
    "invalid event": (False, False, False, False),
}
COLUMNS = (Retry.NONE, Retry.EVENT, Retry.TIMER, Retry.RECORD)


def test_the_table_covers_every_row_and_every_way_of_retrying() -> None:
    assert set(TABLE) == set(RESULTS)
    assert set(COLUMNS) == set(Retry)


@pytest.mark.parametrize("row", sorted(TABLE))
@pytest.mark.parametrize("retry", COLUMNS)
def test_should_retry(row: str, retry: Retry) -> None:
    expected = TABLE[row][COLUMNS.index(retry)]
    assert should_retry(RESULTS[row], retry) is expected


class NoSdrs:
    """A provider that fails the test if the core asks it for a client."""

    def __call__(self, settings: Settings) -> object:
        raise AssertionError("the core asked for an SDRS client")


RUNTIME = Runtime(NoSdrs())  # type: ignore[arg-type]
ENV = {"HUAWEICLOUD_SDK_PROJECT_ID": PROJECT_ID, "SDRS_REGION": "cn-north-4"}


def test_an_invalid_event_returns_without_asking_for_a_client() -> None:
    disposition = handle(Invocation({"server_group_id": "../x"}, 30.0, ENV, RUNTIME))
    assert disposition.must_raise is False
    assert disposition.failed_items == ()
    assert disposition.body["error"]["type"] == "invalid_event"
    assert [r.error.type for r in disposition.results if r.error] == [ErrorType.INVALID_EVENT]


def test_an_ok_alarm_returns_ok_without_asking_for_a_client() -> None:
    message = '{"AlarmName": "a", "NewStateValue": "OK", "Trigger": {"Dimensions": []}}'
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:eu-west-1:123456789012:t:1",
                "Sns": {"MessageId": "m", "TopicArn": "arn:aws:sns:eu-west-1:123456789012:t", "Message": message},
            }
        ]
    }
    disposition = handle(Invocation(event, 30.0, ENV, RUNTIME))
    assert disposition.body["ok"] is True
    assert disposition.body["trigger"] == "sns_alarm"
    assert disposition.must_raise is False


def test_a_batch_reports_exactly_the_records_worth_another_delivery() -> None:
    """With no default project configured, a record naming none is a configuration problem
    (sent back: it may be fixed before the queue gives up); the invalid one is reported, not sent back."""
    records = [
        {"messageId": "valid", "body": '{"server_group_id": "' + GROUP_WITH_FAILURES + '"}', "eventSource": "aws:sqs"},
        {"messageId": "invalid", "body": '{"server_group_id": "../x"}', "eventSource": "aws:sqs"},
    ]
    disposition = handle(Invocation({"Records": records}, 30.0, {"SDRS_REGION": "cn-north-4"}, RUNTIME))
    assert disposition.failed_items == ("valid",)
    assert disposition.body["batchItemFailures"] == [{"itemIdentifier": "valid"}]
    assert [r["message_id"] for r in disposition.body["records"]] == ["valid", "invalid"]
    assert disposition.must_raise is False
    assert [r.error.type for r in disposition.results if r.error] == [ErrorType.CONFIGURATION, ErrorType.INVALID_EVENT]

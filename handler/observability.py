"""The one Powertools logger every module logs through (JSON on stdout in Lambda), and the
metrics an invocation's result makes."""

import json
import logging
import os
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import RESERVED_LOG_ATTRS, LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

from handler.models import ErrorType, InvocationResult, Outcome

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "sdrs-cleanup")

_RESERVED = frozenset(RESERVED_LOG_ATTRS)
# What json.loads could read as JSON: a text that starts (after its whitespace) like an object,
# an array, a string or a number, or is a literal (an "f" starting a sentence is not "false").
_JSON_STARTS = frozenset('{["-0123456789')
_JSON_LITERALS = frozenset({"true", "false", "null", "NaN", "Infinity"})
_JSON_WHITESPACE = " \t\n\r"
XRAY_TRACE_ID_ENV = "_X_AMZN_TRACE_ID"


class PlainRecordFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON log line, byte for byte, written for less: a record with a plain-text
    message, no arguments and no exception (every line this function writes on its way) skips
    Powertools' attempt to parse the message as JSON, which fails and raises for every such
    message, and its copy of the record. Any other record is Powertools' own `format`.
    tests/unit/test_log_formatter.py compares the two on generated records."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if options.get("json_serializer") is None:  # json.dumps would build this encoder for every line
            self.json_serializer = json.JSONEncoder(
                default=self.json_default, separators=(",", ":"), indent=self.json_indent, ensure_ascii=False
            ).encode

    def format(self, record: logging.LogRecord) -> str:
        message = record.msg
        if (
            record.args
            or record.exc_info
            or type(message) is not str
            or message.lstrip(_JSON_WHITESPACE)[:1] in _JSON_STARTS
            or message.strip(_JSON_WHITESPACE) in _JSON_LITERALS
            or self.json_deserializer is not json.loads
        ):
            return super().format(record)
        record.asctime = self.formatTime(record)
        values = record.__dict__
        log: dict[str, object] = {}
        for keys in (self.log_format, self.thread_safe_get_current_keys()):
            for key, value in keys.items():
                if value and key in _RESERVED:
                    if type(value) is not str:
                        return super().format(record)  # which says why not
                    value = value % values
                log[key] = value
        for key, value in values.items():
            if key not in _RESERVED:
                log[key] = value
        log["message"] = message
        if self.serialize_stacktrace:  # Powertools sets it to the record's (none), over any extra of that name
            log["stack_trace"] = None
        trace = os.environ.get(XRAY_TRACE_ID_ENV) if self.log_format.get("xray_trace_id", "") is not None else None
        log["xray_trace_id"] = trace.split(";")[0].replace("Root=", "") if trace else None
        return self.serialize({key: value for key, value in log.items() if value is not None})


logger = Logger(service=SERVICE, logger_formatter=PlainRecordFormatter())


_ERROR_METRICS = {
    ErrorType.INVALID_EVENT: "InvalidEvents",
    ErrorType.CONFIGURATION: "ConfigurationErrors",
    ErrorType.SAFETY_BRAKE: "SafetyBrakeTripped",
    ErrorType.DISCOVERY_FAILED: "DiscoveryFailures",
}


def metric_counts(result: InvocationResult) -> dict[str, int]:
    """The EMF metrics of one result: GroupsProcessed and FailedTasksDeleted always, the others when not 0."""
    counts: dict[str, int] = {}
    if result.error is not None and result.error.type in _ERROR_METRICS:
        counts[_ERROR_METRICS[result.error.type]] = 1
    summary = result.summary()
    counts["GroupsProcessed"] = summary["groups_found"]
    counts["FailedTasksDeleted"] = summary["failed_tasks_deleted"]
    if result.dry_run:
        counts["FailedTasksWouldDelete"] = sum(
            len(g.failure_jobs) for g in result.groups if g.outcome is Outcome.WOULD_DELETE
        )
    transient = len(result.retryable_failures)
    counts["TransientApiFailures"] = transient
    counts["PermanentApiFailures"] = summary["failed"] - transient
    counts["GroupsDeferred"] = summary["deferred"]
    return {name: value for name, value in counts.items() if value or name in ("GroupsProcessed", "FailedTasksDeleted")}


def record_metrics(metrics: Metrics, results: Iterable[InvocationResult]) -> None:
    for result in results:
        for name, value in metric_counts(result).items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

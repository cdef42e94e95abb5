"""The one Powertools logger every module logs through (JSON on stdout in Lambda), and the
metrics an invocation's result makes."""

import os
from collections.abc import Iterable

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from handler.models import ErrorType, InvocationResult, Outcome

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "sdrs-cleanup")
logger = Logger(service=SERVICE)


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

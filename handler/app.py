"""The Lambda edge: Lambda's event and context to the core, the core's answer back to Lambda."""

from __future__ import annotations

import gc

_COLLECTING = gc.isenabled()
gc.disable()  # while the modules load: the end of this module says why

import os
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from handler.core import Invocation, Runtime, TransientFailure, handle
from handler.observability import logger, record_metrics
from handler.sdrs.factory import ClientFactory
from handler.snapstart import SnapStart

metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "SdrsCleanup"))
# One client (and connection pool) per configuration, reused by warm invocations.
RUNTIME = Runtime(ClientFactory())
SNAPSTART = SnapStart(os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"))
SNAPSTART.prepare()


__all__ = ["RUNTIME", "TransientFailure", "lambda_handler"]


def _is_function_url_event(event: Any) -> bool:
    context = event.get("requestContext") if isinstance(event, dict) else None
    return isinstance(context, dict) and isinstance(context.get("http"), dict)


def lambda_handler(event: Any, context: LambdaContext, runtime: Runtime = RUNTIME) -> dict[str, Any]:
    if SNAPSTART.before_invocation():  # a restored copy's first: fresh entropy before anything draws on it
        # Powertools drew its log-sampling decision in the init and keeps it for a cold start: each
        # copy draws its own.
        logger.refresh_sample_rate_calculation()
    response: dict[str, Any] = _invoke(event, context, runtime)
    return response


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def _invoke(event: Any, context: LambdaContext, runtime: Runtime) -> dict[str, Any]:
    remaining = context.get_remaining_time_in_millis() / 1000
    if _is_function_url_event(event):  # an SMN delivery over HTTPS: answered as HTTP
        from handler.function_url import answer

        response, results = answer(event, remaining, os.environ, runtime)
        record_metrics(metrics, results)
        return response
    disposition = handle(Invocation(event, remaining, os.environ, runtime))
    record_metrics(metrics, disposition.results)
    if disposition.must_raise:
        raise TransientFailure(f"{disposition.failure}; raised so that Lambda retries the event", disposition.body)
    return disposition.body


# What the import made (some 30,000 objects: modules, classes, functions, models) lives as long as
# the process, yet the collector walked it again and again as it grew, finding nothing
# (BENCHMARKS.md, issue 14's third stop). Frozen, no later collection walks it again.
gc.freeze()
if _COLLECTING:
    gc.enable()

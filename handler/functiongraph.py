"""The FunctionGraph edge: FunctionGraph's event and context to the core, the core's answer back.

Deployed with the handler `handler.functiongraph.handler` (deploy/functiongraph/). What the
context lends, per invocation:

- the time left (`getRemainingTimeInMilliSeconds`);
- the agency's temporary credentials (`getSecurityAccessKey`, `getSecuritySecretKey`,
  `getSecurityToken`), read on every invocation since they rotate, and used before the static
  `HUAWEICLOUD_SDK_AK`/`SK` of the environment;
- the project (`getProjectID`) when `HUAWEICLOUD_SDK_PROJECT_ID` is not set;
- the request id (`getRequestID`), the correlation id of every log line;
- user data (`getUserData`): a setting the process environment lacks (or has empty) is read there.
"""

from __future__ import annotations

import gc

_COLLECTING = gc.isenabled()
gc.disable()  # while the modules load: the end of this module says why

import contextlib
import os
from collections.abc import Mapping
from typing import Any

from handler.core import Invocation, Runtime, TransientFailure, handle_functiongraph
from handler.observability import logger
from handler.sdrs.factory import ClientFactory
from handler.settings import DECLARED, ConfigurationError

__all__ = ["RUNTIME", "TransientFailure", "environment", "handler"]

# One client (and connection pool) per configuration, reused by warm invocations; new
# credentials (the agency's rotate) are a new configuration.
RUNTIME = Runtime(ClientFactory())
STATIC_CREDENTIALS = ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN")
PROJECT = "HUAWEICLOUD_SDK_PROJECT_ID"
EMF_METRICS = "SDRS_FUNCTIONGRAPH_EMF_METRICS"
_state = {"cold": True}


def _text(context: Any, method: str, *args: str) -> str:
    """What a context method returns, or "" when the runtime has no such method or it gives nothing."""
    call = getattr(context, method, None)
    value = call(*args) if callable(call) else None
    return value if isinstance(value, str) else ""


def environment(context: Any, process: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The settings' environment for this invocation, and where its credentials come from
    ("agency", "environment" or "none"). Precedence: the process environment, then user data
    for a declared setting the environment lacks; the agency's credentials replace static ones."""
    env = dict(process)
    for name in DECLARED:
        if not env.get(name) and (value := _text(context, "getUserData", name)):
            env[name] = value
    access_key, secret_key = _text(context, "getSecurityAccessKey"), _text(context, "getSecuritySecretKey")
    if access_key and secret_key:
        for name in STATIC_CREDENTIALS:
            env.pop(name, None)
        env["HUAWEICLOUD_SDK_AK"], env["HUAWEICLOUD_SDK_SK"] = access_key, secret_key
        if token := _text(context, "getSecurityToken"):
            env["HUAWEICLOUD_SDK_SECURITY_TOKEN"] = token
        source = "agency"
    else:
        source = "environment" if env.get("HUAWEICLOUD_SDK_AK") else "none"
    if not env.get(PROJECT) and (project := _text(context, "getProjectID")):
        env[PROJECT] = project
    return env, source


def _wants_emf(env: Mapping[str, str]) -> bool:
    with contextlib.suppress(ConfigurationError):  # a malformed value is reported by the core
        return DECLARED[EMF_METRICS].parse(env.get(EMF_METRICS, "")) is True
    return False


def handler(event: Any, context: Any, runtime: Runtime = RUNTIME) -> dict[str, Any]:
    logger.clear_state()
    request_id = _text(context, "getRequestID")
    logger.set_correlation_id(request_id or None)
    env, credentials = environment(context, os.environ)
    logger.append_keys(
        platform="functiongraph",
        function_name=_text(context, "getFunctionName") or None,
        function_request_id=request_id or None,
        cold_start=_state["cold"],
        credentials=credentials,
    )
    _state["cold"] = False
    remaining = context.getRemainingTimeInMilliSeconds() / 1000
    disposition = handle_functiongraph(Invocation(event, remaining, env, runtime))
    if _wants_emf(env):
        from aws_lambda_powertools import Metrics

        from handler.observability import record_metrics

        metrics = Metrics(namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "SdrsCleanup"))
        record_metrics(metrics, disposition.results)
        metrics.flush_metrics()
    if disposition.must_raise:
        message = f"{disposition.failure}; raised so that FunctionGraph retries the event"
        raise TransientFailure(message, disposition.body)
    return disposition.body


# What the import made (some 30,000 objects: modules, classes, functions, models) lives as long as
# the process, yet the collector walked it again and again as it grew, finding nothing
# (BENCHMARKS.md, issue 14's third stop). Frozen, no later collection walks it again.
gc.freeze()
if _COLLECTING:
    gc.enable()

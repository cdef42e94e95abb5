"""`sdrs-cleanup invoke EVENT_FILE [--platform lambda|functiongraph] [--emulator] [--dry-run]`: run the
function's Lambda or FunctionGraph entry point locally.

The result goes to stdout as JSON, logs and a short human summary to stderr. Exit codes:
0 when the result is ok, 1 when it is not, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from handler.local.functiongraph_context import AgencyCredentials


class LocalContext:
    """Enough of Lambda's context object for the handler and Powertools."""

    function_name = "sdrs-cleanup-local"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    log_group_name = "/aws/lambda/sdrs-cleanup-local"
    log_stream_name = "local"

    def __init__(self, timeout_seconds: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{self.function_name}"
        self._ends_at = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends_at - time.monotonic()) * 1000))


@contextlib.contextmanager
def _environment(overrides: dict[str, str], removed: Sequence[str] = ()) -> Iterator[None]:
    saved = dict(os.environ)
    for name in removed:
        os.environ.pop(name, None)
    os.environ.update(overrides)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _load_event(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SystemExit(f"sdrs-cleanup: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SystemExit(f"sdrs-cleanup: {path} is not JSON: {exc}") from None


def _summary(result: dict[str, Any], out: TextIO, indent: str = "") -> None:
    if "records" in result:  # an SQS batch: one result per record
        failures = len(result.get("batchItemFailures", []))
        print(f"{indent}sdrs-cleanup: SQS batch of {len(result['records'])} record(s), {failures} sent back", file=out)
        for record in result["records"]:
            print(f"{indent}  record {record['message_id']}:", file=out)
            _summary(record, out, indent + "    ")
        return
    verdict = "ok" if result.get("ok") else "NOT ok"
    mode = ", dry run" if result.get("dry_run") else ""
    print(f"{indent}sdrs-cleanup: {verdict} (trigger {result.get('trigger')}{mode})", file=out)
    groups = result.get("groups", [])
    for group in groups[:50]:
        count = len(group["failure_jobs"])
        line = f"{indent}  {group['server_group_id']}  {group['outcome']:<17} {count} failed task(s)"
        if group["error"]:
            error = group["error"]
            line += f"  {error['code']}: {error['message']} (retryable: {str(error['retryable']).lower()})"
        if group["request_id"]:
            line += f"  [request {group['request_id']}]"
        print(line, file=out)
    if len(groups) > 50:
        print(f"{indent}  … and {len(groups) - 50} more groups (see the JSON on stdout)", file=out)
    if summary := result.get("summary"):
        counts = ", ".join(
            f"{value} {name.replace('_', ' ')}" for name, value in summary.items() if name != "groups_found"
        )
        print(f"{indent}  {summary['groups_found']} group(s) found: {counts}", file=out)
    if result.get("error"):
        print(f"{indent}  error ({result['error']['type']}): {result['error']['message']}", file=out)
    if not groups and not result.get("error"):
        print(f"{indent}  nothing to do: no protection group to clean", file=out)


def _call(event: Any, args: argparse.Namespace, agency: AgencyCredentials | None) -> dict[str, Any]:
    """The entry point of the platform asked for, with a local context (raises TransientFailure)."""
    if getattr(args, "platform", "lambda") == "functiongraph":
        from handler.functiongraph import handler
        from handler.local.emulator import DEMO_PROJECT_ID
        from handler.local.functiongraph_context import LocalFunctionGraphContext

        project = DEMO_PROJECT_ID if args.emulator else os.environ.get("RUNTIME_PROJECT_ID", "")
        return handler(event, LocalFunctionGraphContext(args.timeout, agency=agency, project_id=project))
    from handler.app import lambda_handler

    result: dict[str, Any] = lambda_handler(event, cast("LambdaContext", LocalContext(args.timeout)))
    return result


def _invoke(
    event: Any, args: argparse.Namespace, agency: AgencyCredentials | None
) -> tuple[dict[str, Any], str | None]:
    """Run the real handler; logs and metrics (stdout in Lambda and FunctionGraph) go to stderr here."""
    if not args.verbose:  # keep stderr readable: errors and the summary, no INFO logs or EMF blobs
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from handler.core import TransientFailure
    from handler.observability import logger

    logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO").upper())
    logger.registered_handler.setStream(sys.stderr)  # type: ignore[attr-defined]
    # In Lambda, EMF metrics are printed to stdout; here stdout holds only the result.
    with contextlib.redirect_stdout(sys.stderr if args.verbose else io.StringIO()):
        try:
            return _call(event, args, agency), None
        except TransientFailure as exc:
            # On the platform this raise triggers the asynchronous retry; locally, show the result too.
            return exc.result, str(exc)


# On FunctionGraph the agency's credentials and the context's project stand in for these.
_STATIC_IDENTITY = ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_PROJECT_ID")


def _run_locally(
    event: Any, args: argparse.Namespace, overrides: dict[str, str]
) -> tuple[dict[str, Any], str | None, Any]:
    """The handler on `event` with `overrides` in its environment, against the built-in emulator
    when --emulator is given. Returns the answer, the raise (if any) and the emulator (or None).
    On FunctionGraph with the emulator, the emulator issues temporary credentials that the local
    context lends as an agency would, and the environment holds no AK/SK at all."""
    from handler.local.emulator import DEMO_GROUP_CLEAN, DEMO_GROUP_WITH_FAILURES, SdrsEmulator, demo_state

    functiongraph = getattr(args, "platform", "lambda") == "functiongraph"
    with contextlib.ExitStack() as stack:
        emulator, agency = None, None
        removed: tuple[str, ...] = ()
        if args.emulator:
            emulator = stack.enter_context(SdrsEmulator(demo_state()))
            if "SDRS_SERVER_GROUP_IDS" not in os.environ:
                overrides["SDRS_SERVER_GROUP_IDS"] = f"{DEMO_GROUP_WITH_FAILURES},{DEMO_GROUP_CLEAN}"
            removed = ("SDRS_REGION", "HUAWEICLOUD_SDK_SECURITY_TOKEN")
            if functiongraph:
                from handler.local.emulator import issue_agency_credentials

                agency = issue_agency_credentials(emulator.state)
                overrides["SDRS_ENDPOINT"] = emulator.endpoint
                removed += _STATIC_IDENTITY
            else:
                overrides.update(emulator.environment())
            print(f"sdrs-cleanup: using the built-in SDRS emulator at {emulator.endpoint}", file=sys.stderr)
        with _environment(overrides, removed):
            answer, raised = _invoke(event, args, agency)
    return answer, raised, emulator


def _cmd_invoke(args: argparse.Namespace) -> int:
    event = _load_event(args.event_file)
    result, raised, emulator = _run_locally(event, args, {"SDRS_DRY_RUN": "true"} if args.dry_run else {})
    print(json.dumps(result, indent=2, ensure_ascii=False))
    _summary(result, sys.stderr)
    if raised:
        platform = "FunctionGraph" if args.platform == "functiongraph" else "Lambda"
        print(f"  raised on {platform}: {raised}", file=sys.stderr)
    if emulator is not None:
        left = [(gid, n) for _, gid, n in emulator.failed_task_counts() if n]
        print(
            f"  emulator afterwards: {sum(n for _, n in left)} failed task(s) left in {len(left)} group(s)",
            file=sys.stderr,
        )
    return 0 if result.get("ok") else 1


def _cmd_smn_deliver(args: argparse.Namespace) -> int:
    """Sign the file's text as an SMN Notification and deliver it to the Function URL edge."""
    from handler.local.smn_delivery import LOCAL_TOPIC_URN, function_url_event, signed_notification, signing_identity

    try:
        message = Path(args.message_file).read_text(encoding="utf-8")
    except OSError as exc:
        raise SystemExit(f"sdrs-cleanup: cannot read {args.message_file}: {exc.strerror}") from None
    key, certificate = signing_identity()
    event = function_url_event(signed_notification(key, message))
    overrides = {"SDRS_SMN_TOPIC_URNS": LOCAL_TOPIC_URN, "SDRS_SMN_SIGNING_CERTS": certificate}
    response, _, _ = _run_locally(event, args, overrides)
    print(json.dumps(response, indent=2, ensure_ascii=False))
    status = int(response.get("statusCode", 500))
    print(f"sdrs-cleanup: the Function URL answered HTTP {status}", file=sys.stderr)
    with contextlib.suppress(ValueError, TypeError):
        _summary(json.loads(response.get("body") or "{}"), sys.stderr)
    return 0 if 200 <= status < 300 else 1


def _cmd_emulator(args: argparse.Namespace) -> int:
    from handler.local.emulator import SdrsEmulator

    with SdrsEmulator(port=args.port) as emulator:
        print("SDRS emulator running; point the function at it with:", file=sys.stderr)
        for name, value in emulator.environment().items():
            print(f"  export {name}={value}", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sdrs-cleanup", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    invoke = commands.add_parser("invoke", help="run the handler on an event file")
    invoke.add_argument("event_file", metavar="EVENT_FILE", help="a JSON event, e.g. events/sns-alarm.json")
    invoke.add_argument(
        "--platform",
        choices=("lambda", "functiongraph"),
        default="lambda",
        help="the entry point: Lambda's lambda_handler (default) or FunctionGraph's handler, with a local context",
    )
    invoke.add_argument("--emulator", action="store_true", help="run against the built-in SDRS emulator")
    invoke.add_argument("--dry-run", action="store_true", help="list failed tasks but delete nothing")
    invoke.add_argument("--timeout", type=float, default=60.0, help="the invocation's time limit in seconds")
    invoke.add_argument("--verbose", action="store_true", help="show the handler's INFO logs on stderr")
    invoke.set_defaults(func=_cmd_invoke)
    deliver = commands.add_parser(
        "smn-deliver", help="sign a message as an SMN topic and deliver it to the Function URL edge"
    )
    deliver.add_argument(
        "message_file", metavar="MESSAGE_FILE", help="the message: a direct request or a Cloud Eye alarm"
    )
    deliver.add_argument("--emulator", action="store_true", help="run against the built-in SDRS emulator")
    deliver.add_argument("--timeout", type=float, default=60.0, help="the invocation's time limit in seconds")
    deliver.add_argument("--verbose", action="store_true", help="show the handler's INFO logs on stderr")
    deliver.set_defaults(func=_cmd_smn_deliver)
    emulator = commands.add_parser("emulator", help="serve the SDRS emulator on 127.0.0.1 until Ctrl-C")
    emulator.add_argument("--port", type=int, default=8443)
    emulator.set_defaults(func=_cmd_emulator)
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        raise
    return code


if __name__ == "__main__":
    sys.exit(main())

"""`PlainRecordFormatter` writes Powertools' JSON log line byte for byte: it is compared with
Powertools' own `LambdaPowertoolsFormatter` on generated records (messages that are and are
not JSON, arguments, exceptions, extras, keys that override the reserved ones, thread-local
keys, an X-Ray trace). An upstream release that changes the line fails here. And the saving
(the fast path) is guarded: the function's own lines must not reach Powertools' `format`."""

from __future__ import annotations

import ast
import json
import logging
import string
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from hypothesis import given, settings
from hypothesis import strategies as st

from handler.observability import XRAY_TRACE_ID_ENV, PlainRecordFormatter, logger

ROOT = Path(__file__).resolve().parents[2]

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)
_REFUSED = {"message", "asctime", *logging.makeLogRecord({}).__dict__}  # logging refuses these as extras
_KEY = st.text(string.ascii_letters + "_", min_size=1, max_size=12).filter(lambda key: key not in _REFUSED)
_MESSAGES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "cleanup requested",
            "failed tasks deleted",
            " null",
            "false",
            " true\n",
            "Infinity",
            "NaN ",
            "nothing to do",
            "\t[1, 2]",
            '{"a": 1}',
            "42",
            "-x",
            "-Infinity",
            "true story",
            "",
            "\ufeff{}",
        ]
    ),
    _JSON.map(json.dumps),
    st.dictionaries(_KEY, _JSON, max_size=3),
)
# Keys a Logger's append_keys may set, overriding the reserved ones with format strings among them.
_APPENDED = st.dictionaries(
    st.sampled_from(["location", "timestamp", "level", "cold_start", "function_name", "xray_trace_id", "custom"])
    | _KEY,
    st.sampled_from(["%(module)s", "%(levelname)s:%(lineno)d", "%(process)d"]) | _JSON,
    max_size=4,
)


def _pair(appended: dict[str, Any]) -> tuple[LambdaPowertoolsFormatter, PlainRecordFormatter]:
    upstream, ours = LambdaPowertoolsFormatter(), PlainRecordFormatter()
    for formatter in (upstream, ours):
        formatter.append_keys(service="sdrs-cleanup", sampling_rate=None, **appended)
    return upstream, ours


def _record(message: object, args: tuple[object, ...], extra: dict[str, Any], failing: bool) -> logging.LogRecord:
    exc_info = None
    if failing:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.getLogger("test").makeRecord(
        "test", logging.INFO, __file__, 7, message, args, exc_info, "run_cleanup", extra
    )


@pytest.fixture
def thread_keys() -> Iterator[PlainRecordFormatter]:
    formatter = PlainRecordFormatter()
    yield formatter
    formatter.thread_safe_clear_keys()


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    message=_MESSAGES,
    with_args=st.booleans(),
    extra=st.dictionaries(_KEY, _JSON, max_size=4),
    appended=_APPENDED,
    failing=st.booleans(),
    trace=st.sampled_from([None, "", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"]),
)
def test_the_line_is_powertools_own(
    message: object,
    with_args: bool,
    extra: dict[str, Any],
    appended: dict[str, Any],
    failing: bool,
    trace: str | None,
) -> None:
    with pytest.MonkeyPatch.context() as environment:
        if trace is None:
            environment.delenv(XRAY_TRACE_ID_ENV, raising=False)
        else:
            environment.setenv(XRAY_TRACE_ID_ENV, trace)
        _compare(message, with_args, extra, appended, failing)


def _compare(message: object, with_args: bool, extra: dict[str, Any], appended: dict[str, Any], failing: bool) -> None:
    upstream, ours = _pair(appended)
    args = ("x",) if with_args and isinstance(message, str) else ()
    record = _record(message, args, extra, failing)
    try:
        expected: str | type[Exception] = upstream.format(record)
    except (ValueError, TypeError) as exc:  # a reserved key set to something not a format string
        expected = type(exc)
    if isinstance(expected, str):
        assert ours.format(record) == expected
    else:
        with pytest.raises(expected):
            ours.format(record)


def test_thread_local_keys_and_exceptions_in_extras(thread_keys: PlainRecordFormatter) -> None:
    upstream = LambdaPowertoolsFormatter()
    for formatter in (upstream, thread_keys):
        formatter.append_keys(service="sdrs-cleanup", location="%(module)s")
    thread_keys.thread_safe_append_keys(request="r-1", level="%(levelname)s!", gone=None)
    record = _record("plain", (), {"exception": "mine", "stack_trace": "kept?", "count": 3}, failing=False)
    line = thread_keys.format(record)
    assert line == upstream.format(record)
    parsed = json.loads(line)
    assert parsed["request"] == "r-1"
    assert parsed["level"] == "INFO!"
    assert parsed["exception"] == "mine"
    assert "stack_trace" not in parsed
    assert "gone" not in parsed


def _logged_messages() -> set[str]:
    """Every message the function's code logs (the literal first argument of logger.<level>(...))."""
    messages = set()
    for path in (ROOT / "handler").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "logger"
                and node.func.attr in ("debug", "info", "warning", "error", "exception", "critical")
                and node.args
            ):
                first = node.args[0]
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    raise AssertionError(f"not a literal message: {ast.unparse(node)}")
                messages.add(first.value)
    return messages


def _refuse(self: object, record: logging.LogRecord) -> str:
    raise AssertionError(f"Powertools' format was used for {record.msg!r}")


def test_every_message_the_function_logs_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    messages = _logged_messages()
    assert {"audit: failed task found", "failed tasks deleted", "invocation finished"} <= messages
    upstream, ours = _pair({})
    records = {message: _record(message, (), {"n": 1}, failing=False) for message in messages}
    expected = {message: upstream.format(record) for message, record in records.items()}
    monkeypatch.setattr(LambdaPowertoolsFormatter, "format", _refuse)
    for message, record in records.items():
        assert ours.format(record) == expected[message]


@pytest.mark.filterwarnings("ignore:POWERTOOLS_DEV")
def test_pretty_lines_under_powertools_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    upstream, ours = _pair({"cold_start": True})
    record = _record("cleanup requested", (), {"failure_job": {"job_id": "j-1"}}, failing=False)
    line = ours.format(record)
    assert line == upstream.format(record)
    assert "\n    " in line


def test_the_functions_lines_take_the_fast_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The saving itself: if the fast path stopped applying to the lines the function writes
    (an upstream change, or ours), every line would silently cost Powertools' full price."""
    assert type(logger.registered_formatter) is PlainRecordFormatter
    monkeypatch.setattr(LambdaPowertoolsFormatter, "format", _refuse)
    monkeypatch.setattr(logger.registered_handler, "stream", sys.stdout)
    logger.info("audit: failed task found", extra={"failure_job": {"job_id": "j-1"}, "server_group_id": "g"})
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["message"] == "audit: failed task found"
    assert line["failure_job"] == {"job_id": "j-1"}
    assert line["level"] == "INFO"
    assert line["location"].startswith("test_the_functions_lines_take_the_fast_path:")


@pytest.mark.parametrize(
    "trace", [None, "", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"]
)
@pytest.mark.parametrize("appended", [{}, {"xray_trace_id": None}], ids=["trace kept", "trace disabled"])
def test_the_xray_trace(monkeypatch: pytest.MonkeyPatch, trace: str | None, appended: dict[str, Any]) -> None:
    if trace is None:
        monkeypatch.delenv(XRAY_TRACE_ID_ENV, raising=False)
    else:
        monkeypatch.setenv(XRAY_TRACE_ID_ENV, trace)
    upstream, ours = _pair(appended)
    record = _record("cleanup requested", (), {"groups": 1}, failing=False)
    line = ours.format(record)
    assert line == upstream.format(record)
    assert ("1-5759e988-bd862e3fe1be46a994272793" in line) is (bool(trace) and not appended)

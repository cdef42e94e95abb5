"""Each cold-start and warm-path saving, behind a test that fails if it silently stops working.

The savings (measured in BENCHMARKS.md) and what keeps each one honest:

- modules a cold start does not import (handler/__init__.py, handler/cleanup.py,
  handler/sdrs/factory.py): checked in a fresh interpreter, for each entry point and for an
  invocation that needs no request;
- the stand-in for pydantic's plugin loader and the lazy Powertools JMESPath module rest on how
  those packages are written today: their sources are read here, and a change in them fails;
- an entry point's import runs no garbage collection and leaves the collector as it found it,
  with what the import made frozen: checked in a fresh interpreter;
- dataclasses carry docstrings (a dataclass without one computes a signature for its __doc__);
- settings are parsed once per configuration.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from handler import settings as settings_module
from handler.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
ENVELOPES = (
    "handler.envelopes.cloudwatch",
    "handler.envelopes.direct",
    "handler.envelopes.functiongraph",
    "handler.envelopes.sns",
    "handler.envelopes.sqs",
)
# What a cold start must not import, and why it once did.
NOT_AT_COLD_START = (
    "importlib.metadata",  # pydantic's plugin discovery
    "zipfile",  # with it
    "lzma",  # with it
    "jmespath",  # Powertools Logger's correlation_id_path support
    "gzip",  # with it
    "concurrent.futures",  # the thread pool, for more than one group only
    "httpx",  # the HTTP stack, for the first request only
    "cryptography",  # the SMN signature check, on the Function URL path only
    "handler.cleanup",  # the domain, for work only
    "handler.sdrs.config",  # what a client is built from, with the first client
    *ENVELOPES,  # the models of each trigger family, built for their own events only
)


def fresh_interpreter(code: str, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run `code` in a new interpreter at the repository's root; it sets `report` (JSON-able)."""
    probe = f"import json, sys\n{code}\nprint(json.dumps(report))"
    environment = {"PATH": os.environ.get("PATH", ""), "POWERTOOLS_LOG_LEVEL": "ERROR", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


LOADED = f"report = sorted(m for m in {NOT_AT_COLD_START!r} if m in sys.modules)"
LOADED_ENVELOPES = f"sorted(m for m in {ENVELOPES!r} if m in sys.modules)"


@pytest.mark.parametrize("entry_point", ["handler.app", "handler.functiongraph"])
def test_importing_an_entry_point_loads_none_of_the_spared_modules(entry_point: str) -> None:
    assert fresh_interpreter(f"import {entry_point}\n{LOADED}") == []


COLLECTIONS = """
import gc
if not COLLECTOR_ON:
    gc.disable()
runs = []  # collections once the entry point's own code has begun (before it: the package, its bytecode)
begun = lambda: "_COLLECTING" in vars(sys.modules.get("ENTRY_POINT", sys))
gc.callbacks.append(lambda phase, info: runs.append(info["generation"]) if phase == "start" and begun() else None)
import ENTRY_POINT
gc.callbacks.clear()
report = {"collections": len(runs), "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
"""


@pytest.mark.parametrize("entry_point", ["handler.app", "handler.functiongraph"])
def test_an_entry_points_import_collects_no_garbage_and_freezes_what_it_made(entry_point: str) -> None:
    """The import's objects all live as long as the process: collecting them as they came found
    nothing and walked ever more objects (BENCHMARKS.md). After it, the collector runs as before."""
    code = COLLECTIONS.replace("ENTRY_POINT", entry_point).replace("COLLECTOR_ON", "True")
    report = fresh_interpreter(code)

    assert report["collections"] == 0
    assert report["enabled"] is True
    assert isinstance(report["frozen"], int)
    assert report["frozen"] > 10_000  # the modules' objects, no longer walked by any collection


@pytest.mark.parametrize("entry_point", ["handler.app", "handler.functiongraph"])
def test_an_entry_point_imported_with_the_collector_off_leaves_it_off(entry_point: str) -> None:
    report = fresh_interpreter(COLLECTIONS.replace("ENTRY_POINT", entry_point).replace("COLLECTOR_ON", "False"))

    assert report["enabled"] is False


def test_an_invocation_that_needs_no_request_loads_none_of_them() -> None:
    """An OK-state alarm and an invalid event, through the Lambda edge."""
    code = f"""
from handler import app
class Context:
    function_name, function_version, memory_limit_in_mb = "f", "$LATEST", 256
    invoked_function_arn, aws_request_id = "arn:aws:lambda:eu-west-1:123456789012:function:f", "r"
    def get_remaining_time_in_millis(self):
        return 60_000
ok = json.load(open("events/sns-alarm-ok.json"))
results = [app.lambda_handler(ok, Context()), app.lambda_handler({{"server_group_id": "../x"}}, Context())]
assert results[0]["ok"] is True and results[1]["error"]["type"] == "invalid_event", results
{LOADED}
"""
    # The alarm is read with the SNS models, the invalid request with the direct request's; nothing else.
    loaded = fresh_interpreter(code, {"HUAWEICLOUD_SDK_PROJECT_ID": "0123456789abcdef0123456789abcdef"})
    assert loaded == ["handler.envelopes.direct", "handler.envelopes.sns"]


# Which envelope modules each event needs.
ENVELOPES_NEEDED = {
    ("handler.app", "events/sns-alarm.json"): ["handler.envelopes.sns"],
    ("handler.app", "events/sns-direct.json"): ["handler.envelopes.direct", "handler.envelopes.sns"],
    ("handler.app", "events/direct.json"): ["handler.envelopes.direct"],
    ("handler.app", "events/cloudwatch-alarm-action.json"): ["handler.envelopes.cloudwatch"],
    ("handler.app", "events/eventbridge-alarm-state-change.json"): ["handler.envelopes.cloudwatch"],
    ("handler.app", "events/eventbridge-scheduled.json"): ["handler.envelopes.cloudwatch"],
    ("handler.app", "events/sqs-sns-envelope.json"): [
        "handler.envelopes.direct",
        "handler.envelopes.sns",
        "handler.envelopes.sqs",
    ],
    ("handler.app", "events/sqs-raw-alarm.json"): ["handler.envelopes.sns", "handler.envelopes.sqs"],
    ("handler.functiongraph", "events/functiongraph/timer-request.json"): [
        "handler.envelopes.direct",
        "handler.envelopes.functiongraph",
    ],
    ("handler.functiongraph", "events/functiongraph/smn-cloudeye-alarm.json"): ["handler.envelopes.functiongraph"],
    ("handler.functiongraph", "events/functiongraph/direct.json"): ["handler.envelopes.direct"],
}


@pytest.mark.parametrize(("edge", "sample"), ENVELOPES_NEEDED)
def test_an_event_imports_only_the_envelope_models_it_needs(edge: str, sample: str) -> None:
    """Parsed as the edge parses it (no request is made): the event validates, and only its
    family's models were imported."""
    parse = "parse_event" if edge == "handler.app" else "parse_functiongraph_event"
    code = f"""
import {edge}
from handler import triggers
event = json.load(open({sample!r}))
defaults = triggers.Defaults("0123456789abcdef0123456789abcdef", ("decf224d-87fe-403a-8721-037a1a45c287",))
if triggers.is_sqs_event(event):
    triggers.check_sqs_event(event)
    parsed = [triggers.parse_sqs_body(record["body"], defaults) for record in event["Records"]]
else:
    parsed = [triggers.{parse}(event, defaults)]
report = {{"targets": sum(len(p.request.targets) for p in parsed), "loaded": {LOADED_ENVELOPES}}}
"""
    report = fresh_interpreter(code)
    assert report["loaded"] == ENVELOPES_NEEDED[edge, sample]
    assert isinstance(report["targets"], int)
    assert report["targets"] >= 1


def test_the_spared_modules_are_still_there_when_needed() -> None:
    """The stand-ins load the real modules on use: a two-group run uses the pool and httpx, the
    JMESPath utilities answer a query, pydantic still validates."""
    code = """
import handler.app
from aws_lambda_powertools.utilities import jmespath_utils
from handler.envelopes.direct import DirectRequest
query = jmespath_utils.query(envelope="a.b", data={"a": {"b": 7}})
try:
    DirectRequest.model_validate({"server_group_id": "../x"})
    refused = False
except Exception:
    refused = True
from handler.cleanup import _pool, CleanupPolicy
from handler.models import CleanupRequest, GroupTarget
P = "0123456789abcdef0123456789abcdef"
A, B = "decf224d-87fe-403a-8721-037a1a45c287", "5f8a7e3c-2b1d-4c6e-9a0f-1e2d3c4b5a69"
pool = _pool(CleanupRequest((GroupTarget(P, A), GroupTarget(P, B))), CleanupPolicy(2, 100, None))
report = {"query": query, "refused": refused, "pool": type(pool).__name__, "jmespath": "jmespath" in sys.modules}
"""
    assert fresh_interpreter(code) == {"query": 7, "refused": True, "pool": "ThreadPoolExecutor", "jmespath": True}


def _source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None
    assert spec.origin is not None
    return Path(spec.origin).read_text()


_PYDANTIC_SPEC = importlib.util.find_spec("pydantic")
assert _PYDANTIC_SPEC is not None
assert _PYDANTIC_SPEC.origin is not None
PYDANTIC = Path(_PYDANTIC_SPEC.origin).parent


def test_pydantic_still_finds_plugins_only_through_the_loader_we_stand_in_for() -> None:
    """handler/__init__.py puts a stand-in for pydantic.plugin._loader whose get_plugins() finds
    none. That is right only while pydantic asks that module, by that name, for its plugins, and
    while the real one would find none here either (no `pydantic` entry point is installed)."""
    loader = ast.parse((PYDANTIC / "plugin" / "_loader.py").read_text())
    functions = {node.name for node in loader.body if isinstance(node, ast.FunctionDef)}
    assert "get_plugins" in functions
    users = sorted(
        str(path.relative_to(PYDANTIC))
        for path in PYDANTIC.rglob("*.py")
        if "get_plugins" in path.read_text() and path.name != "_loader.py"
    )
    assert users == ["plugin/_schema_validator.py"]
    assert "from ._loader import get_plugins" in (PYDANTIC / "plugin" / "_schema_validator.py").read_text()
    from importlib.metadata import entry_points

    assert not list(entry_points(group="pydantic"))


def test_powertools_logger_still_imports_jmespath_utils_as_we_expect() -> None:
    """The stand-in only helps while the Logger imports the module this way and uses it only for
    correlation_id_path; a Powertools release that changes that fails here."""
    source = _source("aws_lambda_powertools.logging.logger")
    assert "from aws_lambda_powertools.utilities import jmespath_utils" in source
    assert source.count("jmespath_utils.") == 1


def test_correlation_id_path_still_works_with_the_stand_in() -> None:
    code = """
import handler.app
from aws_lambda_powertools import Logger
log = Logger(service="probe")
@log.inject_lambda_context(correlation_id_path="headers.id")
def handle(event, context):
    return log.get_correlation_id()
class Context:
    function_name, function_version, memory_limit_in_mb = "f", "$LATEST", 256
    invoked_function_arn, aws_request_id = "arn:aws:lambda:eu-west-1:123456789012:function:f", "r"
report = handle({"headers": {"id": "abc-123"}}, Context())
"""
    assert fresh_interpreter(code) == "abc-123"


def test_every_dataclass_has_a_docstring() -> None:
    missing = []
    for path in sorted((ROOT / "handler").rglob("*.py")):
        if "local" in path.relative_to(ROOT).parts:  # not shipped
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            dataclass = any(
                "dataclass" in ast.unparse(decorator) or ast.unparse(decorator) == "value_object"
                for decorator in node.decorator_list
            )
            if dataclass and ast.get_docstring(node) is None:
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert missing == []


def test_a_dataclass_docstring_is_its_own() -> None:
    """Without one, dataclasses sets __doc__ from inspect.signature (the cost this spares)."""
    from handler.models import GroupTarget

    assert dataclasses.is_dataclass(GroupTarget)
    assert GroupTarget.__doc__ is not None
    assert not GroupTarget.__doc__.startswith("GroupTarget(")


def test_settings_are_parsed_once_per_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"SDRS_ENDPOINT": "https://sdrs.cn-north-4.myhuaweicloud.com", "SDRS_MAX_CONCURRENCY": "8"}
    first = load_settings(env)
    assert load_settings(dict(env)) is first
    changed = load_settings({**env, "SDRS_MAX_CONCURRENCY": "9"})
    assert changed is not first
    assert changed.max_concurrency == 9
    assert load_settings({**env, "https_proxy": "http://proxy.example:3128"}).proxy is not None


def test_the_process_environment_is_compared_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDRS_MAX_CONCURRENCY", "5")
    monkeypatch.setenv("SDRS_ENDPOINT", "https://sdrs.cn-north-4.myhuaweicloud.com")
    for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    first = load_settings(os.environ)
    assert load_settings(os.environ) is first
    monkeypatch.setenv("Https_Proxy", "http://proxy.example:3128")  # mixed case: compared too
    second = load_settings(os.environ)
    assert second is not first
    assert second.proxy is not None
    assert isinstance(settings_module._key(os.environ), dict)  # CPython's raw copy, not 60 lookups


def test_request_urls_are_parsed_once() -> None:
    """A warm container's second run of the same request parses no URL: the client's cache hits."""
    from handler.core import Invocation, Runtime, handle
    from handler.local.emulator import DEMO_GROUP_WITH_FAILURES, SdrsEmulator, demo_state
    from handler.sdrs import client
    from handler.sdrs.factory import ClientFactory

    factory = ClientFactory(sleep=lambda seconds: None)
    with SdrsEmulator(demo_state()) as emulator:
        invocation = Invocation(
            {"server_group_id": DEMO_GROUP_WITH_FAILURES}, 30, emulator.environment(), Runtime(factory)
        )
        handle(invocation)
        before = client._url.cache_info()
        second = handle(invocation)
        after = client._url.cache_info()
    factory.close()
    assert second.body["groups"][0]["outcome"] == "nothing_to_delete"  # the same list URL, asked again
    assert after.hits > before.hits
    assert after.misses == before.misses

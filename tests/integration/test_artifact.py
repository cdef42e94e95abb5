"""The built Lambda artifact, run the way Lambda runs it: with nothing but the artifact on sys.path.

The artifact is built for this host by the same Makefile target `sam build` calls (for
arm64 there), then imported by a Python 3.13 started with -I -S: no site-packages, no
PYTHONPATH, no current directory. What the repository's .venv provides cannot leak in.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from handler.local.emulator import (
    DEMO_GROUP_CLEAN,
    DEMO_GROUP_MANY_FAILURES,
    DEMO_GROUP_UNTOUCHED,
    DEMO_GROUP_WITH_FAILURES,
    DEMO_PROJECT_ID,
    Fault,
    SdrsEmulator,
)
from tests.isolated import ROOT, assert_from, host_platform, manylinux_host

EVENTS = ROOT / "events"

pytestmark = [
    pytest.mark.slow,
    manylinux_host,
    # The artifact is Lambda's Python 3.13 code (3.13 wheels and bytecode), run by this interpreter.
    pytest.mark.skipif(
        sys.version_info < (3, 13), reason="the Lambda artifact is built for and run by Python 3.13, not this Python"
    ),
]

# Runs in the isolated interpreter: argv = artifact dir, events (JSON), report file.
PROBE = """
import importlib.util, json, sys
artifact, events, report = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
sys.path.insert(0, artifact)
from handler import app

class Context:
    function_name = "sdrs-cleanup"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:sdrs-cleanup"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self):
        return 60_000

results = [app.lambda_handler(event, Context()) for event in events]
# Where these came from, when they were imported at all (httpx only when a request is made).
watched = ("handler.app", "handler.core", "pydantic_core", "httpx", "aws_lambda_powertools.utilities.batch")
with open(report, "w") as out:
    json.dump({
        "results": results,
        "sys_path": sys.path,
        "files": {name: sys.modules[name].__file__ for name in watched if name in sys.modules},
        "absent": [name for name in ("handler.local", "boto3", "botocore") if importlib.util.find_spec(name) is None],
        "aws_sdk_loaded": sorted(name for name in sys.modules if name.partition(".")[0] in ("boto3", "botocore")),
    }, out)
"""
BATCH_UTILITY = "aws_lambda_powertools.utilities.batch"
NOTHING_DONE = {
    "groups_found": 0,
    "deleted": 0,
    "nothing_to_delete": 0,
    "would_delete": 0,
    "failed": 0,
    "deferred": 0,
    "held": 0,
    "failed_tasks_deleted": 0,
}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("artifact")
    build = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "build-SdrsCleanupFunction",
            f"ARTIFACTS_DIR={target}",
            f"LAMBDA_PLATFORM={host_platform()}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, f"the build failed:\n{build.stdout}\n{build.stderr}"
    return target


def invoke(artifact: Path, tmp_path: Path, events: list[Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    report = tmp_path / "report.json"
    environment = {"POWERTOOLS_SERVICE_NAME": "sdrs-cleanup", "POWERTOOLS_METRICS_NAMESPACE": "SdrsCleanup"}
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", PROBE, str(artifact), json.dumps(events), str(report)],
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, f"the artifact failed:\n{run.stdout}\n{run.stderr}"
    probe: dict[str, Any] = json.loads(report.read_text())
    assert not [entry for entry in probe["sys_path"] if "site-packages" in entry]
    assert {"handler.app", "handler.core", "pydantic_core"} <= set(probe["files"])
    assert_from(probe["files"], artifact)
    return probe


def event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def sqs_event(*bodies: str) -> dict[str, Any]:
    """What an SQS event source mapping sends: one record per message (ids msg-0, msg-1, ...)."""
    records = [
        {
            "messageId": f"msg-{n}",
            "receiptHandle": f"receipt-{n}",
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1795435200000",
                "SenderId": "AIDAEXAMPLE",
                "ApproximateFirstReceiveTimestamp": "1795435200001",
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:sdrs-cleanup-SweepQueue",
            "awsRegion": "eu-west-1",
        }
        for n, body in enumerate(bodies)
    ]
    return {"Records": records}


def modules(package: Path) -> set[Path]:
    return {path.relative_to(package) for path in package.rglob("*.py")}


def test_artifact_holds_the_handler_without_local_tooling(artifact: Path) -> None:
    shipped = {module for module in modules(ROOT / "handler") if module.parts[0] != "local"}
    assert modules(artifact / "handler") == shipped
    assert not (artifact / "handler" / "local").exists()
    assert not list(artifact.glob("boto*"))


def test_artifact_ships_the_ca_certificates_as_a_hashed_directory(artifact: Path) -> None:
    """The form that loads fastest (tests/integration/test_tls_trust.py proves it still refuses an
    unknown server): every certificate of the artifact's certifi bundle, named by subject hash."""
    bundle = (artifact / "certifi" / "cacert.pem").read_text()
    hashed = sorted((artifact / "handler" / "sdrs" / "ca").iterdir())
    assert len(hashed) == bundle.count("-----BEGIN CERTIFICATE-----")
    assert all(re.fullmatch(r"[0-9a-f]{8}\.[0-9]", path.name) for path in hashed)
    assert all(path.read_text() in bundle for path in hashed)


def test_handler_modules_are_precompiled_with_unchecked_hashes(artifact: Path) -> None:
    for source in sorted((artifact / "handler").rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert cached.is_file(), f"no bytecode for {source.relative_to(artifact)}"
        # PEP 552 flags: bit 0 hash-based, bit 1 check_source. Unchecked: valid whatever the mtimes.
        flags = int.from_bytes(cached.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{cached.name}: flags {flags:#b}"


def test_artifact_answers_events_that_need_no_api(artifact: Path, tmp_path: Path) -> None:
    events = [
        event("sns-alarm-ok.json"),
        event("invalid/unknown-field.json"),
        event("invalid/list-instead-of-object.json"),
    ]

    probe = invoke(artifact, tmp_path, events)

    alarm_ok, unknown_field, not_an_object = probe["results"]
    assert alarm_ok == {
        "ok": True,
        "trigger": "sns_alarm",
        "dry_run": False,
        "groups": [],
        "error": None,
        "summary": NOTHING_DONE,
    }
    for result in (unknown_field, not_an_object):
        assert result["ok"] is False
        assert result["groups"] == []
        assert result["summary"] == NOTHING_DONE
        assert result["error"]["type"] == "invalid_event"
        assert result["error"]["retryable"] is False
    assert "force" in unknown_field["error"]["message"]
    assert probe["absent"] == ["handler.local", "boto3", "botocore"]
    assert probe["aws_sdk_loaded"] == []
    assert BATCH_UTILITY not in probe["files"]  # the core answers batches itself
    assert "httpx" not in probe["files"]  # no request to make: the HTTP stack is never imported


def test_artifact_answers_an_sqs_batch(artifact: Path, tmp_path: Path) -> None:
    batch = sqs_event(json.dumps({"all_server_groups": True, "force": True}))

    probe = invoke(artifact, tmp_path, [batch])

    [response] = probe["results"]
    # Never valid: reported and logged, not handed back to SQS for redelivery.
    assert response["batchItemFailures"] == []
    assert (response["ok"], response["trigger"]) == (False, "sqs")
    [record] = response["records"]
    assert record["message_id"] == "msg-0"
    assert record["error"]["type"] == "invalid_event"
    assert record["error"]["retryable"] is False
    assert "body.force: unknown field" in record["error"]["message"]
    assert record["summary"] == NOTHING_DONE
    assert BATCH_UTILITY not in probe["files"]  # the core answers batches itself
    assert probe["absent"] == ["handler.local", "boto3", "botocore"]
    assert probe["aws_sdk_loaded"] == []


def test_artifact_deletes_failed_tasks_through_the_emulator(artifact: Path, tmp_path: Path) -> None:
    with SdrsEmulator() as emulator:
        assert emulator.state.failure_jobs(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES)

        probe = invoke(artifact, tmp_path, [event("direct.json")], env=emulator.environment())

        (result,) = probe["results"]
        assert result["ok"] is True
        assert result["trigger"] == "direct"
        assert result["error"] is None
        [group] = result["groups"]
        assert group["server_group_id"] == DEMO_GROUP_WITH_FAILURES
        assert group["outcome"] == "deleted"
        assert group["error"] is None
        assert len(group["failure_jobs"]) == 3
        assert result["summary"] == {**NOTHING_DONE, "groups_found": 1, "deleted": 1, "failed_tasks_deleted": 3}
        assert emulator.state.failure_jobs(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES) == []
        assert [call.route for call in emulator.state.calls()] == ["list_failure_jobs", "delete_group_failure_jobs"]
    assert "httpx" in probe["files"]
    assert probe["aws_sdk_loaded"] == []


def test_artifact_sweeps_from_sqs_and_hands_back_only_the_transient_failure(artifact: Path, tmp_path: Path) -> None:
    transient = json.dumps({"server_group_id": DEMO_GROUP_UNTOUCHED})
    sweep = json.dumps({"all_server_groups": True, "project_id": DEMO_PROJECT_ID})
    with SdrsEmulator() as emulator:
        # Both tries (SDRS_MAX_ATTEMPTS=2) of the first message's listing meet a 503.
        emulator.state.inject("list_failure_jobs", *[Fault(503, b"<html>busy</html>")] * 2)

        probe = invoke(
            artifact, tmp_path, [sqs_event(transient, sweep)], env={**emulator.environment(), "SDRS_MAX_ATTEMPTS": "2"}
        )

        [response] = probe["results"]
        assert response["batchItemFailures"] == [{"itemIdentifier": "msg-0"}]
        assert response["ok"] is False
        failed, swept = response["records"]
        assert failed["message_id"] == "msg-0"
        [group] = failed["groups"]
        assert (group["outcome"], group["error"]["retryable"]) == ("failed", True)
        assert swept["message_id"] == "msg-1"
        assert swept["ok"] is True
        assert swept["summary"] == {
            **NOTHING_DONE,
            "groups_found": 4,
            "deleted": 3,
            "nothing_to_delete": 1,
            "failed_tasks_deleted": 3 + 1205 + 2,
        }
        assert {g["server_group_id"] for g in swept["groups"]} == {
            DEMO_GROUP_WITH_FAILURES,
            DEMO_GROUP_CLEAN,
            DEMO_GROUP_MANY_FAILURES,
            DEMO_GROUP_UNTOUCHED,
        }
        assert [count for _, _, count in emulator.failed_task_counts()] == [0, 0, 0, 0]
    assert "httpx" in probe["files"]
    assert probe["aws_sdk_loaded"] == []

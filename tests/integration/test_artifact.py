"""The built Lambda artifact, run the way Lambda runs it: with nothing but the artifact on sys.path.

The artifact is built for this host by the same Makefile target `sam build` calls (for
arm64 there), then imported by a Python 3.13 started with -I -S: no site-packages, no
PYTHONPATH, no current directory. What the repository's .venv provides cannot leak in.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from handler.local.emulator import DEMO_GROUP_WITH_FAILURES, DEMO_PROJECT_ID, SdrsEmulator

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sys.platform != "linux" or platform.machine().lower() not in MACHINES,
        reason="the artifact holds manylinux wheels: it runs on Linux x86_64 or aarch64 only",
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
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:sdrs-cleanup"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self):
        return 60_000

results = [app.lambda_handler(event, Context()) for event in events]
with open(report, "w") as out:
    json.dump({
        "results": results,
        "sys_path": sys.path,
        "files": {name: sys.modules[name].__file__ for name in ("handler.app", "pydantic_core", "httpx")},
        "absent": [name for name in ("handler.local", "boto3", "botocore") if importlib.util.find_spec(name) is None],
        "aws_sdk_loaded": sorted(name for name in sys.modules if name.partition(".")[0] in ("boto3", "botocore")),
    }, out)
"""


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("artifact")
    platform_tag = f"{MACHINES[platform.machine().lower()]}-manylinux2014"
    build = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "build-SdrsCleanupFunction",
            f"ARTIFACTS_DIR={target}",
            f"LAMBDA_PLATFORM={platform_tag}",
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
    for name, file in probe["files"].items():
        assert Path(file).is_relative_to(artifact), f"{name} came from {file}, not from the artifact"
    return probe


def event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def modules(package: Path) -> set[Path]:
    return {path.relative_to(package) for path in package.rglob("*.py")}


def test_artifact_holds_the_handler_without_local_tooling(artifact: Path) -> None:
    shipped = {module for module in modules(ROOT / "handler") if module.parts[0] != "local"}
    assert modules(artifact / "handler") == shipped
    assert not (artifact / "handler" / "local").exists()
    assert not list(artifact.glob("boto*"))


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
    assert alarm_ok == {"ok": True, "trigger": "sns_alarm", "dry_run": False, "groups": [], "error": None}
    for result in (unknown_field, not_an_object):
        assert result["ok"] is False
        assert result["groups"] == []
        assert result["error"]["type"] == "invalid_event"
    assert "force" in unknown_field["error"]["message"]
    assert probe["absent"] == ["handler.local", "boto3", "botocore"]
    assert probe["aws_sdk_loaded"] == []


def test_artifact_deletes_failed_tasks_through_the_emulator(artifact: Path, tmp_path: Path) -> None:
    with SdrsEmulator() as emulator:
        assert emulator.state.failure_jobs(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES)

        probe = invoke(artifact, tmp_path, [event("direct.json")], env=emulator.environment())

        (result,) = probe["results"]
        assert result["ok"] is True
        assert result["trigger"] == "direct"
        [group] = result["groups"]
        assert group["server_group_id"] == DEMO_GROUP_WITH_FAILURES
        assert group["outcome"] == "deleted"
        assert len(group["failure_jobs"]) == 3
        assert emulator.state.failure_jobs(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES) == []
        assert [call.route for call in emulator.state.calls()] == ["list_failure_jobs", "delete_group_failure_jobs"]
    assert probe["aws_sdk_loaded"] == []

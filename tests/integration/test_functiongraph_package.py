"""The FunctionGraph package, run from the zip alone by Python 3.12, the way FunctionGraph runs it.

`make functiongraph-package` builds the zip (for this host's platform: x86_64 is FunctionGraph's)
into a temporary directory; the test extracts the ZIP, not the build directory (the zip must
suffice), and imports `handler.functiongraph` in pyenv's Python 3.12 (the interpreter the Makefile
compiles the bytecode with) started with -I -S -B, with only the extracted directory on sys.path.
The context is written in the probe, with the method names of FunctionGraph's Python runtime. Its
agency credentials are the loopback emulator's, whose state holds the security token they were
issued with: a request without that X-Security-Token is refused with 401. The environment holds
no AK/SK and no project: the project comes from getProjectID().
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from handler.local.emulator import (
    DEMO_GROUP_UNTOUCHED,
    DEMO_GROUP_WITH_FAILURES,
    DEMO_PROJECT_ID,
    EmulatorState,
    SdrsEmulator,
    demo_state,
    issue_agency_credentials,
)
from handler.local.functiongraph_context import AgencyCredentials
from tests.isolated import ROOT, assert_from, host_platform, manylinux_host, pyenv_python

PYTHON_312 = pyenv_python("3.12")

pytestmark = [
    pytest.mark.slow,
    manylinux_host,
    pytest.mark.skipif(
        PYTHON_312 is None,
        reason="no Python 3.12 under pyenv ($PYENV_ROOT/versions/3.12.*/bin/python3.12, as the Makefile looks)",
    ),
]

TIMER_EVENT = {
    "version": "v1.0",
    "time": "2018-06-01T08:30:00+08:00",
    "trigger_type": "TIMER",
    "trigger_name": "Timer_001",
    "user_event": "",
}
PRUNED = ("anyio", "aws_lambda_powertools/event_handler", "aws_lambda_powertools/utilities/batch")

# Runs in the isolated 3.12: argv = package dir, events (JSON), context (JSON), report file.
PROBE = """
import importlib.util, json, sys, time
package, events, given, report = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
sys.path.insert(0, package)
from handler import functiongraph

class RuntimeLogger:
    def _log(self, level, message, *args):
        print(f"[{level}] {message % args if args else message}", file=sys.stderr)
    def info(self, message, *args): self._log("INFO", message, *args)
    def debug(self, message, *args): self._log("DEBUG", message, *args)
    def warning(self, message, *args): self._log("WARNING", message, *args)
    def error(self, message, *args): self._log("ERROR", message, *args)

class Context:
    # FunctionGraph's Python runtime context (the method names it documents).
    def __init__(self, n):
        self._started, self._n = time.monotonic(), n
    def getRequestID(self): return f"7c307f6a-cf68-4e65-8be0-4c77405a1b2{self._n}"
    def getRemainingTimeInMilliSeconds(self): return int(60_000 - (time.monotonic() - self._started) * 1000)
    def getSecurityAccessKey(self): return given["ak"]
    def getSecuritySecretKey(self): return given["sk"]
    def getSecurityToken(self): return given["token"]
    def getProjectID(self): return given["project"]
    def getUserData(self, key, default=None): return given["user_data"].get(key, default)
    def getFunctionName(self): return "sdrs-cleanup"
    def getVersion(self): return "latest"
    def getMemorySize(self): return "256"
    def getCPUNumber(self): return "300"
    def getPackage(self): return "default"
    def getLogger(self): return RuntimeLogger()

watched = ("handler.functiongraph", "handler.core", "pydantic_core", "httpx")
results = []
for n, event in enumerate(events):
    try:
        results.append({"returned": functiongraph.handler(event, Context(n))})
    except Exception as error:
        results.append({"raised": f"{type(error).__name__}: {error}"})
with open(report, "w") as out:
    json.dump({
        "results": results,
        "version": list(sys.version_info[:2]),
        "magic": importlib.util.MAGIC_NUMBER.hex(),
        "sys_path": sys.path,
        "files": {name: sys.modules[name].__file__ for name in watched if name in sys.modules},
        "core_cached": sys.modules["handler.core"].__cached__,
        "absent": [name for name in ("handler.local", "boto3") if importlib.util.find_spec(name) is None],
        "lambda_edge_loaded": "handler.app" in sys.modules,
    }, out)
"""


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """build/functiongraph.zip as `make functiongraph-package` builds it, into a directory of its own."""
    assert PYTHON_312 is not None
    build = tmp_path_factory.mktemp("build") / "functiongraph"
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "functiongraph-package",
            f"FUNCTIONGRAPH_DIR={build}",
            f"FUNCTIONGRAPH_PLATFORM={host_platform()}",
            f"PYTHON_312={PYTHON_312}",  # the interpreter that runs the probe compiles the bytecode
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"the build failed:\n{done.stdout}\n{done.stderr}"
    zipped = build.with_suffix(".zip")
    assert zipped.is_file()
    shutil.rmtree(build)  # from here on, only the zip
    return zipped


@pytest.fixture(scope="module")
def package(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip, extracted: nothing else of the build is left to lean on."""
    extracted = tmp_path_factory.mktemp("extracted")
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(extracted)
    return extracted


def invoke(
    package: Path, tmp_path: Path, events: list[Any], given: dict[str, Any], env: dict[str, str]
) -> dict[str, Any]:
    assert PYTHON_312 is not None
    environment = {"POWERTOOLS_SERVICE_NAME": "sdrs-cleanup", **env}
    assert not {"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_PROJECT_ID"} & set(environment)
    report = tmp_path / "report.json"
    arguments = [str(package), json.dumps(events), json.dumps(given), str(report)]
    run = subprocess.run(
        [str(PYTHON_312), "-I", "-S", "-B", "-c", PROBE, *arguments],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, f"the package failed:\n{run.stdout}\n{run.stderr}"
    probe: dict[str, Any] = json.loads(report.read_text())
    probe["stdout"] = run.stdout
    assert probe["version"] == [3, 12]
    assert sorted(entry for entry in probe["sys_path"] if entry.startswith(str(package))) == [str(package)]
    assert not [entry for entry in probe["sys_path"] if "site-packages" in entry]
    assert {"handler.functiongraph", "handler.core", "pydantic_core"} <= set(probe["files"])
    assert_from(probe["files"], package)
    # The bytecode shipped is the bytecode used (-B writes none; an unusable pyc would be ignored silently).
    assert Path(probe["core_cached"]).is_file()
    assert probe["absent"] == ["handler.local", "boto3"]
    assert probe["lambda_edge_loaded"] is False
    return probe


def agency_context(state: EmulatorState, **user_data: str) -> tuple[AgencyCredentials, dict[str, Any]]:
    """Agency credentials issued by the emulator (which from now on requires their token), and
    what the probe's context lends: them, the demo project and `user_data`."""
    issued = issue_agency_credentials(state)
    assert state.security_token == issued.security_token
    given = {
        "ak": issued.access_key,
        "sk": issued.secret_key,
        "token": issued.security_token,
        "project": DEMO_PROJECT_ID,
        "user_data": user_data,
    }
    return issued, given


def returned(result: dict[str, Any]) -> dict[str, Any]:
    assert "raised" not in result, result["raised"]
    body: dict[str, Any] = result["returned"]
    return body


def sent_tokens(state: EmulatorState) -> list[str | None]:
    return [
        next((value for name, value in call.headers.items() if name.lower() == "x-security-token"), None)
        for call in state.calls()
    ]


def test_a_direct_request_deletes_with_the_agency_credentials(package: Path, tmp_path: Path) -> None:
    state = demo_state()
    with SdrsEmulator(state) as emulator:
        issued, given = agency_context(state)
        assert state.failure_jobs(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES)

        probe = invoke(
            package,
            tmp_path,
            [{"server_group_ids": [DEMO_GROUP_WITH_FAILURES]}],
            given,
            {"SDRS_ENDPOINT": emulator.endpoint},
        )
        state.settle()

        [result] = probe["results"]
        body = returned(result)
        assert body["ok"] is True, body
        assert body["error"] is None
        [group] = body["groups"]
        assert (group["server_group_id"], group["outcome"], group["error"]) == (
            DEMO_GROUP_WITH_FAILURES,
            "deleted",
            None,
        )
        assert body["summary"]["failed_tasks_deleted"] == 3
        assert state.failure_jobs(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES) == []
        assert [call.route for call in state.calls()] == ["list_failure_jobs", "delete_group_failure_jobs"]
        assert all(call.path.startswith(f"/v1/{DEMO_PROJECT_ID}/") for call in state.calls())  # getProjectID()
        assert all(call.status in (200, 204) for call in state.calls())
        assert sent_tokens(state) == [issued.security_token] * 2
    assert "httpx" in probe["files"]


def test_a_timer_event_cleans_the_configured_groups(package: Path, tmp_path: Path) -> None:
    state = demo_state()
    with SdrsEmulator(state) as emulator:
        issued, given = agency_context(state)
        env = {"SDRS_ENDPOINT": emulator.endpoint, "SDRS_SERVER_GROUP_IDS": DEMO_GROUP_UNTOUCHED}

        probe = invoke(package, tmp_path, [TIMER_EVENT], given, env)
        state.settle()

        [result] = probe["results"]
        body = returned(result)
        assert body["ok"] is True, body
        assert body["trigger"] == "functiongraph_timer"
        assert [(g["server_group_id"], g["outcome"]) for g in body["groups"]] == [(DEMO_GROUP_UNTOUCHED, "deleted")]
        assert state.failure_jobs(DEMO_PROJECT_ID, DEMO_GROUP_UNTOUCHED) == []
        assert state.failure_jobs(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES)  # not configured: untouched
        assert sent_tokens(state) == [issued.security_token] * len(state.calls())
        assert {call.status for call in state.calls()} <= {200, 204}


def test_the_settings_come_from_user_data_and_the_token_is_required(package: Path, tmp_path: Path) -> None:
    """SDRS_SERVER_GROUP_IDS from getUserData (the environment lacks it); then the same timer with a
    context that lends the agency's AK/SK but no token: the emulator refuses it with 401."""
    state = demo_state()
    with SdrsEmulator(state) as emulator:
        _, given = agency_context(state, SDRS_SERVER_GROUP_IDS=DEMO_GROUP_UNTOUCHED)

        probe = invoke(package, tmp_path, [TIMER_EVENT], given, {"SDRS_ENDPOINT": emulator.endpoint})
        tokenless = invoke(
            package, tmp_path, [TIMER_EVENT], {**given, "token": ""}, {"SDRS_ENDPOINT": emulator.endpoint}
        )
        state.settle()

        [result] = probe["results"]
        assert [(g["server_group_id"], g["outcome"]) for g in returned(result)["groups"]] == [
            (DEMO_GROUP_UNTOUCHED, "deleted")
        ]
        [refused] = tokenless["results"]
        body = returned(refused)
        assert body["ok"] is False
        [group] = body["groups"]
        assert (group["outcome"], group["status_code"]) == ("failed", 401)
        assert (group["error"]["code"], group["error"]["retryable"]) == ("APIGW.0301", False)
        assert "security token" in group["error"]["message"]
        refused_calls = [call for call in state.calls() if call.status == 401]
        assert [call.route for call in refused_calls] == ["list_failure_jobs"]
        assert sent_tokens(state)[-1] is None


def test_the_zip_holds_the_handler_without_local_tooling_and_3_12_bytecode(archive: Path) -> None:
    assert PYTHON_312 is not None
    magic = subprocess.run(
        [str(PYTHON_312), "-I", "-S", "-c", "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with zipfile.ZipFile(archive) as zipped:
        names = [info.filename for info in zipped.infolist() if not info.is_dir()]
        compiled = {
            name: zipped.read(name)[:8] for name in names if name.startswith("handler/") and name.endswith(".pyc")
        }

    # At the zip's root: FunctionGraph resolves handler.functiongraph.handler from there.
    assert "handler/functiongraph.py" in names
    assert "handler/__init__.py" in names
    sources = {name for name in names if name.startswith("handler/") and name.endswith(".py")}
    shipped = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "handler").rglob("*.py")
        if path.relative_to(ROOT / "handler").parts[0] != "local"
    }
    assert sources == shipped
    assert not [name for name in names if name.startswith("handler/local/")]
    # Every handler module has its bytecode, and every pyc is 3.12's, hash-based and unchecked.
    assert {name.replace("__pycache__/", "").replace(".cpython-312.pyc", ".py") for name in compiled} == sources
    for name, header in compiled.items():
        assert name.endswith(".cpython-312.pyc"), name
        assert header[:4].hex() == magic, f"{name}: magic {header[:4].hex()}, 3.12's is {magic}"
        assert int.from_bytes(header[4:8], "little") == 0b01, f"{name}: not an unchecked hash-based pyc"
    for pruned in PRUNED:
        assert not [name for name in names if name.startswith(f"{pruned}/")], f"{pruned} should be pruned"
    assert any(name.startswith("aws_lambda_powertools/logging/") for name in names)
    assert any(name.startswith("aws_lambda_powertools/metrics/") for name in names)
    assert not [name for name in names if name.startswith(("boto3/", "botocore/", "bin/"))]
    if shutil.which("openssl"):  # the build writes the hashed CA directory only with openssl
        hashed = [name for name in names if name.startswith("handler/sdrs/ca/")]
        assert len(hashed) > 100
        assert all(name.removeprefix("handler/sdrs/ca/")[:8].isalnum() for name in hashed)

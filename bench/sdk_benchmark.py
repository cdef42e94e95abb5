"""The function against its twin on the official SDK: `make bench-sdk` (two minutes or so).

`bench/twin_handler.py` is the function with its SDRS client swapped for an adapter on
`huaweicloudsdksdrs`: the same edge (`handler.app.lambda_handler`, given the twin's `Runtime`),
core, settings, logger, metrics and result; only the SDRS calls go through the SDK. Both are built into Lambda
artifacts the way `make artifact` builds ours, and measured alternately against the same
loopback SDRS emulator (a process of its own, answering at once):

  cold start   a fresh `python -X frozen_modules=on -I -S -B` with only the artifact on
               sys.path imports the handler and serves one invocation (events/direct.json:
               one group, list its 3 failed tasks, delete them); timed from the spawn to
               the result, plus the import alone and `python -c pass`; over plain http, and
               over https with a throw-away certificate (made with `openssl`) whose CA is
               added to each artifact's own trust store (certifi's bundle, and any OpenSSL
               hashed directory it ships), so that each client loads what it loads in
               production, plus one CA, with no CA variable in the environment;
  warm         one process per side serves many invocations of the same event, the group's
               failed tasks put back (untimed) before each: median and p99, wall and CPU;
  peak RSS     the warm process's VmHWM once it is done;
  artifact     bytes unzipped and zipped (ZIP_DEFLATED), for arm64 as deployed;
  sweep        `bench/sweep_benchmark.py`'s sweep of 500 groups (50 ms latency, concurrency
               32) through its `measure`, for both;
  importtime   `-X importtime` of each handler module, self time summed per package.

With `--baseline REF` (a git ref: `make bench-sdk BENCH_SDK_ARGS="--baseline 90c741c"`), REF is
checked out in a temporary `git worktree add --detach` (removed once built, even on failure),
built by its own Makefile (`make -C <worktree> build-SdrsCleanupFunction`, as ours is built from
this tree) and measured as a third side, "baseline", in the same rounds: the cold starts above,
and for ours and the baseline only, cold starts of an SNS alarm (events/sns-alarm.json, over
https), of an OK-state alarm (events/sns-alarm-ok.json) and of an invalid event
(events/invalid/unknown-field.json), neither of which makes a request, and the first
invocation after a SnapStart-style init (a process started with
AWS_LAMBDA_INITIALIZATION_TYPE=snap-start imports the handler, which preloads what SnapStart's
snapshot would hold, waits, then is told to serve one invocation: only that one is timed);
the warm runs interleave the three processes. The report adds a table of ours / baseline
(after / before) ratios.

Every round checks that all sides made the same HTTP requests and got 200/204 only. Results
are ratios ours / twin of medians over the rounds, written between the markers of BENCHMARKS.md
(the sweep benchmark's section is kept). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sweep_benchmark as sweep
from common import (
    BUILD,
    ROOT,
    SDK_SECTION_END,
    SDK_SECTION_MARK,
    BenchContext,
    Emulator,
    Tls,
    X,
    machine,
    median,
    percentile,
    ratio_interval,
    run,
    write_sdk_section,
)

if TYPE_CHECKING:
    from handler.local.emulator import EmulatorState

EVENT = ROOT / "events" / "direct.json"
PYTHON = sys.executable
PYTHON_VERSION = "3.13"
# What Lambda runs (template.yaml: arm64) for the sizes; the host's own wheels to run them here.
LAMBDA_PLATFORM = "aarch64-manylinux2014"
HOST_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
HOST_PLATFORM = f"{HOST_MACHINES.get(platform.machine().lower(), 'x86_64')}-manylinux2014"
FAILED_TASKS = 3
SIDES = ("ours", "twin")
BASELINE = "baseline"  # the third side, with --baseline REF: REF's own build of the function
MODULES = {"ours": "handler.app", "twin": "twin_handler", BASELINE: "handler.app"}
# What a side's process must not load: the other client's HTTP stack.
UNWANTED = {
    "ours": {"huaweicloudsdkcore", "requests", "boto3"},
    "twin": {"httpx", "boto3"},
    BASELINE: {"huaweicloudsdkcore", "requests", "boto3"},
}
# The handler modules the twin imports: the edge, the core and what they import, but not the
# client (none of them imports httpx; the probe checks it).
TWIN_HANDLER_MODULES = (
    "__init__.py",
    "app.py",
    "core.py",
    "settings.py",
    "cleanup.py",
    "models.py",
    "triggers.py",
    "envelopes/__init__.py",
    "envelopes/direct.py",
    "envelopes/sns.py",
    "observability.py",
    "sdrs/__init__.py",
    "sdrs/api.py",
    "sdrs/credentials.py",
    "sdrs/config.py",
    "sdrs/factory.py",
    "snapstart.py",
    "values.py",
)
# What the Makefile's build-SdrsCleanupFunction removes from our artifact as never imported
# (anyio: httpcore's async side; Powertools' API Gateway router): removed from the twin's too.
PRUNED = ("anyio", "anyio-*.dist-info", "aws_lambda_powertools/event_handler")
DEFAULTS = {"rounds": 7, "warm_rounds": 3, "invocations": 300, "warm_up": 20, "sweep_runs": 3, "import_runs": 5}
TARGETS = {"cold": 0.6, "warm": 0.5, "rss": 1.0, "zipped": 0.5}
# How long a SnapStart-style process waits between its init and its first invocation (not timed).
SNAPSTART_PAUSE = 0.1


@dataclass(frozen=True)
class Case:
    """One kind of measured process: the event it serves, over which scheme, what its result
    must be (`groups` groups deleted with FAILED_TASKS failed tasks each, or `error`), and how it
    starts: "cold" (spawn → first result) or "snapstart" (init, a pause, then the first
    invocation alone)."""

    key: str  # Side.cold's key
    label: str
    event: Path
    scheme: str = "http"
    groups: int = 1
    ok: bool = True
    error: str | None = None
    mode: str = "cold"

    @property
    def expect(self) -> dict[str, Any]:
        return {"ok": self.ok, "groups": self.groups, "error": self.error, "failure_jobs": FAILED_TASKS}

    @property
    def requests(self) -> dict[str, int]:
        """The requests one invocation must make: a listing and a delete per group."""
        return {"list_failure_jobs": self.groups, "delete_group_failure_jobs": self.groups} if self.groups else {}


def direct(scheme: str) -> Case:
    """The cold start of the main table (both sides, and the baseline): events/direct.json."""
    return Case(scheme, scheme, EVENT, scheme)


WARM = direct("http")
INVALID_EVENT = ROOT / "events" / "invalid" / "unknown-field.json"  # refused by the validation, no request


def before_after_cases(schemes: list[str]) -> list[Case]:
    """What only ours and the baseline measure (the SNS alarm over https when there is a certificate)."""
    secure = "https" if "https" in schemes else "http"
    cases = [
        Case("sns-alarm", f"SNS alarm ({secure})", ROOT / "events" / "sns-alarm.json", secure),
        Case("sns-alarm-ok", "OK-state SNS alarm (no request)", ROOT / "events" / "sns-alarm-ok.json", groups=0),
        Case(
            "invalid",
            f"invalid event ({INVALID_EVENT.name}, no request)",
            INVALID_EVENT,
            groups=0,
            ok=False,
            error="invalid_event",
        ),
    ]
    for scheme in schemes:
        cases.append(Case(f"snapstart-{scheme}", scheme, EVENT, scheme, mode="snapstart"))
    return cases


# --- the emulator, in a process of its own --------------------------------------------------------


def demo_project() -> EmulatorState:
    """The demo project, no added latency (the direct event's group holds FAILED_TASKS failed tasks)."""
    from handler.local.emulator import demo_state

    return demo_state()


def refill(state: EmulatorState) -> None:
    """The direct event's group gets its failed tasks back (a warm process asks before each invocation)."""
    from handler.local.emulator import DEMO_GROUP_WITH_FAILURES, DEMO_PROJECT_ID

    with state.lock:
        state.add_group(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES, FAILED_TASKS, name="pg-web-tier")


def make_tls(directory: Path) -> Tls | None:
    """A throw-away CA and certificate for 127.0.0.1; None when there is no openssl command to
    make them with."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    ca, ca_key, key, request, certificate = (
        str(directory / name) for name in ("ca.pem", "ca.key", "server.key", "server.csr", "server.pem")
    )
    extensions = directory / "server.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
    authority = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    signed = ["-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2", "-extfile", str(extensions)]
    for command in (
        [openssl, "req", "-x509", *ec, *authority, "-keyout", ca_key, "-out", ca, "-subj", "/CN=sdk-bench CA"],
        [openssl, "req", *ec, "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"],
        [openssl, "x509", "-req", "-in", request, *signed, "-out", certificate],
    ):
        run(command, "making a certificate for the https emulator")
    return Tls(certificate, key, ca)


def _hashed_directories(artifact: Path) -> list[Path]:
    """The OpenSSL hashed CA directories (capath: `<subject hash>.<n>` files) an artifact ships."""
    found = {
        path.parent
        for path in artifact.rglob("*")
        if path.is_file() and len(path.name) > 9 and path.name[8] == "." and path.name[9:].isdigit()
        if all(c in "0123456789abcdef" for c in path.name[:8])
    }
    return sorted(found)


def trust_ca(artifact: Path, ca: str) -> list[str]:
    """Add the throw-away CA to every trust store the (measured, already sized) artifact ships:
    certifi's `cacert.pem` (httpx's default, and requests'), and any hashed directory (capath)
    under its subject hash. The clients then verify the emulator with what they load in
    production, plus one certificate, whatever their configuration: no SSL_CERT_FILE, no
    REQUESTS_CA_BUNDLE, which would replace what the function loads with a bundle of ours.
    Returns the stores changed (relative paths)."""
    pem = Path(ca).read_text()
    changed = []
    for bundle in sorted(artifact.glob("certifi/cacert.pem")):
        bundle.write_text(bundle.read_text().rstrip("\n") + "\n" + pem)
        changed.append(str(bundle.relative_to(artifact)))
    directories = _hashed_directories(artifact)
    if directories:
        openssl = shutil.which("openssl") or "openssl"
        subject_hash = run([openssl, "x509", "-subject_hash", "-noout", "-in", ca], "hashing the CA").stdout.strip()
        for directory in directories:
            n = 0
            while (directory / f"{subject_hash}.{n}").exists():
                n += 1
            (directory / f"{subject_hash}.{n}").write_text(pem)
            changed.append(f"{directory.relative_to(artifact)}/ ({subject_hash}.{n})")
    if not changed:
        raise SystemExit(f"{artifact} ships no CA store the benchmark knows (certifi/cacert.pem, a hashed directory)")
    return changed


# --- the measured process ----------------------------------------------------------------------------

# Runs as `python -X frozen_modules=on -I -S -B -c PROBE artifact module mode fds... [warm_up invocations]`:
# nothing but the standard library and the artifact on sys.path, and nothing imported before
# the handler module but what the interpreter itself loads. Modes: cold (import, serve one
# invocation), snapstart (import, say so, wait for go, serve one invocation: timed alone), warm.
PROBE = r"""
import sys, time
started = time.perf_counter()
artifact, module_name, mode = sys.argv[1], sys.argv[2], sys.argv[3]
report_fd, go_fd, done_fd = (int(fd) for fd in sys.argv[4:7])
sys.path.insert(0, artifact)
module = __import__(module_name, fromlist=["lambda_handler"])
imported = time.perf_counter()
import json, os

CONTEXT_CLASS
def status(name):
    with open("/proc/self/status") as lines:
        for line in lines:
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024  # kB -> MiB

expect = json.loads(os.environ["BENCH_EXPECT"])

def check(result):
    groups, error = result["groups"], result["error"] or {}
    if (
        result["ok"] is not expect["ok"]
        or len(groups) != expect["groups"]
        or error.get("type") != expect["error"]
        or any(g["outcome"] != "deleted" or len(g["failure_jobs"]) != expect["failure_jobs"] for g in groups)
    ):
        raise SystemExit(f"unexpected result (expected {expect}): {json.dumps(result)[:2000]}")

event = json.loads(os.environ["BENCH_EVENT"])
if mode == "warm":  # every invocation, the first one too, when the parent says go
    import socket
    refill = socket.create_connection(("127.0.0.1", int(os.environ["BENCH_REFILL_PORT"])))

    def go():
        if os.read(go_fd, 1) != b"g":
            raise SystemExit("the benchmark went away")
        refill.sendall(b"r")  # the group's failed tasks back, untimed
        refill.recv(1)

    os.write(done_fd, b"r")
    go()
elif mode == "snapstart":  # the init is done (the snapshot would be taken here): wait to be invoked
    os.write(done_fd, b"r")
    if os.read(go_fd, 1) != b"g":
        raise SystemExit("the benchmark went away")
cpu_begun, begun = time.process_time(), time.perf_counter()
result = module.lambda_handler(event, BenchContext())
first, first_cpu = time.perf_counter() - begun, time.process_time() - cpu_begun
check(result)
report = {
    "import": imported - started,
    "first": first,
    "first_cpu": first_cpu,
    "hwm_cold": status("VmHWM"),
    "file": module.__file__,
    "site_packages": [p for p in sys.path if "site-packages" in p],
    "loaded": sorted({m.partition(".")[0] for m in sys.modules} & {"httpx", "huaweicloudsdkcore", "requests", "boto3"}),
}
if mode == "warm":  # one invocation each time the parent says go, so that it can interleave two processes
    warm_up, invocations = int(sys.argv[7]), int(sys.argv[8])
    walls, cpus = [], []
    os.write(done_fd, b"d")
    for n in range(warm_up + invocations):
        go()
        cpu, wall = time.process_time(), time.perf_counter()
        result = module.lambda_handler(event, BenchContext())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        check(result)
        os.write(done_fd, b"d")
        if n >= warm_up:
            walls.append(wall)
            cpus.append(cpu)
    refill.close()
    report |= {"walls": walls, "cpus": cpus, "hwm": status("VmHWM")}
os.write(report_fd, (json.dumps(report) + "\n").encode())
""".replace("CONTEXT_CLASS", inspect.getsource(BenchContext))  # the sweep's context, as is
INTERPRETER = [PYTHON, "-X", "frozen_modules=on", "-I", "-S", "-B"]


def child_environment(emulator: Emulator, case: Case, mode: str, home: str) -> dict[str, str]:
    environment = {
        "HOME": home,  # the SDK writes $HOME/.huaweicloud/application_id
        "POWERTOOLS_SERVICE_NAME": "sdrs-cleanup",
        "POWERTOOLS_METRICS_NAMESPACE": "SdrsCleanup",
        "POWERTOOLS_LOG_LEVEL": "INFO",  # as deployed
        "BENCH_EVENT": case.event.read_text(),
        "BENCH_EXPECT": json.dumps(case.expect),
        **emulator.environments[case.scheme],
    }
    if mode == "snapstart":  # what Lambda sets for a SnapStart init: handler/app.py then preloads
        environment["AWS_LAMBDA_INITIALIZATION_TYPE"] = "snap-start"
    return environment


class Probe:
    """One measured process (PROBE) and the pipes to it: its report, and in warm mode a
    go/done handshake per invocation (in snapstart mode, one go after its init)."""

    def __init__(self, side: str, artifact: Path, mode: str, emulator: Emulator, case: Case, *extra: str) -> None:
        self.side, self.artifact, self.mode = side, artifact, mode
        self._scratch = tempfile.TemporaryDirectory(prefix="sdk-bench-")
        scratch = Path(self._scratch.name)
        self._logs, self._errors = scratch / "stdout", scratch / "stderr"
        self._report, report = os.pipe()
        go, self._go = os.pipe()
        self._done, done = os.pipe()
        with self._logs.open("w") as out, self._errors.open("w") as err:
            self.started = time.perf_counter()
            command = [*INTERPRETER, "-c", PROBE, str(artifact), MODULES[side], mode, str(report), str(go), str(done)]
            self._process = subprocess.Popen(  # noqa: S603
                [*command, *extra],
                env=child_environment(emulator, case, mode, str(scratch)),
                stdout=out,
                stderr=err,
                pass_fds=(report, go, done),
            )
        for fd in (report, go, done):
            os.close(fd)

    def _failed(self, code: int | None = None) -> SystemExit:
        code = self._process.wait() if code is None else code
        return SystemExit(f"the {self.side} {self.mode} run failed ({code}):\n{self._errors.read_text()[-3000:]}")

    def ready(self) -> None:
        """Wait until a warm or snapstart process has imported the handler (a warm one's first
        invocation is a step; a snapstart one's is `go`)."""
        if os.read(self._done, 1) != b"r":
            raise self._failed()

    def go(self) -> None:
        """A snapstart process: serve the one invocation (then it reports)."""
        os.write(self._go, b"g")

    def step(self) -> None:
        """One warm invocation, and wait for it."""
        os.write(self._go, b"g")
        if os.read(self._done, 1) != b"d":
            raise self._failed()

    def finish(self) -> tuple[float, dict[str, Any], str]:
        """The wall time from the spawn to the report, the report, the logs."""
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(self._report, 1 << 16)
            if not chunk:
                break
            line += chunk
        elapsed = time.perf_counter() - self.started
        for fd in (self._report, self._go, self._done):
            os.close(fd)
        # wait4, not Popen.wait: the CPU time the process used, all its threads, start to exit.
        _, status, usage = os.wait4(self._process.pid, 0)
        code = self._process.returncode = os.waitstatus_to_exitcode(status)
        if code != 0 or not line:
            raise self._failed(code)
        report: dict[str, Any] = json.loads(line)
        report["process_cpu"] = usage.ru_utime + usage.ru_stime
        logs = self._logs.read_text()
        self._scratch.cleanup()
        problems = []
        if not Path(report["file"]).is_relative_to(self.artifact):
            problems.append(f"{MODULES[self.side]} came from {report['file']}")
        if report["site_packages"]:
            problems.append(f"site-packages on sys.path: {report['site_packages']}")
        unwanted = UNWANTED[self.side]
        if unwanted & set(report["loaded"]):
            problems.append(f"loaded {sorted(unwanted & set(report['loaded']))}")
        if problems:
            raise SystemExit(f"the {self.side} {self.mode} run is not what it should be: " + "; ".join(problems))
        return elapsed, report, logs


def spawn(side: str, artifact: Path, emulator: Emulator, case: Case) -> tuple[float, dict[str, Any], str]:
    """A cold start (spawn → first result), or a snapstart one: its init, a pause, then its first
    invocation (the report's `first`, timed inside the process)."""
    probe = Probe(side, artifact, case.mode, emulator, case)
    if case.mode == "snapstart":
        probe.ready()
        time.sleep(SNAPSTART_PAUSE)
        probe.go()
    return probe.finish()


def log_profile(text: str) -> Counter[str]:
    """How many log lines of each message (and EMF blobs) a run wrote: both sides must match."""
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            counts["(not JSON)"] += 1
            continue
        counts[record.get("message", "(metrics)" if "_aws" in record else "(other)")] += 1
    return counts


def check_requests(emulator: Emulator, what: str, expected: dict[str, int]) -> None:
    """Exactly the `expected` requests since the last check, every one answered 200 or 204."""
    stats = emulator.ask("stats")
    if stats["routes"] != expected or set(stats["statuses"]) - {200, 204}:
        raise SystemExit(f"the {what} run made other requests than expected ({expected}): {stats}")


# --- building the artifacts ---------------------------------------------------------------------------


def build_function(target: Path, platform_tag: str, tree: Path = ROOT, side: str = "ours") -> None:
    """Exactly what `make artifact` (and `sam build`) put into the function's zip: the
    Makefile's recipe, run in `tree` (this one, or the baseline's worktree, by its own Makefile)."""
    shutil.rmtree(target, ignore_errors=True)
    make = ["make", "--no-print-directory", "-C", str(tree), "build-SdrsCleanupFunction"]
    what = f"building the {side} artifact ({platform_tag})"
    run([*make, f"ARTIFACTS_DIR={target}", f"LAMBDA_PLATFORM={platform_tag}"], what)
    if side != "ours":  # the twin is pruned after our recipe, not the baseline's
        return
    left = [str(path.relative_to(target)) for pattern in PRUNED for path in target.glob(pattern)]
    if left:
        raise SystemExit(f"PRUNED no longer matches the Makefile's recipe: {left} left in our artifact")


@dataclass(frozen=True)
class Baseline:
    """--baseline REF: the ref as given, the commit it names, its subject line."""

    ref: str
    commit: str
    subject: str

    @property
    def short(self) -> str:
        return self.commit[:9]


def resolve_baseline(ref: str) -> Baseline:
    git = ["git", "-C", str(ROOT)]
    commit = run([*git, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], f"--baseline {ref!r}: git rev-parse")
    sha = commit.stdout.strip()
    subject = run([*git, "log", "-1", "--format=%s", sha], "git log").stdout.strip()
    return Baseline(ref, sha, subject)


@contextlib.contextmanager
def baseline_worktree(baseline: Baseline) -> Iterator[Path]:
    """A detached worktree of the baseline commit in a temporary directory, removed (and
    forgotten by git) on the way out, whatever happened inside."""
    scratch = Path(tempfile.mkdtemp(prefix="sdk-bench-baseline-"))
    tree = scratch / "tree"
    git = ["git", "-C", str(ROOT), "worktree"]
    try:
        run([*git, "add", "--detach", "--quiet", str(tree), baseline.commit], f"git worktree add {baseline.ref}")
        yield tree
    finally:
        subprocess.run([*git, "remove", "--force", str(tree)], capture_output=True, check=False)  # noqa: S603
        shutil.rmtree(scratch, ignore_errors=True)
        subprocess.run([*git, "prune"], capture_output=True, check=False)  # noqa: S603


def describe_tree() -> str:
    """What our artifact is built from (asked as it is built): HEAD, and what in the tree that
    goes into the build differs from it."""
    head = run(["git", "-C", str(ROOT), "rev-parse", "--short=9", "HEAD"], "git rev-parse").stdout.strip()
    paths = ["handler", "Makefile", "pyproject.toml", "uv.lock"]
    status = run(["git", "-C", str(ROOT), "status", "--porcelain", "--", *paths], "git status").stdout
    changes = [line[3:] for line in status.splitlines() if line.strip()]
    if not changes:
        return f"this working tree (HEAD {head}, no uncommitted change to what goes into the build)"
    return f"this working tree (HEAD {head}, with uncommitted changes to {', '.join(f'`{c}`' for c in changes)})"


def build_twin(target: Path, platform_tag: str) -> None:
    """The same recipe for the twin: the SDK, Powertools and pydantic at the versions of uv.lock
    (their dependencies resolved for the platform, no httpx), pruned as ours is, the twin and
    the handler modules it imports, bytecode with unchecked hashes."""
    shutil.rmtree(target, ignore_errors=True)
    uv = os.environ.get("UV") or shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    with tempfile.TemporaryDirectory() as scratch:
        pins = Path(scratch) / "constraints.txt"
        export = [uv, "export", "--frozen", "--group", "bench", "--no-emit-project", "--no-hashes", "--quiet"]
        run([*export, "--output-file", str(pins)], "uv export", cwd=ROOT)
        install = [uv, "pip", "install", "--quiet", "--target", str(target), "--python-version", PYTHON_VERSION]
        install += ["--python-platform", platform_tag, "--only-binary", ":all:", "--link-mode", "copy"]
        install += ["-c", str(pins), "aws-lambda-powertools", "pydantic", "huaweicloudsdksdrs"]
        run(install, f"installing the twin's dependencies ({platform_tag})", cwd=ROOT)
    shutil.rmtree(target / "bin", ignore_errors=True)
    for tests in target.glob("*/tests"):  # as the Makefile does: the packages' own test suites
        if tests.is_dir():
            shutil.rmtree(tests)
    for pattern in PRUNED:
        for path in target.glob(pattern):
            shutil.rmtree(path)
    for name in TWIN_HANDLER_MODULES:
        (target / "handler" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "handler" / name, target / "handler" / name)
    shutil.copyfile(ROOT / "bench" / "twin_handler.py", target / "twin_handler.py")
    compile_all = [PYTHON, "-m", "compileall", "-q", "-j0", "--invalidation-mode", "unchecked-hash", str(target)]
    run(compile_all, "compiling the twin's bytecode")


@dataclass
class Size:
    unzipped: int
    zipped: int
    files: int
    biggest: list[tuple[str, int]]


def measure_size(directory: Path) -> Size:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    by_top: Counter[str] = Counter()
    for path in files:
        top = path.relative_to(directory).parts[0]
        by_top[top.split("-")[0] if top.endswith(".dist-info") else top.removesuffix(".py")] += path.stat().st_size
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "artifact.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in files:
                zipped.write(path, path.relative_to(directory))
        return Size(sum(by_top.values()), archive.stat().st_size, len(files), by_top.most_common(8))


# --- import time ----------------------------------------------------------------------------------------


def import_profile(artifact: Path, module: str, runs: int) -> tuple[dict[str, float], float]:
    """-X importtime of the handler module, self time summed per top-level package (handler
    modules apart), median over `runs`; and the median total."""
    samples: dict[str, list[float]] = defaultdict(list)
    totals = []
    code = f"import sys; sys.path.insert(0, {str(artifact)!r}); import {module}"
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            done = run([*INTERPRETER, "-X", "importtime", "-c", code], f"importing {module}", env={"HOME": home})
        selves: Counter[str] = Counter()
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "imported package" in line:
                continue
            self_us, _cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            key = name if name.startswith("handler") or name == "twin_handler" else name.partition(".")[0]
            selves[key] += int(self_us)
        totals.append(sum(selves.values()) / 1e6)
        for key, value in selves.items():
            samples[key].append(value / 1e6)
    return {key: median(values + [0.0] * (runs - len(values))) for key, values in samples.items()}, median(totals)


# --- the sweep -----------------------------------------------------------------------------------------


def measure_sweeps(runs: int) -> dict[str, sweep.Series]:
    """The sweep benchmark's own measurement, alternately for ours and the twin (both from the
    project's .venv, as `make bench` runs them), concurrency 32. The .venv holds no bytecode
    when PYTHONDONTWRITEBYTECODE is set (as it may be in CI or a sandbox): the children then
    keep theirs under build/bench/pycache, and one sweep per side, not counted, writes it, so
    that no side's figures include compiling what it imports on the way."""
    series = {side: sweep.Series(side, side, sweep.CONCURRENCY) for side in SIDES}  # not the baseline
    kinds = {"ours": "function", "twin": "twin"}
    with Emulator(sweep.sweep_project) as emulator, tempfile.TemporaryDirectory(prefix="sdk-bench-home-") as home:
        env = {"HOME": home, "PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(BUILD / "pycache")}
        for n in range(-1, runs):
            for side in SIDES if n % 2 == 0 else SIDES[::-1]:
                measured = sweep.measure(emulator, kinds[side], sweep.CONCURRENCY, env_overrides=env)
                if n >= 0:
                    series[side].runs.append(measured)
    return series


# --- the rounds ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cold:
    elapsed: float  # spawn → first result (snapstart: with the pause)
    cpu: float  # user + system time of the whole process, spawn to exit
    imported: float  # the import of the handler module, measured inside
    first: float  # the first invocation, measured inside
    first_cpu: float  # the CPU time (all threads) of that invocation
    hwm: float  # VmHWM after it, MiB
    loaded: tuple[str, ...]  # which HTTP stacks (httpx, the SDK's) the process had loaded by then


@dataclass
class Side:
    # by Case.key: "http" and "https" (events/direct.json), and the baseline's cases
    cold: dict[str, list[Cold]] = field(default_factory=lambda: defaultdict(list))
    warm_median: list[float] = field(default_factory=list)
    warm_p99: list[float] = field(default_factory=list)
    warm_cpu: list[float] = field(default_factory=list)
    hwm: list[float] = field(default_factory=list)
    logs: Counter[str] = field(default_factory=Counter)

    def colds(self, key: str, attribute: str) -> list[float]:
        return [getattr(run, attribute) for run in self.cold[key]]


def rotated[T](items: tuple[T, ...] | list[T], n: int) -> list[T]:
    """Round n's order: each side goes first in turn (with two: alternately)."""
    shift = n % len(items)
    return [*items[shift:], *items[:shift]]


def python_pass(rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run([*INTERPRETER, "-c", "pass"], check=True, env={})  # noqa: S603
        times.append(time.perf_counter() - started)
    return times


def measure_rounds(
    artifacts: dict[str, Path], tls: Tls | None, args: argparse.Namespace
) -> tuple[dict[str, Side], list[float]]:
    """The cold starts (and with a baseline, its cases), round by round, the sides' order
    rotating; then the warm processes, all sides at once. Returns the sides and the times of
    `python -c pass`."""
    names = tuple(side for side in (*SIDES, BASELINE) if side in artifacts)  # ours, the twin, maybe the baseline
    sides = {side: Side() for side in names}
    bare: list[float] = []
    with Emulator(demo_project, refill, tls) as emulator:
        schemes = list(emulator.environments)
        cases = [(direct(scheme), names) for scheme in schemes]
        if BASELINE in names:
            cases += [(case, ("ours", BASELINE)) for case in before_after_cases(schemes)]
        for n in range(args.rounds):
            bare += python_pass(1)
            for case, case_sides in cases:
                for side in rotated(case_sides, n):
                    emulator.ask("refill")
                    elapsed, report, _ = spawn(side, artifacts[side], emulator, case)
                    check_requests(emulator, f"{side} {case.mode} {case.key}", case.requests)
                    cold = Cold(
                        elapsed,
                        report["process_cpu"],
                        report["import"],
                        report["first"],
                        report["first_cpu"],
                        report["hwm_cold"],
                        tuple(report["loaded"]),
                    )
                    sides[side].cold[case.key].append(cold)
                    what = "snapstart" if case.mode == "snapstart" else "cold"
                    print(
                        f"  {what} {n + 1}/{args.rounds} {case.key:<12} {side:<8}: {elapsed:.3f} s (import "
                        f"{cold.imported:.3f} s, first invocation {cold.first:.3f} s; CPU {cold.cpu:.3f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
        total = args.warm_up + args.invocations
        for n in range(args.warm_rounds):
            # All processes at once, their invocations interleaved (who goes first rotates), so
            # that whatever else the machine does falls on all alike.
            order = rotated(names, n)
            extra = (str(args.warm_up), str(args.invocations))
            probes = {side: Probe(side, artifacts[side], "warm", emulator, WARM, *extra) for side in order}
            for probe in probes.values():
                probe.ready()
            for i in range(1 + total):
                for side in order if i % 2 == 0 else order[::-1]:
                    probes[side].step()
            for side in order:
                _, report, logs = probes[side].finish()
                s = sides[side]
                s.warm_median.append(median(report["walls"]))
                s.warm_p99.append(percentile(report["walls"], 0.99))
                s.warm_cpu.append(median(report["cpus"]))
                s.hwm.append(report["hwm"])
                s.logs = log_profile(logs)
                print(
                    f"  warm {n + 1}/{args.warm_rounds} {side}: median {s.warm_median[-1] * 1000:.2f} ms, "
                    f"p99 {s.warm_p99[-1] * 1000:.2f} ms, CPU {s.warm_cpu[-1] * 1000:.2f} ms, "
                    f"VmHWM {report['hwm']:.1f} MiB",
                    file=sys.stderr,
                    flush=True,
                )
            warm_requests = {route: count * len(names) * (1 + total) for route, count in WARM.requests.items()}
            check_requests(emulator, "warm", warm_requests)
    if sides["ours"].logs != sides["twin"].logs:
        raise SystemExit(f"the two sides logged differently: {sides['ours'].logs} vs {sides['twin'].logs}")
    return sides, bare


# --- the report ----------------------------------------------------------------------------------------


def _ratio_range(ours: list[float], twin: list[float]) -> str:
    """Each round's ratio (its two sides ran back to back): the median, and the range. On a
    machine whose speed drifts between rounds, the median of these paired ratios is steadier
    than the ratio of the medians."""
    ratios = sorted(o / t for o, t in zip(ours, twin, strict=True))
    return f"{median(ratios):.2f}{X} ({ratios[0]:.2f} to {ratios[-1]:.2f})"


def _wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(text, width=100, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False)


def _bytes(value: int) -> str:
    return f"{value / 1e6:.2f} MB"


def report(
    sides: dict[str, Side],
    bare: list[float],
    sizes: dict[tuple[str, str], Size],
    imports: dict[str, tuple[dict[str, float], float]],
    sweeps: dict[str, sweep.Series] | None,
    args: argparse.Namespace,
    elapsed: float,
    baseline: Baseline | None = None,
    trusted: dict[str, list[str]] | None = None,
    ours_source: str = "",
) -> str:
    ours, twin = sides["ours"], sides["twin"]
    rows: list[tuple[str, str, str, float, str, float | None]] = []

    def row(name: str, o: float, t: float, fmt: str, spread: str = "", target: float | None = None) -> None:
        rows.append((name, fmt.format(o), fmt.format(t), o / t, spread, target))

    def rounds(name: str, o: list[float], t: list[float], fmt: str, ranged: bool, target: float | None) -> None:
        """Medians over the rounds, and (`ranged`) the range of each round's ratio."""
        row(name, median(o), median(t), fmt, _ratio_range(o, t) if ranged else "", target)

    seconds, ms, mib = "{:.3f} s", "{:.2f} ms", "{:.1f} MiB"
    for scheme, label in (("http", "plain http"), ("https", "https")):
        if scheme not in ours.cold:
            continue
        for name, attribute, ranged, target in (
            (
                f"cold start over {label}: spawn → first result (median of {len(ours.cold[scheme])})",
                "elapsed",
                True,
                TARGETS["cold"],
            ),
            ("… of which the import of the handler module", "imported", False, None),
            ("… of which the first invocation (client made, 2 requests)", "first", False, None),
            ("CPU time of that process (user + system, spawn to exit)", "cpu", True, None),
        ):
            rounds(name, ours.colds(scheme, attribute), twin.colds(scheme, attribute), seconds, ranged, target)
    for name, attribute, target in (
        (
            f"warm invocation, median (of {args.invocations}, median of {args.warm_rounds} processes)",
            "warm_median",
            TARGETS["warm"],
        ),
        ("warm invocation, p99", "warm_p99", None),
        ("warm invocation, CPU time (median)", "warm_cpu", None),
    ):
        ours_ms, twin_ms = ([value * 1000 for value in getattr(side, attribute)] for side in (ours, twin))
        rounds(name, ours_ms, twin_ms, ms, True, target)
    rounds("peak RSS (VmHWM) after the warm run", ours.hwm, twin.hwm, mib, True, TARGETS["rss"])
    first = "peak RSS (VmHWM) after the first invocation (plain http)"
    rounds(first, ours.colds("http", "hwm"), twin.colds("http", "hwm"), mib, False, None)
    platforms = {LAMBDA_PLATFORM: "arm64, deployed"}
    platforms.setdefault(HOST_PLATFORM, "this host's, measured above")
    for tag, label in platforms.items():
        mine, theirs = sizes["ours", tag], sizes["twin", tag]
        target = TARGETS["zipped"] if tag == LAMBDA_PLATFORM else None
        zipped = (_bytes(mine.zipped), _bytes(theirs.zipped), mine.zipped / theirs.zipped)
        rows.append((f"artifact zipped ({label})", *zipped, "", target))
        unzipped = (_bytes(mine.unzipped), _bytes(theirs.unzipped), mine.unzipped / theirs.unzipped)
        rows.append((f"artifact unzipped ({label})", *unzipped, "", None))
    if sweeps:
        so, st = sweeps["ours"], sweeps["twin"]
        runs = len(so.runs)
        row(f"sweep of {sweep.GROUPS} groups, cold (median of {runs})", so.median("cold"), st.median("cold"), seconds)
        row("sweep, warm (client already made)", so.median("wall"), st.median("wall"), seconds)
        row(
            "sweep, client CPU per request",
            so.median("cpu") / so.runs[0].requests * 1000,
            st.median("cpu") / st.runs[0].requests * 1000,
            ms,
        )
        row("sweep, peak RSS", so.most("rss_mib"), st.most("rss_mib"), mib)

    table = [
        "| measure | ours | twin (SDK) | ours / twin | per-round ratio: median (range) | target | |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, o, t, ratio, spread, target in rows:
        verdict = "" if target is None else ("met" if ratio <= target else "**missed**")
        aim = "" if target is None else f"≤ {target}{X}"
        table.append(f"| {name} | {o} | {t} | {ratio:.2f}{X} | {spread} | {aim} | {verdict} |")

    profiled = [side for side in (*SIDES, BASELINE) if side in imports]
    keys = sorted(
        set().union(*(imports[side][0] for side in profiled)),
        key=lambda k: -max(imports[side][0].get(k, 0.0) for side in profiled),
    )[: args.import_rows]
    heads = {"ours": "ours ms", "twin": "twin ms", BASELINE: f"baseline `{baseline.short}` ms" if baseline else ""}
    import_table = [
        "| package (self time summed) | " + " | ".join(heads[side] for side in profiled) + " |",
        "|---|" + "---:|" * len(profiled),
    ]
    for key in keys:
        cells = " | ".join(f"{imports[side][0].get(key, 0.0) * 1000:.0f}" for side in profiled)
        import_table.append(f"| `{key}` | {cells} |")
    totals = " | ".join(f"**{imports[side][1] * 1000:.0f}**" for side in profiled)
    import_table.append(f"| **all** (under -X importtime) | {totals} |")

    size_lines = []
    for side in (*SIDES, BASELINE):
        if (side, LAMBDA_PLATFORM) not in sizes:
            continue
        size = sizes[side, LAMBDA_PLATFORM]
        parts = ", ".join(f"{name} {value / 1e6:.1f}" for name, value in size.biggest)
        size_lines.append(
            f"- {side}: {size.files} files, {size.unzipped:,} bytes, zipped {size.zipped:,} bytes; the biggest"
            f" (MB unzipped): {parts}"
        )

    sweep_note = (
        ""
        if not sweeps
        else "\n"
        + _wrap(
            f"- **sweep**: `bench/sweep_benchmark.py`'s `measure` ({sweep.GROUPS} groups, {sweep.WITH_FAILURES} with"
            f" failed tasks, {sweep.LATENCY * 1000:.0f} ms latency, concurrency {sweep.CONCURRENCY}, each side"
            f" from the project's `.venv`), {len(sweeps['ours'].runs)} run(s) per side, alternately, after one"
            " uncounted run per side that caches the bytecode; the twin's audits and deletes run in"
            " `run_cleanup`'s thread pool as ours do, sharing one SDK client (the SDK's own async client"
            " shares its `requests` session across threads the same way), its pool sized to the concurrency.",
            indent="  ",
        )
    )
    host = machine()
    command = bench_command(args, baseline) + (
        ", which runs `uv sync --frozen --group bench`, then"
        " `uv run --frozen --group bench python bench/sdk_benchmark.py` with those options"
    )
    stores = sorted({store for changed in (trusted or {}).values() for store in changed})
    tls_note = (
        "Cold starts are measured twice: over plain http, and over https with a throw-away certificate"
        " for 127.0.0.1 whose CA is added to each measured artifact's own trust store"
        f" ({', '.join(f'`{store}`' for store in stores)}), with no `SSL_CERT_FILE`, `SSL_CERT_DIR` or"
        " `REQUESTS_CA_BUNDLE` in the environment, so that each client loads what it loads in production"
        " (httpx and requests: certifi's bundle; a CA directory the function ships, if it does), plus one"
        " certificate. Over http the SDK (urllib3) never builds a TLS context,"
        " while our client (`httpx.HTTPTransport`) builds one, and loads the CA bundle into it, when it is"
        " made in the first invocation; over https both pay for a TLS context and a handshake, as against"
        " the real endpoint."
        if "https" in ours.cold
        else "Cold starts were measured over plain http only (no `openssl` command to make a certificate):"
        " there the SDK (urllib3) never builds a TLS context, while our client builds one in its first"
        " invocation; against the real https endpoint both pay for one."
    )
    imports_line = (
        f"For the record, the import of the handler module alone (measured inside the cold processes, plain"
        f" http, median): ours {median(ours.colds('http', 'imported')) * 1000:.0f} ms, the twin"
        f" {median(twin.colds('http', 'imported')) * 1000:.0f} ms, beside"
        f" {median(bare) * 1000:.0f} ms for the whole of `python -X frozen_modules=on -I -S -B -c pass`"
        f" (median of {len(bare)})."
    )
    before_after_section = ""
    if baseline is not None:
        made = bench_command(args, baseline)
        before_after_section = before_after(sides, sizes, args, baseline, made, ours_source) + "\n"
    return f"""{SDK_SECTION_MARK}
## Against the official SDK

Generated by `bench/sdk_benchmark.py`: run it again with `make bench-sdk` (about {max(1, round(elapsed / 60))}
minute{"s" if elapsed >= 90 else ""}). `bench/twin_handler.py` is this function with only its SDRS client
swapped: `SdkSdrsApi` implements the port `handler.sdrs.api.SdrsApi` on the official SDK
(`huaweicloudsdksdrs` 3.1.219: `list_failure_jobs` with the group filter, paged by limit/offset until
`count`, then `delete_server_group_failure_jobs`; `list_protection_groups` for sweeps), maps the SDK's
exceptions to `SdrsApiError` and its models back to dicts, and is what the twin's `Runtime` provides
(one adapter per `ClientConfig`, as `handler.sdrs.factory.ClientFactory` keeps one client) to the
function's own code, unchanged: the edge (`handler.app.lambda_handler(event, context,
runtime=TWIN_RUNTIME)`, the same log lines and metrics), the core (`handler.core`: the settings of
`handler.settings`, the event validation of `handler.triggers`, the retry decision,
`fit_response`), the domain (`handler.cleanup.run_cleanup`: the pool, the safety brake, the deadline
checks) and the result (`handler.models`). Both are built into Lambda artifacts the way `make
artifact` builds ours (the twin's: the SDK, Powertools and pydantic at the versions of `uv.lock`,
pruned as ours is of anyio and Powertools' `event_handler`, the twin and the handler modules it
imports, none of which loads httpx: `app`, `core`, `settings`, `cleanup`, `models`, `triggers`,
`envelopes/{{direct,sns}}`, `observability`, `sdrs/{{api,credentials,config,factory}}`; bytecode compiled
the same way), and
measured alternately (ours first in odd rounds, the twin first in even ones) against the same SDRS
emulator (`handler/local/emulator.py` in a process of its own, no added latency, signatures
verified):

- **cold start**: a fresh `python -X frozen_modules=on -I -S -B` with nothing but the standard
  library and the artifact on `sys.path` (the artifact built for this host, {HOST_PLATFORM}: Lambda's
  arm64 wheels do not run here) imports the handler and serves `events/direct.json` (list the
  group's {FAILED_TASKS} failed tasks, delete them), timed from the spawn to the result; the import and the
  first invocation are also timed inside the process, and the CPU time (user + system, all
  threads, to its exit) the process used is read from `wait4`: on a busy machine that is the
  figure other load disturbs least.
- **warm**: one process per side serves {args.warm_up} invocations to warm up, then {args.invocations} measured ones
  over plain http; the emulator gets the failed tasks back before each, untimed, so that every
  invocation sends the same GET and DELETE. Median and p99 per process, then the median over
  {args.warm_rounds} processes per side. The two sides' processes run at the same time, their
  invocations interleaved one by one, so that the rest of the machine's load falls on both alike.
  CPU time is the process's (all its threads).
- **peak RSS**: `VmHWM` of the warm process at its end.
- **artifact**: the files' bytes, and a zip of them (`ZIP_DEFLATED`), for arm64 as deployed
  (and for this host's build).{sweep_note}

Every run is checked: the result is ok with {FAILED_TASKS} tasks deleted, both sides made exactly the
same requests (answered 200 and 204) and wrote the same log lines, and neither process loaded
the other's HTTP library.

{chr(10).join(table)}

Ratios are of the medians; beside them, each round's own ratio (its sides ran back to back): their median and range.
{_wrap(tls_note)}
{_wrap(imports_line)}

- The twin retries nothing (the SDK does not by default), which favours it slightly. The SDK
  cannot bound a call by the invocation's deadline (its timeouts are the client's); the adapter
  only refuses to start a call with less than a second left, as ours does.
- The SDK's models drop the fields they do not know, and the adapter's dicts come from them
  (`to_dict()`): the twin's audit record of a failed task lacks the `end_time` and
  `server_group_id` that the emulator sends and our record keeps (so its log lines are a little
  shorter), and a sweep's protection groups keep only the SDK's fields.

Import time under `python -X importtime` (self time of each module summed by top-level package,
`handler` modules apart; median of {args.import_runs} runs; the tracing inflates every figure):

{chr(10).join(import_table)}

Artifact contents:

{chr(10).join(size_lines)}

{before_after_section}\
Machine: {host["nproc"]} cores, {host["cpu"]}, {host["python"]}, {host["os"]}.
Command: {command}. The whole benchmark took {elapsed:.0f} s.
{SDK_SECTION_END}
"""


def bench_command(args: argparse.Namespace, baseline: Baseline | None) -> str:
    """The `make bench-sdk` command line that ran this benchmark (--output aside)."""
    changed = [f"--baseline {baseline.ref}"] if baseline else []
    changed += [
        f"--{name.replace('_', '-')} {getattr(args, name)}"
        for name in DEFAULTS
        if getattr(args, name) != DEFAULTS[name]
    ]
    if changed:
        return f'`make bench-sdk BENCH_SDK_ARGS="{" ".join(changed)}"`'
    return "`make bench-sdk` (the default options)"


def before_after(
    sides: dict[str, Side],
    sizes: dict[tuple[str, str], Size],
    args: argparse.Namespace,
    baseline: Baseline,
    command: str,
    ours_source: str,
) -> str:
    """The --baseline table: the baseline's figures (before), ours (after), after / before."""
    ours, base = sides["ours"], sides[BASELINE]
    rows = [
        f"| measure | before (baseline `{baseline.short}`) | after (ours) | after / before "
        "| per-round ratio: median (range) | after / before: 90% interval |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    seconds, ms, mib = "{:.3f} s", "{:.1f} ms", "{:.1f} MiB"

    def row(name: str, before: list[float], after: list[float], fmt: str, ranged: bool = True) -> None:
        spread, interval = (_ratio_range(after, before), ratio_interval(after, before)) if ranged else ("", "")
        b, a = median(before), median(after)
        rows.append(f"| {name} | {fmt.format(b)} | {fmt.format(a)} | {a / b:.2f}{X} | {spread} | {interval} |")

    def colds(key: str, attribute: str, scale: float = 1.0) -> tuple[list[float], list[float]]:
        return [v * scale for v in base.colds(key, attribute)], [v * scale for v in ours.colds(key, attribute)]

    for scheme in (key for key in ("http", "https") if key in ours.cold):
        label = "plain http" if scheme == "http" else "https"
        row(f"cold start, `events/direct.json` over {label}: spawn → first result", *colds(scheme, "elapsed"), seconds)
        row("… of which the import of the handler module", *colds(scheme, "imported"), seconds, ranged=False)
        row("… of which the first invocation", *colds(scheme, "first"), seconds, ranged=False)
        row("CPU time of that process (spawn to exit)", *colds(scheme, "cpu"), seconds)
    for case in before_after_cases([key for key in ("http", "https") if key in ours.cold]):
        if case.mode == "cold":
            row(f"cold start, {case.label}: spawn → result", *colds(case.key, "elapsed"), seconds)
            row("CPU time of that process (spawn to exit)", *colds(case.key, "cpu"), seconds)
    for case in before_after_cases([key for key in ("http", "https") if key in ours.cold]):
        if case.mode == "snapstart":
            name = f"first invocation after a SnapStart-style init, `events/direct.json` over {case.label}: wall"
            row(name, *colds(case.key, "first", 1000), ms)
            row("… its CPU time", *colds(case.key, "first_cpu", 1000), ms)
            row("… the init before it (the import, preloading)", *colds(case.key, "imported"), seconds, ranged=False)
    for name, attribute in (
        (f"warm invocation, median (of {args.invocations}, median of {args.warm_rounds} processes)", "warm_median"),
        ("warm invocation, p99", "warm_p99"),
        ("warm invocation, CPU time (median)", "warm_cpu"),
    ):
        before, after = ([value * 1000 for value in getattr(side, attribute)] for side in (base, ours))
        row(name, before, after, "{:.2f} ms")
    row("peak RSS (VmHWM) after the warm run", base.hwm, ours.hwm, mib)
    for attribute, label in (("zipped", "zipped"), ("unzipped", "unzipped")):
        b, a = (getattr(sizes[side, LAMBDA_PLATFORM], attribute) for side in (BASELINE, "ours"))
        rows.append(f"| artifact {label} (arm64, deployed) | {_bytes(b)} | {_bytes(a)} | {a / b:.2f}{X} |  |  |")

    quiet = [case for case in before_after_cases(["http"]) if case.groups == 0]
    loaded = "; ".join(
        f"{case.key}: "
        + ", ".join(
            f"{side} {'loaded httpx' if any('httpx' in c.loaded for c in sides[side].cold[case.key]) else 'no httpx'}"
            for side in (BASELINE, "ours")
        )
        for case in quiet
    )
    logs = (
        "both wrote the same log lines in the warm runs"
        if base.logs == ours.logs
        else f"their warm runs' log lines differ (baseline {dict(base.logs)}, ours {dict(ours.logs)})"
    )
    text = [
        f"### Before and after: baseline `{baseline.short}` against ours",
        "",
        _wrap(
            f"Before: `{baseline.ref}` = `{baseline.short}` (“{baseline.subject}”), checked out by `git worktree add"
            f" --detach <tmp> {baseline.short}` and built by its own Makefile: `make -C <tmp> build-SdrsCleanupFunction"
            f" ARTIFACTS_DIR=build/bench/baseline-<platform> LAMBDA_PLATFORM=<platform>` (the worktree removed once"
            f" built). After: ours, built from {ours_source} by `make -C . build-SdrsCleanupFunction` the same way."
            f" Both measured in the same {args.rounds} rounds as the twin above (the cold starts of"
            " `events/direct.json` rotating ours, the twin and the baseline; the cases below only ours and the"
            " baseline, alternately),"
            " against the same emulator, each run checked: the expected result, exactly the expected requests"
            " (none for the OK alarm and the invalid event), every answer 200 or 204."
        ),
        "",
        *rows,
        "",
        _wrap(
            "The OK-state alarm and the invalid event make no request; whether the process had imported httpx"
            f" by its result: {loaded}. The SnapStart-style runs: a process started with"
            " `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start` imports the handler module (handler/app.py then"
            " preloads its client modules, as SnapStart's snapshot would hold them), waits"
            f" {SNAPSTART_PAUSE * 1000:.0f} ms, untimed, then is told to serve `events/direct.json`: only that"
            " first invocation is timed, inside"
            " the process (a restored snapshot's first invocation, without the restore itself). The twin has no"
            " such run: its artifact holds none of the modules the preload imports (and its own import loads the"
            f" SDK anyway). Warm: the baseline's process interleaved with ours and the twin's; {logs}."
            " The last column says how far another run of as many rounds may put the ratio of the medians:"
            " the rounds resampled with replacement 2000 times (a fixed seed), the middle 90% of the ratios"
            " of medians so made."
        ),
        "",
        f"Command: {command}.",
    ]
    return "\n".join(text) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    helps = {
        "rounds": "rounds of cold starts: one per side and scheme (and per --baseline case) in each",
        "warm_rounds": "warm processes per side",
        "invocations": "measured invocations per warm process",
        "warm_up": "invocations before measuring, per warm process",
        "sweep_runs": "sweeps per side (0: no sweep)",
        "import_runs": "-X importtime runs per side",
    }
    for name, default in DEFAULTS.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=int, default=default, help=f"{helps[name]} (default {default})")
    parser.add_argument("--import-rows", type=int, default=14, help="packages listed in the import table")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="where to write the section")
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help="also measure REF (a git ref, built in a temporary worktree) as a third side: before / after ratios",
    )
    args = parser.parse_args()
    started = time.monotonic()
    baseline = resolve_baseline(args.baseline) if args.baseline else None
    artifacts: dict[str, Path] = {}
    sizes: dict[tuple[str, str], Size] = {}
    print(f"building the artifacts ({LAMBDA_PLATFORM} for the sizes, {HOST_PLATFORM} to run)", file=sys.stderr)
    if baseline is not None:  # first: a ref that does not build fails fast
        print(f"building the baseline {baseline.ref} ({baseline.short}) in a worktree", file=sys.stderr)
        with baseline_worktree(baseline) as tree:
            for tag in dict.fromkeys((HOST_PLATFORM, LAMBDA_PLATFORM)):
                target = BUILD / f"{BASELINE}-{tag}"
                build_function(target, tag, tree, BASELINE)
                sizes[BASELINE, tag] = measure_size(target)
                if tag == HOST_PLATFORM:
                    artifacts[BASELINE] = target
    ours_source = describe_tree() if baseline else ""
    for tag in dict.fromkeys((HOST_PLATFORM, LAMBDA_PLATFORM)):
        for side, build in (("ours", build_function), ("twin", build_twin)):
            target = BUILD / f"{side}-{tag}"
            build(target, tag)
            sizes[side, tag] = measure_size(target)
            if tag == HOST_PLATFORM:
                artifacts[side] = target
    print(f"cold starts ({args.rounds} rounds) and warm runs ({args.warm_rounds} rounds)", file=sys.stderr)
    trusted: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="sdk-bench-tls-") as scratch:
        tls = make_tls(Path(scratch))
        if tls is None:
            print("no openssl command: cold starts over plain http only", file=sys.stderr)
        else:  # the artifacts are sized: from here on they are the measured copies
            trusted = {side: trust_ca(artifact, tls.ca) for side, artifact in artifacts.items()}
        sides, bare = measure_rounds(artifacts, tls, args)
    print("import times", file=sys.stderr)
    imports = {side: import_profile(artifacts[side], MODULES[side], args.import_runs) for side in artifacts}
    sweeps = None
    if args.sweep_runs > 0:
        print(f"sweeps ({args.sweep_runs} per side)", file=sys.stderr)
        sweeps = measure_sweeps(args.sweep_runs)
    elapsed = time.monotonic() - started
    section = report(sides, bare, sizes, imports, sweeps, args, elapsed, baseline, trusted, ours_source)
    write_sdk_section(Path(args.output), section)
    return 0


if __name__ == "__main__":
    sys.exit(main())

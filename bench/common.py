"""What both benchmarks use: the SDRS emulator in a process of its own, the measured children's
clocks and Lambda context, running a command, medians, the machine, and BENCHMARKS.md's two
sections (`bench/sweep_benchmark.py` writes the file, `bench/sdk_benchmark.py` its section).
Standard library only: the benchmarks import handler modules only where they measure them.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import random
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handler.local.emulator import EmulatorState

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "bench"
X = "\u00d7"  # the multiplication sign, for the reports

# --- the measured process ---------------------------------------------------------------------------


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class BenchContext:
    """The attributes of Lambda's context object that the handler and Powertools read (as
    deployed: template.yaml's MemorySize). `sdk_benchmark.PROBE` embeds this class's source."""

    function_name = "sdrs-cleanup-bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:sdrs-cleanup-bench"
    memory_limit_in_mb = 1024
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/sdrs-cleanup-bench"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def timed[T](work: Callable[[], T]) -> tuple[T, float, float]:
    """What `work` returned, and the wall and CPU (this process's) seconds it took."""
    cpu, started = cpu_seconds(), time.perf_counter()
    result = work()
    return result, time.perf_counter() - started, cpu_seconds() - cpu


# --- the emulator, in a process of its own -------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    """A throw-away CA and a server certificate for 127.0.0.1. The clients are told to trust the CA
    by their artifacts' own trust stores (`sdk_benchmark.trust_ca`), not by the environment."""

    certificate: str
    key: str
    ca: str


def _serve_refills(listener: socket.socket, state: EmulatorState, refill: Callable[[EmulatorState], None]) -> None:
    """A measured process asks for `refill` before each invocation: one byte in, one byte out,
    on a loopback socket (cheaper for it to import than multiprocessing)."""

    def serve(conn: socket.socket) -> None:
        with conn:
            while conn.recv(1):
                refill(state)
                conn.sendall(b"k")

    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def serve_emulator(
    conn: Connection,
    make_state: Callable[[], EmulatorState],
    refill: Callable[[EmulatorState], None] | None,
    tls: Tls | None,
) -> None:
    """`make_state()` served over http and (with `tls`) https, one state behind both; with
    `refill`, on a socket too (BENCH_REFILL_PORT). Commands on `conn`: reset (the state as
    `make_state` makes it, the request log empty), refill, stats (what was asked since the last
    reset or stats, then forget it), stop."""
    import ssl

    from handler.local.emulator import SdrsEmulator

    plain = SdrsEmulator(make_state())
    servers = {"http": plain}
    if tls is not None:
        secure = servers["https"] = SdrsEmulator(plain.state)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.certificate, tls.key)
        secure._server.socket = context.wrap_socket(secure._server.socket, server_side=True)
    for server in servers.values():
        server.start()
    state = plain.state
    extra: dict[str, str] = {}
    if refill is not None:
        listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=_serve_refills, args=(listener, state, refill), daemon=True).start()
        extra["BENCH_REFILL_PORT"] = str(listener.getsockname()[1])
    environments = {}
    for scheme, server in servers.items():
        environment = server.environment() | extra
        environment["SDRS_ENDPOINT"] = environment["SDRS_ENDPOINT"].replace("http://", f"{scheme}://")
        environments[scheme] = environment
    conn.send(environments)
    cpu_since = cpu_seconds()
    while True:
        command = conn.recv()
        if command == "reset":
            fresh = make_state()
            state.settle()
            with state.lock:
                state.projects, state.group_names = fresh.projects, fresh.group_names
                state.requests.clear()
                state.faults.clear()
                state.max_in_flight = 0
            cpu_since = cpu_seconds()
            conn.send("ok")
        elif command == "refill" and refill is not None:
            refill(state)
            conn.send("ok")
        elif command == "stats":
            state.settle()  # a request is recorded once it is answered
            with state.lock:
                conn.send(
                    {
                        "max_in_flight": state.max_in_flight,
                        "routes": dict(Counter(r.route for r in state.requests)),
                        "statuses": dict(Counter(r.status for r in state.requests)),
                        "failed_tasks_left": sum(len(jobs) for g in state.projects.values() for jobs in g.values()),
                        "cpu": cpu_seconds() - cpu_since,
                    }
                )
                state.requests.clear()
                state.max_in_flight = 0
            cpu_since = cpu_seconds()
        elif command == "stop":
            for server in servers.values():
                server.stop()
            conn.send("stopped")
            return
        else:
            conn.send(f"unknown command {command!r}")


class Emulator:
    """`with Emulator(make_state) as emulator:` the emulator in a spawned process (none of this
    one's imports or threads), `environments` the function's environment for each scheme."""

    def __init__(
        self,
        make_state: Callable[[], EmulatorState],
        refill: Callable[[EmulatorState], None] | None = None,
        tls: Tls | None = None,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        args = (child, make_state, refill, tls)
        self._process = context.Process(target=serve_emulator, args=args, name="sdrs-emulator", daemon=True)
        self._process.start()
        child.close()  # the child's copy only: should it die, recv() below fails instead of waiting forever
        # "http", and "https" when there is a certificate.
        self.environments: dict[str, dict[str, str]] = self._conn.recv()

    @property
    def environment(self) -> dict[str, str]:
        return self.environments["http"]

    def ask(self, command: str) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ask("stop")
        self._process.join(10)


# --- commands, statistics, the machine -------------------------------------------------------------------


def run(command: list[str], what: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """`command`, its output captured; a SystemExit that shows it if it fails."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, **options)  # noqa: S603
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def ratio_interval(after: list[float], before: list[float], level: float = 0.9, resamples: int = 2000) -> str:
    """How sure the ratio of the medians is: the rounds (each a pair that ran back to back)
    resampled with replacement, `resamples` times, and the middle `level` of the ratios of
    medians so made (a percentile bootstrap). The seed is fixed, so one run's data gives one text."""
    pairs = list(zip(after, before, strict=True))
    draw = random.Random(0).choices  # noqa: S311 (a statistic, not a secret)
    ratios = sorted(
        median([a for a, _ in sample]) / median([b for _, b in sample])
        for sample in (draw(pairs, k=len(pairs)) for _ in range(resamples))
    )
    tail = round(resamples * (1 - level) / 2)
    return f"{ratios[tail]:.2f} to {ratios[-1 - tail]:.2f}"


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(len(os.sched_getaffinity(0))),  # what `nproc` prints
        "cpu": model,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
    }


# --- BENCHMARKS.md ------------------------------------------------------------------------------------------

SDK_SECTION_START, SDK_SECTION_END = "<!-- sdk-benchmark:start", "<!-- sdk-benchmark:end -->"
SDK_SECTION_MARK = SDK_SECTION_START + " (written by bench/sdk_benchmark.py: do not edit by hand) -->"


def _publish(path: Path, text: str, written: str) -> None:
    path.write_text(text.rstrip("\n") + "\n")
    print(written)
    print(f"written to {path}", file=sys.stderr)


def write_sweep_report(path: Path, report: str) -> None:
    """The sweep benchmark's report, then what the file it replaces held from the SDK
    benchmark's section on (that section and what was written after it), if anything."""
    old = path.read_text() if path.exists() else ""
    start = old.find(SDK_SECTION_START)
    _publish(path, report.rstrip("\n") + ("" if start < 0 else "\n\n" + old[start:]), report)


def write_sdk_section(path: Path, section: str) -> None:
    """Replace the SDK benchmark's section, or append it; the rest of the file is kept."""
    text = path.read_text() if path.exists() else ""
    start, end = text.find(SDK_SECTION_START), text.find(SDK_SECTION_END)
    if start >= 0 and end > start:
        text = text[:start] + section.rstrip("\n") + text[end + len(SDK_SECTION_END) :]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    _publish(path, text, section)

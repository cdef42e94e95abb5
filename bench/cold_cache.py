"""Warm invocations with cold caches, counted by cachegrind: the memory traffic that CPU time on a
noisy machine hides.

`python bench/cold_cache.py` (after `make bench-sdk` has built build/bench/*-<host>): for each
artifact, a process imports its handler, serves 20 warm-up invocations of events/direct.json
against the emulator (the benchmark's warm case, in its environment), then K more with a 16 MB
cache thrash after each, under `valgrind --tool=cachegrind --cache-sim=yes` (32 KB L1s, a 4 MB
last-level cache). A second process does the same with the thrash but no invocation; the
difference over K is what one warm invocation costs when it starts with nothing of its own in
the caches, as it does when other processes ran in between (the benchmark's interleaved warm
runs; Lambda's other tenants).
Reported per invocation: instructions, L1 misses, last-level misses (memory reads and writes),
and cycles estimated as Ir + 10 x L1 misses + 100 x LL misses (cachegrind's rule of thumb).
PYTHONHASHSEED is fixed; even so, the instruction counts of two processes of one artifact differ
by up to 20% (what the import and the emulator's timing leave behind), the last-level misses by 1%.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import BUILD, ROOT, BenchContext, Emulator
from sdk_benchmark import HOST_PLATFORM, INTERPRETER, WARM, child_environment, demo_project, refill

CACHES = ["--I1=32768,8,64", "--D1=32768,8,64", "--LL=4194304,16,64"]
WARM_UP = 20
THRASH_BYTES = 16 << 20
ROWS = (("Ir", "instructions"), ("L1", "L1 misses"), ("LL", "last-level misses"), ("cycles", "estimated cycles"))

CHILD = r"""
import json, os, socket, sys
artifact, invocations, invoke = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
sys.path.insert(0, artifact)
import handler.app as app
CONTEXT_CLASS
event = json.loads(os.environ["BENCH_EVENT"])
refills = socket.create_connection(("127.0.0.1", int(os.environ["BENCH_REFILL_PORT"])))
lines = bytearray(THRASH_BYTES)
chunk = b"\x01" * 65536
for n in range(WARM_UP + invocations):
    refills.sendall(b"r")
    refills.recv(1)
    if n < WARM_UP or invoke:
        result = app.lambda_handler(event, BenchContext())
        if not result["ok"]:
            raise SystemExit(json.dumps(result)[:2000])
    for offset in range(0, len(lines), 65536):  # every cache line written: nothing of the invocation stays
        lines[offset : offset + 65536] = chunk
os._exit(0)
"""


def child_source() -> str:
    return (
        CHILD.replace("CONTEXT_CLASS", inspect.getsource(BenchContext))
        .replace("THRASH_BYTES", str(THRASH_BYTES))
        .replace("WARM_UP", str(WARM_UP))
    )


def summary(path: Path) -> dict[str, int]:
    events: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("summary:"):
            return dict(zip(events, map(int, line.split()[1:]), strict=True))
    raise SystemExit(f"no summary in {path}")


def measure(artifacts: dict[str, Path], invocations: int) -> dict[str, dict[str, float]]:
    source = child_source()
    with tempfile.TemporaryDirectory(prefix="cold-cache-") as scratch, Emulator(demo_project, refill) as emulator:
        runs: dict[tuple[str, str], tuple[subprocess.Popen[bytes], Path]] = {}
        for side, artifact in artifacts.items():
            for invoke in ("0", "1"):
                out = Path(scratch) / f"{side}.{invoke}"
                command = ["valgrind", "--tool=cachegrind", "--cache-sim=yes", *CACHES, f"--cachegrind-out-file={out}"]
                command += [*INTERPRETER, "-c", source, str(artifact.resolve()), str(invocations), invoke]
                env = {**child_environment(emulator, WARM, "warm", scratch), "PYTHONHASHSEED": "0"}
                process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
                runs[side, invoke] = process, out
        for (side, invoke), (process, _) in runs.items():
            _, errors = process.communicate()
            if process.returncode != 0:
                raise SystemExit(f"{side} ({invoke}) failed:\n{errors.decode()[-3000:]}")
        results = {}
        for side in artifacts:
            served, idle = summary(runs[side, "1"][1]), summary(runs[side, "0"][1])
            d = {name: (served[name] - idle[name]) / invocations for name in served}
            l1 = d["I1mr"] + d["D1mr"] + d["D1mw"]
            last = d["ILmr"] + d["DLmr"] + d["DLmw"]
            results[side] = {"Ir": d["Ir"], "L1": l1, "LL": last, "cycles": d["Ir"] + 10 * l1 + 100 * last}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invocations", type=int, default=20, help="measured invocations per process (default 20)")
    parser.add_argument(
        "artifacts", nargs="*", metavar="NAME=DIR", help=f"default: ours and baseline under {BUILD.relative_to(ROOT)}"
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    pairs = args.artifacts or [f"{side}={BUILD / f'{side}-{HOST_PLATFORM}'}" for side in ("ours", "baseline")]
    artifacts = {name: Path(directory) for name, _, directory in (pair.partition("=") for pair in pairs)}
    for name, directory in artifacts.items():
        if not (directory / "handler" / "app.py").is_file():
            raise SystemExit(f"{name}: {directory} is not a built artifact (make bench-sdk builds them)")
    results = measure(artifacts, args.invocations)
    first, others = next(iter(results)), list(results)[1:]
    print("| per warm invocation, cold caches | " + " | ".join([*results, *(f"{first} / {o}" for o in others)]) + " |")
    print("|---|" + "---:|" * (len(results) + len(others)))
    for key, label in ROWS:
        values = [f"{results[side][key] / 1e3:,.1f} k" for side in results]
        ratios = [f"{results[first][key] / results[other][key]:.3f}" for other in others]
        print(f"| {label} | " + " | ".join(values + ratios) + " |")
    print(json.dumps(results), file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())

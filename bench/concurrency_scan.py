"""How many requests in flight a sweep should use: `python bench/concurrency_scan.py` (a few minutes).

The sweep benchmark's sweep (bench/sweep_benchmark.py: 500 groups, 40 with failed tasks, 50 ms
latency, against the emulator in a process of its own) run by the function at each concurrency,
in alternating rounds; wall time against the ideal ((listing + requests / concurrency) x latency)
and the process's CPU per request. Prints a Markdown table (kept in BENCHMARKS.md by hand).
"""

from __future__ import annotations

import statistics
import sys
import time

import sweep_benchmark as sweep
from common import Emulator, X, machine

LEVELS = (4, 8, 16, 24, 32, 48, 64)
ROUNDS = 3


def main() -> int:
    started = time.monotonic()
    runs: dict[int, list[sweep.Run]] = {level: [] for level in LEVELS}
    with Emulator(sweep.sweep_project) as emulator:
        for _ in range(ROUNDS):
            for level in LEVELS:
                runs[level].append(sweep.measure(emulator, "function", level))
    host = machine()
    print("| concurrency | wall s, warm (median) | ideal s | ratio to ideal | CPU per request ms | max in flight |")
    print("|---:|---:|---:|---:|---:|---:|")
    for level in LEVELS:
        warm = statistics.median(run.wall for run in runs[level])
        cpu = statistics.median(run.cpu / run.requests * 1000 for run in runs[level])
        ideal = sweep.ideal(level)
        in_flight = max(run.max_in_flight for run in runs[level])
        print(f"| {level} | {warm:.3f} | {ideal:.3f} | {warm / ideal:.2f}{X} | {cpu:.2f} | {in_flight} |")
    print(f"\n{ROUNDS} rounds, alternating; {host['cpu']}; {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

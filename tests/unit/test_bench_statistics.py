"""The benchmark's interval for a ratio of medians (bench/common.py, `ratio_interval`): the
column of `make bench-sdk --baseline`'s table that says whether a target is met with room to
spare or only in this run. bench/common.py is loaded from its path (it is standard library only),
under a name of its own, leaving sys.path alone."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from statistics import median

import pytest

COMMON = Path(__file__).resolve().parents[2] / "bench" / "common.py"
_spec = importlib.util.spec_from_file_location("bench_common", COMMON)
assert _spec is not None
assert _spec.loader is not None
_common = sys.modules["bench_common"] = importlib.util.module_from_spec(_spec)  # its dataclasses look it up
_spec.loader.exec_module(_common)
ratio_interval = _common.ratio_interval


def bounds(text: str) -> tuple[float, float]:
    low, _, high = text.partition(" to ")
    return float(low), float(high)


def noisy_rounds(count: int, ratio: float, seed: int) -> tuple[list[float], list[float]]:
    """Rounds whose machine speed drifts (shared by both sides of a round) and whose processes scatter."""
    rng = random.Random(seed)  # noqa: S311 (test data, not a secret)
    before, after = [], []
    for _ in range(count):
        speed = rng.uniform(0.8, 1.3)
        before.append(3.0 * speed * rng.lognormvariate(0, 0.12))
        after.append(3.0 * ratio * speed * rng.lognormvariate(0, 0.12))
    return after, before


def test_rounds_with_one_ratio_give_that_ratio_as_both_bounds() -> None:
    before = [2.5, 3.1, 2.9, 4.0, 3.3]
    assert ratio_interval([0.8 * b for b in before], before) == "0.80 to 0.80"


def test_the_interval_holds_the_ratio_of_the_medians_and_the_true_ratio() -> None:
    after, before = noisy_rounds(25, 0.82, seed=1)
    low, high = bounds(ratio_interval(after, before))
    assert low < median(after) / median(before) < high
    assert low < 0.82 < high
    assert high - low > 0.02  # scattered processes leave room for doubt


def test_more_rounds_narrow_the_interval() -> None:
    widths = []
    for count in (7, 25, 100):
        low, high = bounds(ratio_interval(*noisy_rounds(count, 0.82, seed=2)))
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]


def test_one_runs_data_gives_one_text() -> None:
    after, before = noisy_rounds(25, 0.82, seed=3)
    assert ratio_interval(after, before) == ratio_interval(list(after), list(before))


def test_rounds_must_pair() -> None:
    with pytest.raises(ValueError, match="shorter"):
        ratio_interval([1.0, 2.0], [1.0])

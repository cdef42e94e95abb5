"""Fair sweeps: a project too big for one run is still reached in full.

A sweep starts at `handler.core.sweep_start(scheduled time, SDRS_SWEEP_ROTATION_HOURS, wall
clock)` of its sorted groups (the fraction the domain turns into index int(N * start)). The
bound: runs every P hours, window W hours (defaults: hourly, 24 h); if each run gets through
at least ceil(N * P / W) groups from its start (wrapping round), every group is reached within
ceil(W / P) consecutive runs, whenever the first of them is. With the rotation off
(SDRS_SWEEP_ROTATION_HOURS=0) every run starts at the first group: the tail is never reached.

Then, end to end through the Lambda edge against the in-memory SDRS API: two scheduled sweeps
whose `time` fields differ start auditing at different groups, and both report the groups by id.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handler.app import lambda_handler
from handler.core import Runtime, sweep_start
from handler.settings import number_default
from tests.clock import ManualClock
from tests.event_model import scheduled_event
from tests.fake_sdrs import SWEEP_PROJECT_ID, FakeSdrs, sweep_group_ids

DEFAULT_WINDOW_HOURS = number_default("SDRS_SWEEP_ROTATION_HOURS")
EPOCH_DAY = datetime(2026, 11, 20, tzinfo=UTC)


def _never() -> float:
    """The wall clock, which the scheduled time overrides: a moment that would start every
    sweep at 0.37 of the way round, if it were used."""
    return 0.37 * DEFAULT_WINDOW_HOURS * 3600


def start_index(n: int, scheduled_at: str, window_hours: float) -> int:
    """The group a sweep starts at, as handler.cleanup turns the fraction into an index."""
    return int(n * sweep_start(scheduled_at, window_hours, _never)) % n


def scheduled_times(first: datetime, every: timedelta, runs: int) -> list[str]:
    return [(first + k * every).isoformat().replace("+00:00", "Z") for k in range(runs)]


def reached(n: int, starts: list[int], capacity: int) -> set[int]:
    """The groups runs starting at `starts` get through, `capacity` each, wrapping round."""
    return {(start + i) % n for start in starts for i in range(min(capacity, n))}


def runs_until_all_reached(n: int, first: datetime, every: timedelta, window_hours: float, capacity: int) -> int:
    """How many consecutive runs, from `first`, until every group was reached (looking as far as
    10 windows, or 30 days of runs with the rotation off); more than that: never."""
    seen: set[int] = set()
    limit = 10 * math.ceil(window_hours * 3600 / every.total_seconds()) or math.ceil(timedelta(days=30) / every)
    for k, when in enumerate(scheduled_times(first, every, limit), start=1):
        seen |= reached(n, [start_index(n, when, window_hours)], capacity)
        if len(seen) == n:
            return k
    return limit + 1  # never


def share(n: int, every: timedelta, window_hours: float) -> int:
    return math.ceil(n * every.total_seconds() / (window_hours * 3600))


# (N, run interval, window hours): N prime, N smaller than the runs in a window, N a multiple of
# them, intervals that divide the window and one that does not (5 h into 24 h).
CASES = [
    (1, timedelta(hours=1), DEFAULT_WINDOW_HOURS),
    (7, timedelta(hours=1), DEFAULT_WINDOW_HOURS),
    (24, timedelta(hours=1), DEFAULT_WINDOW_HOURS),
    (48, timedelta(hours=1), DEFAULT_WINDOW_HOURS),
    (97, timedelta(hours=1), DEFAULT_WINDOW_HOURS),
    (500, timedelta(hours=1), DEFAULT_WINDOW_HOURS),
    (1009, timedelta(hours=1), DEFAULT_WINDOW_HOURS),
    (333, timedelta(minutes=15), DEFAULT_WINDOW_HOURS),
    (1000, timedelta(minutes=10), DEFAULT_WINDOW_HOURS),
    (250, timedelta(hours=2), DEFAULT_WINDOW_HOURS),
    (101, timedelta(hours=5), DEFAULT_WINDOW_HOURS),
    (61, timedelta(hours=1), 12.0),
    (4999, timedelta(hours=6), 168.0),
]
# Where the first run of the sequence falls: on the hour, mid-window, off the hour, near the end.
FIRST_RUNS = [
    EPOCH_DAY,
    EPOCH_DAY + timedelta(hours=13),
    EPOCH_DAY + timedelta(hours=7, minutes=17, seconds=3),
    EPOCH_DAY + timedelta(hours=23, minutes=59, seconds=59),
]


@pytest.mark.parametrize(("n", "every", "window_hours"), CASES)
@pytest.mark.parametrize("first", FIRST_RUNS, ids=lambda d: d.strftime("%H%M%S"))
def test_each_run_doing_its_share_reaches_every_group_within_a_window(
    n: int, every: timedelta, window_hours: float, first: datetime
) -> None:
    runs_in_window = math.ceil(window_hours * 3600 / every.total_seconds())
    capacity = share(n, every, window_hours)
    assert runs_until_all_reached(n, first, every, window_hours, capacity) <= runs_in_window
    # ... and every window of consecutive runs does it, not only the first one.
    for k in range(runs_in_window):
        later = first + k * every
        assert runs_until_all_reached(n, later, every, window_hours, capacity) <= runs_in_window


@pytest.mark.parametrize(("n", "every", "window_hours"), CASES)
def test_the_starts_are_spread_round_the_groups(n: int, every: timedelta, window_hours: float) -> None:
    """The reason the bound holds: within a window, going round the groups from one start to
    the next (and from the last back to the first) never steps over more than the share."""
    runs_in_window = math.ceil(window_hours * 3600 / every.total_seconds())
    starts = sorted({start_index(n, t, window_hours) for t in scheduled_times(EPOCH_DAY, every, runs_in_window)})
    gaps = [b - a for a, b in zip(starts, [*starts[1:], starts[0] + n], strict=True)]
    assert max(gaps) <= share(n, every, window_hours)


def test_a_run_doing_less_than_its_share_can_miss_groups() -> None:
    """The share cannot be less: one group fewer a run than it (here 1 instead of 2 of 48
    groups, hourly) and a window's runs do not add up to the project, whatever their starts."""
    assert runs_until_all_reached(48, EPOCH_DAY, timedelta(hours=1), DEFAULT_WINDOW_HOURS, 1) > 24


@pytest.mark.parametrize(("n", "capacity"), [(2, 1), (97, 5), (500, 499)])
def test_with_the_rotation_off_the_tail_is_never_reached(n: int, capacity: int) -> None:
    """SDRS_SWEEP_ROTATION_HOURS=0: every run starts at the first group, whatever its time, so
    a project bigger than a run's reach keeps its last groups uncleaned for ever."""
    times = scheduled_times(EPOCH_DAY + timedelta(minutes=3), timedelta(hours=1), 24 * 30)
    assert {start_index(n, t, 0) for t in times} == {0}
    assert runs_until_all_reached(n, EPOCH_DAY, timedelta(hours=1), 0, capacity) > 24 * 30
    assert n - 1 not in reached(n, [start_index(n, t, 0) for t in times], capacity)


def test_the_default_window_is_a_day() -> None:
    assert DEFAULT_WINDOW_HOURS == 24
    assert sweep_start("2026-11-20T00:00:00Z", 24, _never) == 0.0
    assert sweep_start("2026-11-20T06:00:00Z", 24, _never) == 0.25
    assert sweep_start("2026-11-21T18:00:00Z", 24, _never) == 0.75


# --- end to end ---------------------------------------------------------------------------------

P = SWEEP_PROJECT_ID
IDS = sorted(sweep_group_ids(10, "fair"))


@pytest.fixture
def project(sdrs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, fake_sdrs: FakeSdrs) -> list[str]:
    """A timer-swept project of 10 groups, 2 failed tasks each, listed in reverse order; every
    request takes 1 s of the handler's (manual) clock, one request at a time, with explicit
    margins so what is reached is exact. The rotation is at its default (24 h)."""
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", P)
    monkeypatch.setenv("SDRS_SERVER_GROUP_IDS", "all")
    monkeypatch.setenv("SDRS_MAX_CONCURRENCY", "1")
    monkeypatch.setenv("SDRS_GROUP_START_MARGIN_SECONDS", "5")
    monkeypatch.setenv("SDRS_DEADLINE_MARGIN_SECONDS", "2")
    for gid in reversed(IDS):
        fake_sdrs.add_group(P, gid, 2)
    return IDS


def _scheduled(at: str) -> dict[str, Any]:
    event = scheduled_event()
    event["time"] = at
    return event


def test_two_scheduled_sweeps_start_at_different_groups_and_report_by_id(
    project: list[str],
    fake_sdrs: FakeSdrs,
    runtime: Runtime,
    handler_clock: ManualClock,
    lambda_context: Any,
) -> None:
    """16 s left less the 2 s margin: 14 s. The listing takes 1 s; audits need twice the 5 s
    start margin, so four start (13, 12, 11, 10 s left), then the rest are deferred. At 00:00
    the sweep starts at the first group; at 12:00, half way round the day, at the sixth."""
    fake_sdrs.on_request = lambda request: handler_clock.advance(1.0)
    lambda_context.remaining_millis = 16_000
    seen: dict[str, list[str]] = {}
    for at, start in (("2026-11-20T00:00:00Z", 0), ("2026-11-20T12:00:00Z", 5)):
        earlier = len(fake_sdrs.calls(kind="failure_jobs"))
        result = lambda_handler(_scheduled(at), lambda_context, runtime=runtime)

        audited = [r.server_group_id or "" for r in fake_sdrs.calls(kind="failure_jobs")[earlier:]]
        expected = [project[(start + i) % len(project)] for i in range(4)]
        assert audited == expected
        assert [g["server_group_id"] for g in result["groups"]] == project  # by id, wherever it started
        outcomes = {g["server_group_id"]: g["outcome"] for g in result["groups"]}
        assert {gid for gid, outcome in outcomes.items() if outcome != "deferred"} == set(expected)
        assert result["summary"]["deferred"] == len(project) - 4
        seen[at] = audited
    first, second = seen.values()
    assert first[0] != second[0]
    assert not set(first) & set(second)  # together, 8 of the 10 groups were reached

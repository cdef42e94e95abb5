"""The tests' one fake clock."""

from __future__ import annotations

import threading


class ManualClock:
    """A monotonic clock that moves only when a test says so (thread-safe): `clock()` is
    the time, `advance(s)` moves it on, and `sleep(s)` (a fake `time.sleep`) records `s` in
    `sleeps` and moves it on too."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    @property
    def now(self) -> float:
        return self()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds

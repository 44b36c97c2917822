"""Clocks: the wall clock for real runs, a virtual one for simulated runs.

Everything that waits (the runner's polls, the simulator's resource lifecycles) asks a
Clock for the time and sleeps on it, so a dry run can replay a ten-minute lab in a moment
while still reporting the minutes it would have taken.
"""
import threading
import time


class WallClock:
    virtual = False

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class VirtualClock:
    """Time moves only when someone sleeps: sleep(s) advances now() by s at once."""

    virtual = True

    def __init__(self, start: float = 0.0):
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._now += seconds

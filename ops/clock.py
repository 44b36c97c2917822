"""Clocks: the wall clock for real runs, a virtual one for simulated runs.

Everything that waits (the runner's polls, retries' backoff, the simulator's resource
lifecycles) asks a clock for the time and sleeps on it, so a dry run can replay a
ten-minute lab in a moment while still reporting the minutes it would have taken.

The virtual clock is a discrete-event clock that works with threads: time jumps to the
earliest wake-up only when every thread that takes part is asleep (or blocked waiting on
the others), so concurrent steps see the same timeline they would see in AWS.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from contextlib import contextmanager
from typing import Callable, ContextManager, Iterator, List, Protocol, Set, Tuple

calendar: Callable[[], float] = time.time  # the one calendar ops reads; a test may move it


def wall_time() -> float:
    """Seconds since the epoch, now: what expiries and ages are measured on (every module
    imports this function; tests replace `calendar` instead of sleeping)."""
    return calendar()


class Clock(Protocol):
    """What everything that waits asks (WallClock, VirtualClock)."""

    virtual: bool

    def now(self) -> float: ...

    def wall(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def task_submitted(self) -> None: ...

    def task_done(self) -> None: ...

    def blocked(self) -> ContextManager[None]: ...


class WallClock:
    virtual = False

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return wall_time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def task_submitted(self) -> None:
        pass

    def task_done(self) -> None:
        pass

    @contextmanager
    def blocked(self) -> Iterator[None]:
        yield


class VirtualClock:
    """Time moves only when all participants sleep; then it jumps to the earliest wake-up.

    Participants: the thread that created the clock, plus one per task announced with
    task_submitted() (call it before handing work to a thread, and task_done() when that
    work ends). A participant that waits for others (not on the clock) wraps the wait in
    blocked().
    """

    virtual = True

    def __init__(self, start: float = 0.0):
        self._now = start
        self._epoch = wall_time() - start  # wall() at `start` is the calendar's now
        self._cond = threading.Condition()
        self._active = 1
        self._sleepers: List[Tuple[float, int]] = []  # heap of (wake_time, seq)
        self._released: Set[int] = set()
        self._seq = itertools.count()

    def now(self) -> float:
        with self._cond:
            return self._now

    def wall(self) -> float:
        """The calendar's time as this clock sees it: simulated time passes on it too (a
        dry-run lab kept with --ttl 2h expires 2 h after its simulated end)."""
        with self._cond:
            return self._epoch + self._now

    def sleep(self, seconds: float) -> None:
        with self._cond:
            if seconds <= 0:
                return
            ticket = next(self._seq)
            heapq.heappush(self._sleepers, (self._now + seconds, ticket))
            self._active -= 1
            self._advance()
            while ticket not in self._released:
                self._cond.wait()
            self._released.discard(ticket)

    def advance_to(self, t: float) -> None:
        """Jump forward to `t` (never back), before anyone sleeps on the clock: a simulated
        account reopened by a new process resumes at the time it was left at."""
        with self._cond:
            jump = max(0.0, t - self._now)
            self._now += jump
            self._epoch -= jump  # a resumed account's past is not this process's future

    def align_wall(self, calendar: float) -> None:
        """Make wall() read `calendar` now: a dry run reads the simulated account's calendar,
        so the expiries it writes and the schedules the account runs agree."""
        with self._cond:
            self._epoch = calendar - self._now

    def task_submitted(self) -> None:
        with self._cond:
            self._active += 1

    def task_done(self) -> None:
        with self._cond:
            self._active -= 1
            self._advance()

    @contextmanager
    def blocked(self) -> Iterator[None]:
        with self._cond:
            self._active -= 1
            self._advance()
        try:
            yield
        finally:
            with self._cond:
                self._active += 1

    def _advance(self) -> None:
        """With nobody awake, wake the earliest sleeper (and any due at the same instant)."""
        if self._active > 0 or not self._sleepers:
            return
        wake, _ = self._sleepers[0]
        self._now = max(self._now, wake)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, ticket = heapq.heappop(self._sleepers)
            self._released.add(ticket)
            self._active += 1
        self._cond.notify_all()

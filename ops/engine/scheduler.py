"""Threads on a clock: the one place ops runs its work on threads and keeps the clock's count.

Two tools, used by the runner (apply, teardown) and by runs of many lab copies:

- `Pool` runs callables on threads, at most `limit` at once, and `join()` waits for them
  all, then raises the first exception any of them raised (KeyboardInterrupt included).
  `run_each` is the usual way to use one: an action per item, one item on this thread.
- `run_graph` runs the nodes of a dependency graph on threads: a node starts once its
  readiness predicate holds over the phases the others have posted ("created", say, then
  "done" or "failed"); after a failure, or once `stop` gives a reason, nothing new starts,
  the running nodes finish, and the first failure is raised.

The clock's bookkeeping (see ops/clock.py) is done here and nowhere else. A thread is
announced (`task_submitted`) before it starts, and ends its task (`task_done`) in a
`finally`, whatever its callable raised. A task waiting for a pool slot has no thread yet, so
it holds nothing; the thread that frees a slot starts the next task before its own task
ends. A posted phase counts as a task until the scheduling thread has handled it, so
simulated time stands still until the nodes it makes ready have started: dependants start
at the simulated instant their inputs appeared. Every wait for other threads (a join, the
next phase) is inside `clock.blocked()`. The thread that calls `join()` or `run_graph()`
must take part in the clock itself: the clock's creating thread, or a thread started here.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Set, Tuple, TypeVar

from ..clock import Clock

T = TypeVar("T")

# the phases run_graph posts itself when a node's work returns or raises
DONE = "done"
FAILED = "failed"


class Pool:
    """Callables on threads, at most `limit` running at once (None: no limit), on a clock."""

    def __init__(self, clock: Clock, limit: Optional[int] = None):
        if limit is not None and limit < 1:
            raise ValueError(f"a pool runs at least one task at a time, not {limit}")
        self._clock = clock
        self._limit = limit
        self._cond = threading.Condition()
        self._waiting: Deque[Tuple[str, Callable[[], Any]]] = deque()
        self._running = 0  # tasks holding a slot
        self._unfinished = 0  # tasks started, waiting or running, whose callable has not ended
        self._errors: List[BaseException] = []

    def start(self, name: str, fn: Callable[[], Any]) -> None:
        """Run fn() on a thread called `name`, now if a slot is free, else when one is."""
        with self._cond:
            self._unfinished += 1
            if self._limit is not None and self._running >= self._limit:
                self._waiting.append((name, fn))
                return
            self._running += 1
        self._launch(name, fn)

    def join(self) -> None:
        """Wait for every task started so far; then raise the first exception one raised."""
        with self._clock.blocked():
            with self._cond:
                while self._unfinished:
                    self._cond.wait()
        if self._errors:
            raise self._errors[0]

    def _launch(self, name: str, fn: Callable[[], Any]) -> None:
        self._clock.task_submitted()  # the new thread takes part in the clock from now on
        try:
            threading.Thread(target=self._body, args=(fn,), name=name, daemon=True).start()
        except BaseException as exc:  # noqa: BLE001 - no thread: join() raises it
            self._clock.task_done()
            self._ended(exc)

    def _body(self, fn: Callable[[], Any]) -> None:
        error: Optional[BaseException] = None
        try:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - join() raises it
                error = exc
            self._ended(error)  # may start the next task: counted before this one stops counting
        finally:
            self._clock.task_done()

    def _ended(self, error: Optional[BaseException]) -> None:
        with self._cond:
            if error is not None:
                self._errors.append(error)
            following = self._waiting.popleft() if self._waiting else None
            if following is None:
                self._running -= 1  # else the slot passes straight to the following task
            self._unfinished -= 1
            self._cond.notify_all()
        if following is not None:
            self._launch(*following)


def run_each(
    clock: Clock,
    items: Sequence[T],
    action: Callable[[T], Any],
    name: Callable[[T], str],
    limit: Optional[int] = None,
) -> None:
    """action(item) for every item, each on a thread called name(item), at most `limit` at
    once; a single item runs on this thread. Raises the first exception an action raised,
    once every action has ended."""
    if len(items) == 1:
        action(items[0])
        return
    pool = Pool(clock, limit)
    for item in items:
        pool.start(name(item), functools.partial(action, item))
    pool.join()


def run_graph(
    clock: Clock,
    nodes: Sequence[str],
    work: Callable[[str, Callable[[str], None]], T],
    ready: Callable[[str, Mapping[str, str]], bool],
    stop: Callable[[], Optional[BaseException]] = lambda: None,
    thread_prefix: str = "node-",
) -> Dict[str, T]:
    """Run work(node, post) for every node, each on a thread called thread_prefix + node.

    A node starts (in the order of `nodes`) once ready(node, phases) holds, `phases` being
    each started node's latest phase: what its work posted with post(phase), then DONE when
    work returned or FAILED when it raised. Before starting anything, while nothing has
    failed, stop() is asked for a reason to start nothing new (an exception, or None).
    After a failure or a stop reason, running nodes finish and the first of them is raised.
    Returns each node's result, in the order they finished.
    """
    events: "queue.Queue[Tuple[str, str, Optional[BaseException], Any]]" = queue.Queue()
    phases: Dict[str, str] = {}
    results: Dict[str, Any] = {}
    started: Set[str] = set()
    failures: List[BaseException] = []

    def post(node: str, phase: str, error: Optional[BaseException] = None, result: Any = None) -> None:
        clock.task_submitted()  # released by the scheduling thread once it has handled the phase
        events.put((node, phase, error, result))

    def body(node: str) -> None:
        try:
            try:
                result = work(node, lambda phase: post(node, phase))
            except BaseException as exc:  # noqa: BLE001 - posted, then raised by run_graph
                post(node, FAILED, exc)
            else:
                post(node, DONE, None, result)
        finally:
            clock.task_done()

    while True:
        if not failures:
            reason = stop()
            if reason is not None:
                failures.append(reason)
        if not failures:
            for node in nodes:
                if node not in started and ready(node, phases):
                    started.add(node)
                    clock.task_submitted()
                    try:
                        threading.Thread(target=body, args=(node,), daemon=True, name=thread_prefix + node).start()
                    except BaseException:
                        clock.task_done()
                        raise
        running = [node for node in started if phases.get(node) not in (DONE, FAILED)]
        if not running:
            if failures or len(started) == len(nodes):
                break
            raise RuntimeError(
                f"nothing can start: {', '.join(n for n in nodes if n not in started)} wait(s) on "
                "each other or on a node that is not in the graph"
            )
        with clock.blocked():
            node, phase, error, result = events.get()
        phases[node] = phase
        if error is not None:
            failures.append(error)
        if phase == DONE:
            results[node] = result
        clock.task_done()  # the phase is handled: the nodes it made ready start before time moves
    if failures:
        raise failures[0]
    return results

"""One describe call serves every waiter of a kind.

When many labs run in one process (`ops run --count 50`), each waits on its own cluster,
environment or instance, and each would describe its own resource on its own schedule: 50
DescribeCacheClusters every few seconds where one listing says it all. A `SharedDescribe`
per kind of resource, kept on the run's Aws (`shared_describe`), answers them together:
a waiter registers the id it waits on (`watching`), and when it polls asks for its
resource's answer (`answer`). An answer fetched at most `max_age` seconds ago on the run's
clock (or a call in flight that will cover the id) serves it; otherwise it makes one call
covering every id registered when the call is sent, through the kind's `fetch`, and the
waiters that come later in the same instant (or within `max_age`) share it. A wait's first
look (right after its create or delete call, when labs arrive one by one, spread by the
rate limits) holds its call back `gather` seconds, so the other labs' first looks meanwhile
go in the same call rather than one call each (a lab alone never waits for it).

Each waiter keeps its own schedule and its own acceptors: the answer is its resource's
slice of the call, in the shape of a call for that one resource, or the error such a call
would have raised (not found). An error of the call itself (throttling, a transient failure, a denial) is the
answer for every id it covered: raised to each waiter that shares it, as wait_until expects
from a check, so throttled waiters back off together instead of each trying again.

An answer is only ever for ids with a waiter: when an id's last waiter leaves, its answer
is forgotten, and a call that started before the id was (re-)registered does not answer
for it, so a wait that starts after a change (a delete call) never sees a status from
before it.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

# An answer this old (seconds on the run's clock) still serves a waiter: labs started
# together poll within seconds of each other (the rate limits spread their create calls),
# and a status three seconds old adds at most three seconds to noticing readiness, against
# the 5 s between a waiter's own polls.
MAX_AGE = 3.0
# How long a wait's first look holds its call back for other labs' first looks, when other
# waits on the kind are registered (a lab alone never waits for it): one second gathers five
# Cloud9 environments (created at 5 a second), at the cost of a second on a first look that
# almost always says "creating".
GATHER = 1.0

# per id: the response of a describe call for that resource alone, or the error it raises
Answer = Any
Fetch = Callable[[List[str]], Dict[str, Answer]]


@dataclass
class _Call:
    """One describe call: the ids it covers, each with its registration's generation (set
    when it is sent: until then, every waiter registered joins it)."""

    ids: Dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    done: bool = False
    answers: Dict[str, Answer] = field(default_factory=dict)
    joiners: int = 0  # waiters of other threads waiting for it


class SharedDescribe:
    """The describe calls of one kind of resource, shared by every waiter on that kind."""

    def __init__(self, clock, fetch: Fetch, max_age: float = MAX_AGE, gather: float = GATHER):
        """fetch(ids) -> {id: answer} for every id: one describe (or listing) covering them."""
        self.clock = clock
        self.fetch = fetch
        self.max_age = max_age
        self.gather = gather
        self._cond = threading.Condition()
        self._waiters: Dict[str, int] = {}  # id -> how many waits are on it now
        self._generation: Dict[str, int] = {}  # id -> bumped each time it gains its first waiter
        self._answers: Dict[str, Tuple[float, Answer]] = {}  # id -> (when fetched, answer)
        self._call: Optional[_Call] = None  # the call being gathered or in flight

    @contextmanager
    def watching(self, resource_id: str) -> Iterator[None]:
        """Register a wait on `resource_id` for the duration of the block."""
        with self._cond:
            if not self._waiters.get(resource_id):
                self._generation[resource_id] = self._generation.get(resource_id, 0) + 1
            self._waiters[resource_id] = self._waiters.get(resource_id, 0) + 1
        try:
            yield
        finally:
            with self._cond:
                self._waiters[resource_id] -= 1
                if not self._waiters[resource_id]:
                    del self._waiters[resource_id]
                    self._answers.pop(resource_id, None)

    def answer(self, resource_id: str) -> Answer:
        """The answer for `resource_id` (registered with `watching`), at most max_age old:
        its response, else its error (raised); an error of the whole call is raised too."""
        while True:
            with self._cond:
                if resource_id not in self._waiters:
                    raise RuntimeError(f"answer({resource_id!r}) asked outside watching({resource_id!r})")
                generation = self._generation[resource_id]
                cached = self._answers.get(resource_id)
                if cached is not None and self.clock.now() - cached[0] <= self.max_age:
                    return _given(cached[1])
                call = self._call
                mine = call is None
                if call is None:
                    call = self._call = _Call()
                else:
                    call.joiners += 1
                first_look = cached is None and len(self._waiters) > 1  # others may look too
            if mine:
                self._make(call, gather=first_look)
            else:
                self._join(call)
            if call.ids.get(resource_id) == generation and resource_id in call.answers:
                return _given(call.answers[resource_id])
            # the call did not cover this wait (sent before it began, or cut short): ask again

    def _make(self, call: _Call, gather: bool) -> None:
        answers: Dict[str, Answer] = {}
        try:
            if gather:
                self.clock.sleep(self.gather)
            with self._cond:
                call.ids = {resource_id: self._generation[resource_id] for resource_id in sorted(self._waiters)}
                call.started = self.clock.now()
            try:
                answers = self.fetch(list(call.ids))
            except Exception as exc:  # noqa: BLE001 - the call's error is the answer for every id it covered
                answers = dict.fromkeys(call.ids, exc)
        finally:
            with self._cond:
                call.answers = answers
                call.done = True
                self._call = None
                for resource_id, answer in answers.items():  # none when the call was cut short (Ctrl-C)
                    if resource_id in self._waiters and self._generation[resource_id] == call.ids[resource_id]:
                        self._answers[resource_id] = (call.started, answer)
                for _ in range(call.joiners):  # each counts on the clock from now, until it has woken
                    self.clock.task_submitted()
                self._cond.notify_all()

    def _join(self, call: _Call) -> None:
        """Wait for another thread's call (simulated time may pass meanwhile); the caller
        counted this thread on the clock again when it ended, so time stands still until this
        thread has taken its answer."""
        with self.clock.blocked():
            with self._cond:
                while not call.done:
                    self._cond.wait()
        self.clock.task_done()


def _given(answer: Answer) -> Answer:
    if isinstance(answer, BaseException):  # raised afresh each time: its traceback is this waiter's
        raise answer.with_traceback(None)
    return answer


def shared_describe(aws, kind: str, fetch: Callable[[Any, List[str]], Dict[str, Answer]]) -> SharedDescribe:
    """The SharedDescribe of `kind` on this Aws (made on first use): every lab of a run
    shares its Aws, so every waiter on that kind shares its calls. fetch(aws, ids)."""
    return aws.shared(kind, lambda: SharedDescribe(aws.clock, lambda ids: fetch(aws, ids)))


def not_found(client, operation: str, code: str, message: str) -> BaseException:
    """The error a describe call for one missing resource raises (the client's modeled
    exception for `code` where the service models one), for an id a shared call did not list."""
    error = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 404}}
    return client.exceptions.from_code(code)(error, operation)

"""What a step type sees while it works: AWS clients, the clock, the record, progress."""

from __future__ import annotations

import contextlib
import copy
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Collection, ContextManager, Dict, List, Optional, Tuple

from ..clock import Clock
from ..errors import Interrupted
from ..interrupts import stop_requested
from ..model import TAG_CREATED, TAG_EXPIRES, TAG_LAB, TAG_RUN, TAG_STEP, Resource, base_kind, tag_time
from ..output import Reporting
from ..waiting import Schedule, wait_until
from .account_wide import AccountWide
from .wait_history import Expectation, WaitHistory, expectation

if TYPE_CHECKING:  # the engine's own modules, for types only (the state imports nothing of this)
    from ..aws import Aws
    from .state import RunState


class StepContext:
    def __init__(
        self,
        *,
        aws: "Aws",
        clock: Clock,
        state: Optional["RunState"],  # None: a plan, which records nothing
        reporter: Reporting,
        settings: Dict[str, Any],
        lab: str,
        step: str,
        step_type: str,
        timeout: float,
        kinds: Optional[Collection[str]] = None,
        waits: Optional[WaitHistory] = None,
    ):
        """kinds: the resource kinds the step type declares (StepType.kinds); recording any
        other is a bug in the step type, caught here rather than by a sweep that cannot
        find it. waits: what earlier runs' waits took, and where this run's go (None: the
        configured and built-in expectations, nothing learned)."""
        self.aws = aws
        self.clock = clock
        self.state = state
        self.reporter = reporter
        self.settings = settings
        self.lab = lab
        self.step = step
        self.step_type = step_type
        self.timeout = timeout
        self.kinds = kinds
        self.waits = waits
        self.started = clock.now()
        self.finishing = False  # teardown waits are not cut short by a stop request
        self.learning = True  # until the step resumes an earlier run's work: its waits then time only part of it
        # called with each resource recorded as created or resumed (the runner arms the dead
        # man's switch with it: ops/steps/deadman.py)
        self.on_created: Optional[Callable[["StepContext", Resource], None]] = None

    def acting_as(self, step_type: str, kinds: Collection[str], step: Optional[str] = None) -> "StepContext":
        """This context for another step type's resources, recorded under this step (or
        `step`): the dead man's switch records its schedules beside what they guard."""
        other = copy.copy(self)
        other.step_type, other.kinds, other.on_created = step_type, kinds, None
        other.step = step or self.step
        return other

    @property
    def record(self) -> "RunState":
        """The run's record (a plan has none, and records nothing)."""
        if self.state is None:
            raise RuntimeError(f"step {self.step} tried to use the record during a plan")
        return self.state

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def region(self) -> str:
        return self.aws.region

    @property
    def dry_run(self) -> bool:
        return self.aws.dry_run

    def client(self, service: str) -> Any:
        return self.aws.client(service)

    def call(self, operation: Callable[..., Any], **kwargs: Any) -> Any:
        return self.aws.call(operation, **kwargs)

    def tags(self) -> List[Dict[str, str]]:
        """The tags every resource ops creates carries: lab, run and step, and the run's
        expiry when it has one (what `ops sweep --expired` finds with no record)."""
        tags = [
            {"Key": TAG_LAB, "Value": self.lab},
            {"Key": TAG_RUN, "Value": self.run_id},
            {"Key": TAG_STEP, "Value": self.step},
            {"Key": TAG_CREATED, "Value": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        ]
        expires = self.record.data.get("expires_at")
        if expires:
            tags.append({"Key": TAG_EXPIRES, "Value": tag_time(expires)})
        return tags

    def is_ours(self, tags: List[Dict[str, str]]) -> bool:
        """Tagged by this lab's current run (so: made by it, perhaps before a crash)."""
        values = {t.get("Key"): t.get("Value") for t in tags or []}
        return values.get(TAG_LAB) == self.lab and values.get(TAG_RUN) == self.run_id

    # --- the record ----------------------------------------------------------------
    def find_recorded(self, kind: str) -> Optional[Resource]:
        """A live resource of this kind that this step already recorded (resume after a crash)."""
        return next((r for r in self.record.live() if r.step == self.step and r.kind == kind), None)

    def _declared(self, kind: str) -> None:
        if self.kinds is not None and base_kind(kind) not in self.kinds:
            raise RuntimeError(f"step type {self.step_type} records a {kind} but does not declare that kind")

    def _record_new(self, kind: str, resource_id: str, ours: bool, status: str, attrs: Dict[str, Any]) -> Resource:
        self._declared(kind)
        resource = Resource(
            step=self.step,
            type=self.step_type,
            kind=kind,
            id=resource_id,
            region=self.region,
            ours=ours,
            status=status,
            attrs=attrs,
        )
        self.record.record(resource)
        return resource

    def intend(self, kind: str, resource_id: str, **attrs: Any) -> Resource:
        """Record, before the create call, what is about to be created."""
        return self._record_new(kind, resource_id, True, "intent", attrs)

    def created(self, resource: Resource, verb: str = "created", **attrs: Any) -> Resource:
        if verb == "resumed":
            self.learning = False
        resource.status = "created"
        resource.attrs.update(attrs)
        self.record.record(resource)
        self.reporter.event("step_created", step=self.step, kind=resource.kind, id=resource.id, ours=True, verb=verb)
        if self.on_created is not None:
            self.on_created(self, resource)
        return resource

    def adopted(self, kind: str, resource_id: str, **attrs: Any) -> Resource:
        """Record something that existed before this run: used, never deleted."""
        resource = self._record_new(kind, resource_id, False, "adopted", attrs)
        self.reporter.event("step_created", step=self.step, kind=kind, id=resource_id, ours=False, verb="adopted")
        return resource

    def resumed_or_adopted(self, kind: str, resource_id: str, tags: List[Dict[str, str]], **attrs: Any) -> Resource:
        """Record one that exists already: this run's (tagged so: made before a crash, or by a
        create whose answer was lost) as created, anything else as adopted."""
        if self.is_ours(tags):
            return self.created(self.find_recorded(kind) or self.intend(kind, resource_id), verb="resumed", **attrs)
        return self.adopted(kind, resource_id, **attrs)

    def deleted(self, resource: Resource) -> None:
        resource.status = "deleted"
        self.record.record(resource)

    def handed_over(self, resource: Resource) -> None:
        """The piece is no longer this lab's to delete: another lab uses it, or ops no longer made it."""
        resource.status = "handed-over"
        self.record.record(resource)

    # --- pieces shared by every lab in the account (account_wide.py) ---------------
    def account_lock(self) -> ContextManager[None]:
        """Held around deciding that no lab uses an account-wide piece and deleting it, and
        around creating or adopting one and recording that; across the labs that share this
        record's store, in this process and others."""
        if self.state is None:  # a plan changes nothing
            return contextlib.nullcontext()
        return AccountWide.of(self.state.slot).held(self.clock)

    def recorded_elsewhere(self, kind: str, resource_id: str) -> List[Tuple[str, Dict[str, Any]]]:
        """(lab, row) for each other record in this record's store that uses this piece now."""
        slot = self.record.slot
        return AccountWide.of(slot).uses(kind, resource_id, slot, self.record.data["lab"], self.run_id)

    # --- waiting and progress ------------------------------------------------------
    def remaining(self) -> float:
        return max(0.0, self.timeout - (self.clock.now() - self.started))

    def expectation(self, key: str, size: str = "") -> Expectation:
        """How long the wait `key` (a key of `expected:`) for a resource of this size should
        take: the config's value, else what earlier runs took here, else the built-in one."""
        if self.waits is not None:
            return self.waits.expectation(self.settings, self.region, key, size)
        return expectation(self.settings, {}, self.region, key, size)

    def schedule(self, key: str, size: str = "") -> Schedule:
        return Schedule(expected=self.expectation(key, size).seconds)

    def wait(self, what: str, check: Callable[[], Tuple[str, str]], expected_key: str, *, size: str = "") -> str:
        """Poll check() on the schedule for expected_key until it succeeds. size: what makes
        this resource slower or faster than others of its kind (node type and engine,
        instance type), so that what is learned of one is not expected of another."""
        looks: deque = deque(maxlen=2)  # the elapsed time of the last two polls

        def on_poll(status: str, elapsed: float) -> None:
            looks.append(elapsed)
            self.reporter.event("step_waiting", step=self.step, what=what, status=status, elapsed=round(elapsed, 1))
            if self.finishing:
                return
            if self.record.problem is not None:
                raise self.record.problem
            if stop_requested.is_set():
                raise Interrupted(f"stopped while waiting for {what} ({status}).")

        status = wait_until(
            self.clock,
            check,
            what=what,
            timeout=self.remaining(),
            schedule=self.schedule(expected_key, size),
            on_poll=on_poll,
        )
        if self.waits is not None and self.learning and len(looks) == 2:  # one look: ready before the wait
            self.waits.add(self.region, expected_key, size, (looks[0] + looks[1]) / 2)
        return status

    def output(self, text: str) -> None:
        self.reporter.event("step_output", step=self.step, text=text)

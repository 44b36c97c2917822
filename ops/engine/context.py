"""What a step type sees while it works: AWS clients, the clock, the record, progress."""

import copy
import time
from typing import TYPE_CHECKING, Any, Callable, Collection, Dict, List, Optional, Tuple

from ..clock import Clock
from ..errors import Interrupted
from ..interrupts import stop_requested
from ..model import TAG_CREATED, TAG_EXPIRES, TAG_LAB, TAG_RUN, TAG_STEP, Resource, base_kind, tag_time
from ..output import Reporting
from ..waiting import Schedule, wait_until

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
    ):
        """kinds: the resource kinds the step type declares (StepType.kinds); recording any
        other is a bug in the step type, caught here rather than by a sweep that cannot
        find it."""
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
        self.started = clock.now()
        self.finishing = False  # teardown waits are not cut short by a stop request
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

    def deleted(self, resource: Resource) -> None:
        resource.status = "deleted"
        self.record.record(resource)

    # --- waiting and progress ------------------------------------------------------
    def remaining(self) -> float:
        return max(0.0, self.timeout - (self.clock.now() - self.started))

    def schedule(self, key: str) -> Schedule:
        expected = self.settings.get("expected", {}).get(key, 60)
        return Schedule(expected=float(expected))

    def wait(self, what: str, check: Callable[[], Tuple[str, str]], expected_key: str) -> str:
        def on_poll(status: str, elapsed: float) -> None:
            self.reporter.event("step_waiting", step=self.step, what=what, status=status, elapsed=round(elapsed, 1))
            if self.finishing:
                return
            if self.record.problem is not None:
                raise self.record.problem
            if stop_requested.is_set():
                raise Interrupted(f"stopped while waiting for {what} ({status}).")

        return wait_until(
            self.clock,
            check,
            what=what,
            timeout=self.remaining(),
            schedule=self.schedule(expected_key),
            on_poll=on_poll,
        )

    def output(self, text: str) -> None:
        self.reporter.event("step_output", step=self.step, text=text)

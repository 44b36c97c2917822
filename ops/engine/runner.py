"""Walks a playbook's steps, records what each made, and tears down from that record.

apply() runs the steps in order (each step's dependencies come before it). teardown()
needs nothing but the run's state: it deletes every live resource the run owns, newest
first, through the step type that created it, so it works from a fresh process.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Set

from ..aws import CREDENTIAL_HINTS, Aws, aws_failure, error_code, error_message, is_transient
from ..clock import Clock
from ..errors import Interrupted, StepFailed
from ..interrupts import stop_requested
from ..model import Resource
from ..output import Reporting
from ..steps import registry, resource_kinds
from ..steps.deadman import arm
from ..steps.deadman import prepare as prepare_switch
from ..steps.iam import Kept
from ..waiting import WaitFailed, WaitTimeout
from .context import StepContext
from .playbook import Playbook, Step, resolve_runtime
from .scheduler import DONE, run_graph
from .state import RunState
from .wait_history import WaitHistory

# what to do next, by AWS error code, for any step (a step type adds its own: StepType.hints)
HINTS = {
    "AccessDenied": "The credentials lack a permission this step needs: ask for it (see the step's permissions in 'ops steps').",
    "AccessDeniedException": "The credentials lack a permission this step needs: ask for it (see 'ops steps').",
    "UnauthorizedOperation": "The credentials lack a permission this step needs: ask for it (see 'ops steps').",
    "InvalidParameterValue": "A parameter was refused: check the values in the playbook and --var.",
}


def describe_failure(step: str, exc: BaseException, hints: Optional[Dict[str, str]] = None) -> StepFailed:
    """Turn whatever a step raised into one paragraph: step, AWS error, what to do (hints:
    its step type's, by error code)."""
    if isinstance(exc, StepFailed):
        return exc
    code = error_code(exc)
    if code and is_transient(exc):
        tries = 1 + getattr(exc, "response", {}).get("ResponseMetadata", {}).get("RetryAttempts", 0)
        return StepFailed(
            step,
            f"AWS kept answering {code} ({error_message(exc).rstrip('.')}) after {tries} tries.",
            "Wait a minute and re-run: the run resumes where it stopped. With many labs at once, lower "
            "--parallel or the rate_limits in your config.",
        )
    if code:
        return StepFailed(
            step,
            f"AWS answered {code}: {error_message(exc).rstrip('.')}.",
            (hints or {}).get(code)
            or HINTS.get(code)
            or CREDENTIAL_HINTS.get(code, "Fix the cause, then re-run: the run resumes where it stopped."),
        )
    if isinstance(exc, WaitTimeout):
        return StepFailed(
            step, f"timed out: {exc}.", "AWS can be slow: raise the step's 'timeout:' and re-run; the run resumes."
        )
    if isinstance(exc, WaitFailed):
        return StepFailed(step, f"{exc}.", "Look at the resource in the AWS console for the reason.")
    from botocore.exceptions import BotoCoreError

    if isinstance(exc, BotoCoreError):
        failure = aws_failure(exc)  # said as every command says it: the endpoint, and what to do
        if failure is not None:
            return StepFailed(step, failure.message, failure.hint)
        return StepFailed(step, f"{exc}.", "Check your network, credentials and region, then re-run.")
    raise exc


def _refused(exc: BaseException) -> bool:
    """A definite 4xx answer from AWS, as opposed to a lost answer (timeout, 5xx, crash)."""
    status = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return 400 <= status < 500


class Runner:
    def __init__(
        self,
        playbook: Playbook,
        aws: Aws,
        clock: Clock,
        state: RunState,
        reporter: Reporting,
        settings: Dict[str, Any],
        waits: Optional[WaitHistory] = None,
    ):
        """waits: what earlier runs' waits took, and where this run's go (StepContext)."""
        self.playbook = playbook
        self.aws = aws
        self.clock = clock
        self.state = state
        self.reporter = reporter
        self.settings = settings
        self.waits = waits
        self.outputs: Dict[str, Dict[str, Any]] = {}
        self._lock = threading.Lock()

    def context(self, step: str, step_type: str, timeout: float) -> StepContext:
        ctx = StepContext(
            kinds={kind.name for kind in registry()[step_type].kinds},
            aws=self.aws,
            clock=self.clock,
            state=self.state,
            reporter=self.reporter,
            settings=self.settings,
            lab=self.playbook.name,
            step=step,
            step_type=step_type,
            timeout=timeout,
            waits=self.waits,
        )
        ctx.on_created = arm  # what bills gets its dead man's switch as soon as it exists
        return ctx

    def apply(self) -> Dict[str, Dict[str, Any]]:
        """Run every step as soon as what it depends on is far enough along.

        Steps run on threads (ops/engine/scheduler.py, run_graph); each posts "created" (early
        outputs known), then "done" or "failed". Dependants start at the simulated instant
        their inputs appeared. After a failure (or the record's problem, or a Ctrl-C) no new
        step starts; running ones finish, so their resources are recorded; then the first
        failure is raised.
        """
        steps = {step.name: step for step in self.playbook.steps}
        self._prepare_switch()
        run_graph(
            self.clock,
            list(steps),
            work=lambda name, post: self.run_step(steps[name], on_created=lambda: post("created")),
            ready=lambda name, phases: self._ready(steps[name], phases),
            stop=self._stop_reason,
            thread_prefix="step-",
        )
        return self.outputs

    def _prepare_switch(self) -> None:
        """The dead man's switch's group and role, before any step makes what they guard."""
        from botocore.exceptions import BotoCoreError, ClientError

        first = self.playbook.steps[0]
        ctx = self.context(first.name, first.type, first.timeout)
        try:
            prepare_switch(ctx, self.playbook.steps)
        except (ClientError, BotoCoreError) as exc:
            failure = describe_failure("expiry", exc)
            self.reporter.event("step_failed", step="expiry", error=failure.message)
            raise failure from exc

    def _stop_reason(self) -> Optional[BaseException]:
        """Why no new step may start, if one may not: the record's problem, or a Ctrl-C."""
        if self.state.problem is not None:
            return self.state.problem
        if stop_requested.is_set():
            return Interrupted("stopped before every step had run.")
        return None

    @staticmethod
    def _ready(step: Step, progress: Mapping[str, str]) -> bool:
        for other, needed in step.after.items():
            phase = progress.get(other)
            if phase != "done" and not (needed == "created" and phase == "created"):
                return False
        return True

    def run_step(self, step: Step, on_created: Callable[[], None] = lambda: None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        ctx = self.context(step.name, step.type, step.timeout)
        started = self.clock.now()
        self.reporter.event("step_started", step=step.name, type=step.type)
        try:
            args = step.step_type.with_defaults(
                resolve_runtime(step.args, self.state.run_id, self.aws.region, self.outputs)
            )
            self._check_resolved(step, args)
            instance = step.step_type(ctx, step.name, args)
            outputs = dict(instance.create())
            with self._lock:
                self.outputs[step.name] = outputs
            self.reporter.event("step_create_finished", step=step.name, elapsed=round(self.clock.now() - started, 1))
            on_created()
            late = instance.wait()
            with self._lock:
                outputs.update(late)
        except (ClientError, BotoCoreError, WaitTimeout, WaitFailed) as exc:  # each becomes one readable paragraph
            if _refused(exc):
                self._forget_intents(step.name)
            failure = describe_failure(step.name, exc, step.step_type.hints)
            self.reporter.event("step_failed", step=step.name, error=failure.message)
            raise failure from exc
        self.reporter.event(
            "step_finished", step=step.name, elapsed=round(self.clock.now() - started, 1), outputs=outputs
        )

    def _forget_intents(self, step: str) -> None:
        """AWS answered the create call with a refusal: what was about to be created never was."""
        for resource in self.state.live():
            if resource.step == step and resource.status == "intent":
                resource.status = "refused"
                self.state.record(resource)

    def _check_resolved(self, step: Step, args: Dict[str, Any]) -> None:
        for name, value in args.items():
            param = step.step_type.param(name)
            if value is None or param is None:
                continue
            problem = param.validate(value)
            if problem:
                raise StepFailed(
                    step.name,
                    f"parameter '{name}' {problem} (value {value!r}).",
                    "Check the step output or var it comes from.",
                )


def account_scoped(resource: Resource) -> bool:
    """Account-wide resources (the Cloud9 SSM role and profile) that other labs may share."""
    found = resource_kinds().get(resource.base_kind)
    return found is not None and found[0].account_wide


def teardown(
    state: RunState,
    aws: Aws,
    clock: Clock,
    reporter: Reporting,
    settings: Dict[str, Any],
    lab: str,
    which: Callable[[Resource], bool] = lambda r: True,
    include_adopted: bool = False,
    waits: Optional[WaitHistory] = None,
) -> List[Resource]:
    """Delete what the record says this run owns. Returns what could not be deleted.
    waits: what earlier deletions took, and where these go (StepContext).

    Steps' resources are deleted in parallel where the record allows: a step's resources go
    once every step that depended on it has none left (an ingress rule before the
    environment whose group it names). Within a step, newest first.
    """

    def deletable(r: Resource) -> bool:
        # an account-wide piece another ops lab made goes with the last lab that uses it
        return r.ours or include_adopted or (account_scoped(r) and r.attrs.get("ops_made", False))

    for kept in (r for r in reversed(state.live()) if which(r) and not deletable(r)):
        reporter.event(
            "resource_kept",
            step=kept.step,
            kind=kept.kind,
            id=kept.id,
            reason="existed before this run; not deleted (--include-adopted deletes it)",
        )
    pending = [r for r in reversed(state.live()) if which(r) and deletable(r)]
    reporter.event("teardown_started", count=len(pending))
    by_step: Dict[str, List[Resource]] = {}
    for resource in pending:
        by_step.setdefault(resource.step, []).append(resource)
    dependents = _dependents(state.data.get("dependencies", {}), list(by_step))
    left = run_graph(
        clock,
        list(by_step),
        work=lambda step, _post: _delete_step(by_step[step], state, aws, clock, reporter, settings, lab, waits),
        ready=lambda step, phases: all(phases.get(other) == DONE for other in dependents[step]),
        thread_prefix="delete-",
    )
    return [resource for step_left in left.values() for resource in step_left]


def _dependents(dependencies: Dict[str, List[str]], steps: List[str]) -> Dict[str, Set[str]]:
    """For each step with resources: the steps (with resources) that depend on it, directly or not.

    Without recorded dependencies (an older record), fall back to strict reverse order.
    """
    if not dependencies:
        return {step: set(steps[:index]) for index, step in enumerate(steps)}
    result: Dict[str, Set[str]] = {step: set() for step in steps}
    for step in steps:
        stack, seen = list(dependencies.get(step, [])), set()
        while stack:
            other = stack.pop()
            if other in seen:
                continue
            seen.add(other)
            if other in result:
                result[other].add(step)
            stack.extend(dependencies.get(other, []))
    return result


def _delete_step(
    resources: List[Resource],
    state: RunState,
    aws: Aws,
    clock: Clock,
    reporter: Reporting,
    settings: Dict[str, Any],
    lab: str,
    waits: Optional[WaitHistory],
) -> List[Resource]:
    """Delete one step's resources, newest first; returns those that could not be deleted."""
    types = registry()
    timeout = float(settings.get("delete_timeout", 2400))
    left: List[Resource] = []
    for resource in resources:
        ctx = StepContext(
            aws=aws,
            clock=clock,
            state=state,
            reporter=reporter,
            settings=settings,
            lab=lab,
            step=resource.step,
            step_type=resource.type,
            timeout=timeout,
            waits=waits,
        )
        ctx.finishing = True
        started = clock.now()
        reporter.event("resource_deleting", step=resource.step, kind=resource.kind, id=resource.id)
        try:
            types[resource.type].delete(ctx, resource)
        except Kept as kept:  # an account-wide piece another lab uses, or one ops no longer made
            ctx.handed_over(resource)
            reporter.event("resource_kept", step=resource.step, kind=resource.kind, id=resource.id, reason=str(kept))
            continue
        except Exception as exc:  # noqa: BLE001 - keep going: delete everything that can be deleted
            try:
                failure = describe_failure(resource.step, exc, types[resource.type].hints)
                error = failure.message + " " + failure.hint
            except Exception:  # noqa: BLE001 - not an AWS error: still report it, and go on
                error = f"{exc.__class__.__name__}: {exc}"
            reporter.event(
                "resource_delete_failed", step=resource.step, kind=resource.kind, id=resource.id, error=error
            )
            left.append(resource)
            continue
        ctx.deleted(resource)
        reporter.event(
            "resource_deleted",
            step=resource.step,
            kind=resource.kind,
            id=resource.id,
            elapsed=round(clock.now() - started, 1),
        )
    return left

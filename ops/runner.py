"""Walks a playbook's steps, records what each made, and tears down from that record.

apply() runs the steps in order (each step's dependencies come before it). teardown()
needs nothing but the run's state: it deletes every live resource the run owns, newest
first, through the step type that created it, so it works from a fresh process.
"""
from typing import Any, Dict, List

from .aws import error_code, error_message
from .context import StepContext
from .errors import OpsError, StepFailed
from .playbook import Playbook, resolve_runtime
from .steps import registry
from .steps.base import Resource
from .waiting import WaitFailed, WaitTimeout

HINTS = {
    "AccessDenied": "The credentials lack a permission this step needs: ask for it (see the step's permissions in 'ops steps').",
    "AccessDeniedException": "The credentials lack a permission this step needs: ask for it (see 'ops steps').",
    "UnauthorizedOperation": "The credentials lack a permission this step needs: ask for it (see 'ops steps').",
    "ExpiredToken": "Your session expired: log in again (e.g. 'aws sso login') and re-run; the run resumes.",
    "ExpiredTokenException": "Your session expired: log in again (e.g. 'aws sso login') and re-run; the run resumes.",
    "InsufficientCacheClusterCapacity": "Try another node type (--var node_type=...) or another region.",
    "InvalidParameterValue": "A parameter was refused: check the values in the playbook and --var.",
    "InvalidParameterCombination": "AWS refused this combination (e.g. a previous-generation node type): "
                                   "try --var node_type=cache.t3.micro.",
    "ClusterQuotaForCustomerExceeded": "The account's cluster quota is used up: delete unused clusters or ask for more.",
    "NodeQuotaForCustomerExceeded": "The account's node quota is used up: delete unused clusters or ask for more.",
    "InstanceLimitExceeded": "The account's instance limit is reached: stop unused instances or ask for more.",
    "VPCIdNotSpecified": "This region has no default VPC: create one with 'aws ec2 create-default-vpc'.",
}


def describe_failure(step: str, exc: BaseException) -> StepFailed:
    """Turn whatever a step raised into one paragraph: step, AWS error, what to do."""
    if isinstance(exc, StepFailed):
        return exc
    code = error_code(exc)
    if code:
        return StepFailed(step, f"AWS answered {code}: {error_message(exc).rstrip('.')}.",
                          HINTS.get(code, "Fix the cause, then re-run: the run resumes where it stopped."))
    if isinstance(exc, WaitTimeout):
        return StepFailed(step, f"timed out: {exc}.",
                          "AWS can be slow: raise the step's 'timeout:' and re-run; the run resumes.")
    if isinstance(exc, WaitFailed):
        return StepFailed(step, f"{exc}.", "Look at the resource in the AWS console for the reason.")
    from botocore.exceptions import BotoCoreError

    if isinstance(exc, BotoCoreError):
        return StepFailed(step, f"{exc}.", "Check your network, credentials and region, then re-run.")
    raise exc


def _refused(exc: BaseException) -> bool:
    """A definite 4xx answer from AWS, as opposed to a lost answer (timeout, 5xx, crash)."""
    status = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return 400 <= status < 500


class Runner:
    def __init__(self, playbook: Playbook, aws, clock, state, reporter, settings: Dict[str, Any]):
        self.playbook = playbook
        self.aws = aws
        self.clock = clock
        self.state = state
        self.reporter = reporter
        self.settings = settings
        self.outputs: Dict[str, Dict[str, Any]] = {}

    def context(self, step: str, step_type: str, timeout: float) -> StepContext:
        return StepContext(aws=self.aws, clock=self.clock, state=self.state, reporter=self.reporter,
                           settings=self.settings, lab=self.playbook.name, step=step, step_type=step_type,
                           timeout=timeout)

    def apply(self) -> Dict[str, Dict[str, Any]]:
        for step in self.playbook.steps:
            self.run_step(step)
        return self.outputs

    def run_step(self, step) -> None:
        ctx = self.context(step.name, step.type, step.timeout)
        started = self.clock.now()
        self.reporter.event("step_started", step=step.name, type=step.type)
        try:
            args = step.step_type.with_defaults(resolve_runtime(step.args, self.state.run_id, self.aws.region,
                                                                self.outputs))
            self._check_resolved(step, args)
            instance = step.step_type(ctx, step.name, args)
            outputs = dict(instance.create())
            self.outputs[step.name] = outputs
            outputs.update(instance.wait())
        except OpsError:
            raise
        except Exception as exc:  # noqa: BLE001 - every AWS failure becomes one readable paragraph
            if _refused(exc):
                self._forget_intents(step.name)
            failure = describe_failure(step.name, exc)
            self.reporter.event("step_failed", step=step.name, error=failure.message)
            raise failure from exc
        self.reporter.event("step_finished", step=step.name, elapsed=round(self.clock.now() - started, 1),
                            outputs=outputs)

    def _forget_intents(self, step: str) -> None:
        """AWS answered the create call with a refusal: what was about to be created never was."""
        for resource in self.state.live():
            if resource.step == step and resource.status == "intent":
                resource.status = "refused"
                self.state.record(resource)

    def _check_resolved(self, step, args: Dict[str, Any]) -> None:
        for name, value in args.items():
            param = step.step_type.param(name)
            if value is None or param is None:
                continue
            problem = param.validate(value)
            if problem:
                raise StepFailed(step.name, f"parameter '{name}' {problem} (value {value!r}).",
                                 "Check the step output or var it comes from.")


def teardown(state, aws, clock, reporter, settings: Dict[str, Any], lab: str) -> List[Resource]:
    """Delete what the record says this run owns, newest first. Returns what could not be deleted."""
    types = registry()
    pending = state.to_delete()
    for kept in (r for r in reversed(state.live()) if not r.ours):
        reporter.event("resource_kept", step=kept.step, kind=kept.kind, id=kept.id,
                       reason="existed before this run; not deleted")
    reporter.event("teardown_started", count=len(pending))
    failed: List[Resource] = []
    timeout = float(settings.get("delete_timeout", 2400))
    for resource in pending:
        ctx = StepContext(aws=aws, clock=clock, state=state, reporter=reporter, settings=settings, lab=lab,
                          step=resource.step, step_type=resource.type, timeout=timeout)
        started = clock.now()
        reporter.event("resource_deleting", step=resource.step, kind=resource.kind, id=resource.id)
        try:
            types[resource.type].delete(ctx, resource)
        except Exception as exc:  # noqa: BLE001 - keep going: delete everything that can be deleted
            failure = describe_failure(resource.step, exc)
            reporter.event("resource_delete_failed", step=resource.step, kind=resource.kind, id=resource.id,
                           error=failure.message + " " + failure.hint)
            failed.append(resource)
            continue
        ctx.deleted(resource)
        reporter.event("resource_deleted", step=resource.step, kind=resource.kind, id=resource.id,
                       elapsed=round(clock.now() - started, 1))
    return failed

"""The commands' work: run a playbook against a target, tear a lab down, report the result."""
from pathlib import Path
from typing import Any, Dict, List, Optional

from .errors import BadInput, OpsError, StepFailed
from .inventory import tagged_resources
from .playbook import Playbook
from .runner import Runner, teardown
from .state import RunState, state_dir
from .target import open_target
from .timeline import Timeline, runs_dir


def state_path(root: Path, lab: str, dry_run: bool) -> Path:
    return state_dir(root, dry_run) / f"{lab}.json"


def teardown_command(playbook_path: str, dry_run: bool, region: Optional[str], profile: Optional[str]) -> str:
    parts = ["ops", "teardown", playbook_path]
    if region:
        parts += ["--region", region]
    if profile:
        parts += ["--profile", profile]
    if dry_run:
        parts.append("--dry-run")
    return " ".join(parts)


def _live_lines(state: RunState) -> List[str]:
    return [f"{r.kind} {r.id} (step {r.step}{'' if r.ours else ', not created by ops'})" for r in state.live()]


def run_lab(playbook: Playbook, *, root: Path, reporter, settings: Dict[str, Any], dry_run: bool,
            region: Optional[str], profile: Optional[str], keep: bool, simulation: Optional[dict] = None) -> int:
    """Create the lab, then (unless keep) tear it down. Returns the exit code."""
    path = state_path(root, playbook.name, dry_run)
    previous = RunState.load(path)
    with open_target(dry_run, region or settings.get("region"), profile, simulation) as aws:
        reporter.set_clock(aws.clock)
        resume = previous is not None and not dry_run and previous.live()
        if resume and previous.region != aws.region:
            raise BadInput(f"lab '{playbook.name}' has live resources from run {previous.run_id} in "
                           f"{previous.region}, not {aws.region}.",
                           f"Tear it down first: {teardown_command(playbook.source, dry_run, previous.region, profile)}")
        state = previous if resume else RunState.start(path, playbook.name, playbook.source, aws.region, dry_run)
        timeline = Timeline(runs_dir(root, dry_run) / playbook.name / f"{state.run_id}.json", playbook.name,
                            state.run_id, simulated=aws.clock.virtual)
        reporter.listeners.append(timeline)
        try:
            return _run(playbook, aws, state, reporter, settings, resume, keep, region, profile)
        finally:
            reporter.listeners.remove(timeline)
            timeline.save()


def _run(playbook, aws, state, reporter, settings, resume, keep, region, profile) -> int:
    dry_run = aws.dry_run
    dependencies = {step.name: list(step.after) for step in playbook.steps}
    reporter.event("run_started", action="resuming" if resume else "running", lab=playbook.name,
                   run_id=state.run_id, region=aws.region, dry_run=dry_run, playbook=playbook.source,
                   dependencies=dependencies)
    state.set("dependencies", dependencies)
    runner = Runner(playbook, aws, aws.clock, state, reporter, settings)
    command = teardown_command(playbook.source, dry_run, region, profile)
    try:
        runner.apply()
    except (StepFailed, KeyboardInterrupt) as exc:
        result = "FAILED" if isinstance(exc, StepFailed) else "interrupted"
        if dry_run:  # a rehearsal still proves its teardown
            _finish(reporter, aws, state, settings, playbook.name, command, result + ", then torn down")
        else:
            reporter.event("run_finished", result=result, elapsed=reporter.elapsed(), simulated=False,
                           left=_live_lines(state), teardown_command=command if state.live() else None)
        raise
    if keep:
        reporter.event("run_finished", result="lab is up (--keep)", elapsed=reporter.elapsed(),
                       simulated=aws.clock.virtual, left=_live_lines(state),
                       teardown_command=command if not dry_run else None)
        if dry_run:
            reporter.event("note", text="ops: (dry run) the simulated account is discarded when ops exits.")
        return 0
    return _finish(reporter, aws, state, settings, playbook.name, command, "lab completed and torn down")


def _finish(reporter, aws, state, settings, lab: str, command: str, result: str) -> int:
    """Tear down, then say what is left: in a dry run, everything in the account is checked."""
    failed = teardown(state, aws, aws.clock, reporter, settings, lab)
    left = [f"{r.kind} {r.id}" for r in failed]
    if aws.dry_run:
        left += tagged_resources(aws, lab=lab)
    left = list(dict.fromkeys(left))
    reporter.event("run_finished", result=result if not left else "teardown incomplete", elapsed=reporter.elapsed(),
                   simulated=aws.clock.virtual, left=left, checked_account=aws.dry_run,
                   teardown_command=command if left and not aws.dry_run else None)
    return 0 if not left else 1


def teardown_lab(lab: str, *, root: Path, reporter, settings: Dict[str, Any], dry_run: bool,
                 region: Optional[str], profile: Optional[str]) -> int:
    path = state_path(root, lab, dry_run)
    state = RunState.load(path)
    if state is None or not state.live():
        reporter.event("note", text=f"ops: nothing to delete for lab '{lab}' (no live resources recorded in {path}).")
        return 0
    if dry_run:
        raise OpsError("the simulated account of a dry run ends with that run, so there is nothing to tear down.",
                       "Dry runs tear down at the end by themselves.")
    with open_target(False, region or state.region, profile) as aws:
        if aws.region != state.region:
            raise BadInput(f"the lab's resources are in {state.region}, not {aws.region}.",
                           f"Run teardown with --region {state.region}.")
        reporter.set_clock(aws.clock)
        reporter.event("run_started", action="tearing down", lab=lab, run_id=state.run_id, region=aws.region,
                       dry_run=False, playbook=state.data.get("playbook", ""))
        failed = teardown(state, aws, aws.clock, reporter, settings, lab)
        left = [f"{r.kind} {r.id}" for r in failed]
        reporter.event("run_finished", result="teardown complete" if not failed else "teardown incomplete",
                       elapsed=reporter.elapsed(), left=left,
                       teardown_command=f"ops teardown {state.data.get('playbook', lab)}" if failed else None)
        return 0 if not failed else 1

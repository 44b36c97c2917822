"""The commands' work: run a playbook (once, or as N independent copies), tear labs down.

Copies of a lab (a class of students) share one account but nothing else: each has its own
name (`<lab>-<copy>`), run id, record and timeline. They run at the same time, at most
`parallel` at once, through one per-service rate limiter. Their teardown goes in two
phases: first every copy's own resources, in parallel; then the account-wide pieces (the
Cloud9 SSM role and profile) that all of them used.
"""

import contextlib
import dataclasses
import shlex
from typing import Any, Dict, List, Optional

from ..aws import RateLimiter, aws_failure, is_transient
from ..engine.inventory import find_tagged
from ..engine.lock import hold_locks
from ..engine.playbook import Playbook
from ..engine.records import Location
from ..engine.runner import Runner, account_scoped, teardown
from ..engine.scheduler import run_each
from ..engine.state import RecordKeptLocally, RunState
from ..engine.target import RunTarget
from ..engine.timeline import Timeline
from ..engine.wait_history import WaitHistory, open_history
from ..errors import BadInput, Interrupted, StepFailed
from ..paths import runs_dir
from ..steps import resource_kinds
from ..steps.cloud9_members import check_members, shared_with
from .dryrun_account import note_inventory
from .status import all_states


def teardown_command(
    playbook_path: str,
    dry_run: bool,
    region: Optional[str],
    profile: Optional[str],
    location: Optional[Location] = None,
) -> str:
    """The command line that tears the lab down, every value quoted for a POSIX shell."""
    parts = ["ops", "teardown", playbook_path]
    if region:
        parts += ["--region", region]
    if profile:
        parts += ["--profile", profile]
    if location:
        parts += ["--state", location.url]
    if dry_run:
        parts.append("--dry-run")
    return shlex.join(parts)


def _live_lines(state: RunState) -> List[str]:
    return [f"{r.kind} {r.id} (step {r.step}{'' if r.ours else ', not created by ops'})" for r in state.live()]


def check_before_run(playbook, account, dry_run: bool, members: Optional[Dict[str, List[str]]] = None) -> None:
    """BadInput (exit 2, naming the file and line) for the first thing a step would fail on,
    before any step creates anything: each step type's own check (StepType.preflight), then
    the members the lab is shared with ({lab: ARNs}, ops run --member).
    account(): the account the run will use, opened when a check first asks (RunTarget.on_demand)."""
    for step in playbook.steps:
        step.step_type.preflight(playbook, step, account, dry_run)
    check_members(playbook, members or {}, account, dry_run)


def lab_names(base: str, count: Optional[int], names: Optional[List[str]]) -> List[str]:
    if names:
        return [f"{base}-{name}" for name in names]
    if count:
        return [f"{base}-{index}" for index in range(1, count + 1)]
    return [base]


@dataclasses.dataclass
class LabRun:
    """One copy of the lab within a run (for teardown, only its name, record and reporter)."""

    name: str
    state: RunState
    reporter: Any
    playbook: Optional[Playbook] = None
    timeline: Optional[Timeline] = None
    outcome: Optional[BaseException] = None


def run_labs(
    playbook: Playbook,
    target: RunTarget,
    *,
    aws=None,
    reporter,
    settings: Dict[str, Any],
    keep: bool,
    names: Optional[List[str]] = None,
    count: Optional[int] = None,
    parallel: int = 10,
    teardown_on_failure: bool = False,
    always_teardown: bool = False,
    expires_in: Optional[float] = None,
) -> int:
    """Create the lab(s), then tear them down: after success unless keep; after a failed step
    with teardown_on_failure or always_teardown; after an interrupt with always_teardown.
    A dry run whose simulated account ends with the process always cleans up. Records go to
    the target's location (S3) when it has one, each lab under its lock. aws: the account,
    when the caller has opened it already (the CLI has, for its checks). Returns the exit
    code, or raises the first failure (StepFailed, Interrupted, RecordKeptLocally).
    expires_in: the labs' time to live (recorded, tagged ops:expires and armed in the account
    as the dead man's switch, ops/steps/deadman.py); None: they never expire."""
    labs = lab_names(playbook.name, count, names)
    with contextlib.nullcontext(aws) if aws is not None else target.open(patient=True) as aws:
        aws.limiter = RateLimiter(aws.clock, settings.get("rate_limits", {}))
        reporter.set_clock(aws.clock)
        store = target.records(aws)
        waits = open_history(target, store, lambda text: reporter.event("note", text=text))
        states: Dict[str, RunState] = {}
        with hold_locks(
            store,
            labs,
            target.lock,
            reporter,
            on_lost=lambda lab, lost: states[lab].lose_lock(lost) if lab in states else None,
        ) as held:
            runs = [
                _prepare(
                    dataclasses.replace(playbook, name=lab),
                    playbook.name,
                    store,
                    reporter,
                    aws,
                    target,
                    multi=len(labs) > 1,
                )
                for lab in labs
            ]
            states.update((run.name, run.state) for run in runs)
            for lab, lab_lock in held.items():
                if lab_lock.lost:  # lost before its record was ready to hear of it
                    states[lab].lose_lock(lab_lock.lost)
            for run in runs:  # a resumed run keeps the expiry its switch was armed for (ops extend moves it)
                if expires_in and not run.state.data.get("expires_at"):
                    run.state.set("expires_at", aws.clock.wall() + expires_in)
            command = teardown_command(playbook.source, target.dry_run, target.region, target.profile, target.location)
            return _run_and_tear(
                runs,
                aws,
                settings,
                parallel,
                target.dry_run,
                keep,
                teardown_on_failure,
                always_teardown,
                reporter,
                command,
                waits,
            )


def _run_and_tear(
    runs: List[LabRun],
    aws,
    settings,
    parallel: int,
    dry_run: bool,
    keep: bool,
    teardown_on_failure: bool,
    always_teardown: bool,
    reporter,
    command: str,
    waits: WaitHistory,
) -> int:
    try:
        _apply_all(runs, aws, settings, parallel, waits)
        for run in runs:
            if run.state.problem is not None:  # whatever else went wrong, this is what to act on
                run.outcome = run.state.problem
        failed = [run for run in runs if run.outcome is not None]
        first = failed[0].outcome if failed else None
        account_ends = dry_run and not getattr(aws, "persistent", False)
        if not failed:
            tear = not keep
        elif isinstance(first, RecordKeptLocally):
            tear = False  # the shared record is out of reach, or the lab is someone else's now
        elif isinstance(first, StepFailed):
            tear = teardown_on_failure or always_teardown or account_ends
        else:
            tear = always_teardown or account_ends
        if not tear:
            for run in runs:
                result = "lab is up (--keep)" if run.outcome is None else _outcome_word(run.outcome)
                run.reporter.event(
                    "run_finished",
                    result=result,
                    elapsed=reporter.elapsed(),
                    simulated=aws.clock.virtual,
                    left=_live_lines(run.state),
                    shared_with=shared_with(run.state.live()),
                    teardown_command=command if run.state.live() and not run.state.problem else None,
                )
            if first is not None:  # i.e. failed
                raise first
            return 0
        left = teardown_all(runs, aws, settings, waits=waits)
        for run in runs:
            result = (
                "lab completed and torn down"
                if run.outcome is None
                else (_outcome_word(run.outcome) + ", then torn down")
            )
            mine = left.get(run.name, [])
            run.reporter.event(
                "run_finished",
                result=result if not mine else "teardown incomplete",
                elapsed=reporter.elapsed(),
                simulated=aws.clock.virtual,
                left=mine,
                checked_account=dry_run,
                teardown_command=command if mine and not dry_run else None,
            )
        if first is not None:  # i.e. failed
            raise first
        return 0 if not any(left.values()) else 1
    finally:
        for run in runs:
            if run.timeline is not None:  # every run here comes from _prepare, which gives it one
                run.timeline.save()
        waits.save()


def _outcome_word(outcome: BaseException) -> str:
    if isinstance(outcome, RecordKeptLocally):
        return "stopped"
    return "FAILED" if isinstance(outcome, StepFailed) else "interrupted"


def _prepare(playbook: Playbook, group: str, store, reporter, aws, target: RunTarget, multi: bool) -> LabRun:
    dry_run = target.dry_run
    slot = store.slot(playbook.name)
    previous = RunState.load(slot)
    resumable = previous is not None and previous.live() and (not dry_run or getattr(aws, "persistent", False))
    resumed = previous if resumable else None
    resume = resumed is not None
    if resumed is not None and resumed.region != aws.region:
        raise BadInput(
            f"lab '{playbook.name}' has live resources from run {resumed.run_id} in "
            f"{resumed.region}, not {aws.region}.",
            "Tear it down first: "
            + teardown_command(playbook.source, dry_run, resumed.region, target.profile, target.location),
        )
    state = (
        resumed
        if resumed is not None
        else RunState.start(
            slot, playbook.name, playbook.source, aws.region, dry_run, revision=previous.revision if previous else None
        )
    )
    lab_reporter = reporter.for_lab(playbook.name) if multi else reporter
    if store.remote:
        state.fallback = target.fallback_slot(playbook.name, state.run_id)
        here = RunState.load(target.local_records().slot(playbook.name))
        if here is not None and here.live():
            lab_reporter.event(
                "note",
                text=f"ops: note: this folder also has a record of lab '{playbook.name}' "
                f"(run {here.run_id}) with {len(here.live())} live resource(s); tear it "
                f"down (ops teardown {playbook.name}) or move it to S3 (ops state push).",
            )
    dependencies = {step.name: list(step.after) for step in playbook.steps}
    state.set("dependencies", dependencies)
    state.set("group", group)
    timeline = Timeline(
        runs_dir(target.root, dry_run) / playbook.name / f"{state.run_id}.json",
        playbook.name,
        state.run_id,
        simulated=aws.clock.virtual,
    )
    lab_reporter.listen(timeline)
    lab_reporter.event(
        "run_started",
        action="resuming" if resume else "running",
        lab=playbook.name,
        run_id=state.run_id,
        region=aws.region,
        dry_run=dry_run,
        playbook=playbook.source,
        dependencies=dependencies,
    )
    return LabRun(playbook.name, state, lab_reporter, playbook, timeline)


def _apply_all(runs: List[LabRun], aws, settings, parallel: int, waits: WaitHistory) -> None:
    """Run every copy, at most `parallel` at once; each copy's outcome is kept on it."""

    def copy(run: LabRun) -> None:
        try:
            _apply(run, aws, settings, waits)
        except RecordKeptLocally as exc:
            if len(runs) == 1 or exc is not run.state.problem:
                raise
            # among copies, the record's problem stops that copy alone: _run_and_tear acts on it

    run_each(
        aws.clock,
        runs,
        copy,
        name=lambda run: f"lab-{run.name}",
        limit=max(1, parallel),
    )


def _apply(run: LabRun, aws, settings, waits: WaitHistory) -> None:
    if run.playbook is None:
        raise ValueError(f"lab run {run.name} was loaded for teardown only: it has no playbook to apply")
    try:
        Runner(run.playbook, aws, aws.clock, run.state, run.reporter, settings, waits).apply()
    except (StepFailed, Interrupted) as exc:  # a second Ctrl-C (KeyboardInterrupt) stops everything at once
        run.outcome = exc


def teardown_all(
    runs: List[LabRun],
    aws,
    settings,
    check_account: bool = True,
    include_adopted: bool = False,
    waits: Optional[WaitHistory] = None,
) -> Dict[str, List[str]]:
    """Each copy's own resources (in parallel), then the account-wide ones; what is left, per
    lab. waits: what earlier deletions took, and where these go."""
    failed: Dict[str, List[str]] = {run.name: [] for run in runs}
    # Another copy may own the profile that holds the role this copy owns: account-wide
    # pieces go kind by kind across all copies, newest kind first (attachments, then
    # profiles, then roles).
    shared = [name for name, (kind, _) in resource_kinds().items() if kind.account_wide]
    phases = [lambda r: not account_scoped(r)] + [
        (lambda kind: lambda r: r.base_kind == kind)(kind)  # noqa: B023 (bound here)
        for kind in reversed(shared)
    ]
    for which in phases:  # each phase's calls finish inside its iteration, so `which` is the current one
        run_each(
            aws.clock,
            runs,
            lambda run: failed[run.name].extend(
                f"{r.kind} {r.id}"
                for r in teardown(
                    run.state,
                    aws,
                    aws.clock,
                    run.reporter,
                    settings,
                    run.name,
                    which,  # noqa: B023
                    include_adopted,
                    waits,
                )
            ),
            name=lambda run: f"lab-{run.name}",
        )
    if aws.dry_run and check_account:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            left = _leftovers(aws, runs)
        except (ClientError, BotoCoreError) as exc:  # out of retries: say the check is missing, never crash
            failure = aws_failure(exc)
            if failure is None:
                raise
            left = {run.name: [f"(the account could not be checked for leftovers: {failure.message})"] for run in runs}
        for run in runs:
            failed[run.name] += left[run.name]
    return {lab: list(dict.fromkeys(items)) for lab, items in failed.items()}


CHECK_TRIES, CHECK_PAUSE = 3, 30.0  # the account check, when a listing ran out of botocore's retries


def _leftovers(aws, runs: List[LabRun]) -> Dict[str, List[str]]:
    """What the account still holds of each run, by its tags, but for the account-wide pieces
    it handed over to the labs still using them: one inventory of the account for all of
    them (50 labs' checks are not 50 listings of every kind). The answer is what
    tells the user nothing keeps billing, so a listing that ran out of its client's retries
    (throttling, or botocore's retry quota spent by a run that met many faults) is asked
    again after a pause, on the run's clock, before the check is reported missing."""
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_fixed

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(CHECK_TRIES),
        wait=wait_fixed(CHECK_PAUSE),
        sleep=aws.clock.sleep,
        reraise=True,
    )
    found = retrying(find_tagged, aws)
    note_inventory(aws, found)
    left: Dict[str, List[str]] = {}
    for run in runs:
        handed_over = {(r.base_kind, r.id) for r in run.state.resources() if r.status == "handed-over"}
        left[run.name] = [
            item.line()
            for item in found
            # an untagged entry says a kind could not be checked: for every lab
            if ((item.lab, item.run) == (run.name, run.state.run_id) and (item.kind, item.id) not in handed_over)
            or not item.tags
        ]
    return left


def lab_states(store, lab: str) -> List[RunState]:
    """The records of a lab and of its copies (`<lab>-<copy>`, made by --count/--names)."""
    return [s for s in all_states(store) if lab in (s.data.get("lab"), s.data.get("group"))]


def teardown_lab(
    lab: str,
    target: RunTarget,
    *,
    reporter,
    settings: Dict[str, Any],
    include_adopted: bool = False,
    only: Optional[List[RunState]] = None,
) -> int:
    """Tear down a lab (and its copies) from its records: kept here, or in S3 under the lab's
    lock. The region is --region's, else the records' (not the config's: they know)."""
    if target.location is None:
        store = target.local_records()
        labs = [s.data["lab"] for s in (only or lab_states(store, lab)) if s.live()]
        if not labs:
            return _nothing_to_delete(lab, store, reporter)
        with hold_locks(store, labs, target.lock, reporter):
            states = [s for s in lab_states(store, lab) if s.data["lab"] in labs and s.live()]  # as of now
            if not states:
                return _nothing_to_delete(lab, store, reporter)
            with target.open(target.region or states[0].region, patient=True) as aws:
                return _teardown_states(lab, states, aws, reporter, settings, target, include_adopted, store)
    with target.open(patient=True) as aws:
        shared = target.shared_records(aws)
        labs = [s.data["lab"] for s in (only or lab_states(shared, lab)) if s.live()]
        if not labs:
            return _nothing_to_delete(lab, shared, reporter)
        with hold_locks(shared, labs, target.lock, reporter) as held:
            states = [s for s in lab_states(shared, lab) if s.data["lab"] in held and s.live()]  # as of now
            if not states:
                return _nothing_to_delete(lab, shared, reporter)
            if target.region or states[0].region == aws.region:
                return _teardown_states(lab, states, aws, reporter, settings, target, include_adopted, shared)
            with target.open(states[0].region, patient=True) as there:
                return _teardown_states(lab, states, there, reporter, settings, target, include_adopted, shared)


def _nothing_to_delete(lab: str, store, reporter) -> int:
    reporter.event(
        "note", text=f"ops: nothing to delete for lab '{lab}' (no live resources recorded in {store.where()})."
    )
    return 0


def _teardown_states(
    lab: str, states: List[RunState], aws, reporter, settings, target: RunTarget, include_adopted: bool, records
) -> int:
    dry_run, location = target.dry_run, target.location
    regions = {s.region for s in states}
    if len(regions) > 1:
        raise BadInput(
            f"lab '{lab}' has resources in several regions: {', '.join(sorted(regions))}.",
            "Tear each down with --region.",
        )
    if aws.region != states[0].region:
        raise BadInput(
            f"the lab's resources are in {states[0].region}, not {aws.region}.",
            f"Run teardown with --region {states[0].region}.",
        )
    reporter.set_clock(aws.clock)
    runs = []
    for state in states:
        lab_reporter = reporter.for_lab(state.data["lab"]) if len(states) > 1 else reporter
        lab_reporter.event(
            "run_started",
            action="tearing down",
            lab=state.data["lab"],
            run_id=state.run_id,
            region=aws.region,
            dry_run=dry_run,
            playbook=state.data.get("playbook", ""),
        )
        runs.append(LabRun(state.data["lab"], state, lab_reporter))
    waits = open_history(target, records, lambda text: reporter.event("note", text=text))
    try:
        left = teardown_all(runs, aws, settings, include_adopted=include_adopted, waits=waits)
    finally:
        waits.save()
    again = shlex.join(
        ["ops", "teardown", lab, *(["--state", location.url] if location else []), *(["--dry-run"] if dry_run else [])]
    )
    for run in runs:
        mine = left[run.name]
        run.reporter.event(
            "run_finished",
            result="teardown complete" if not mine else "teardown incomplete",
            elapsed=reporter.elapsed(),
            left=mine,
            simulated=aws.clock.virtual,
            checked_account=dry_run,
            teardown_command=again if mine else None,
        )
    return 0 if not any(left.values()) else 1

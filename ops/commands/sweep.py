"""`ops sweep`: find ops-tagged resources with or without a state file, and delete them.

Leftovers are grouped by the lab and run their tags name, and deleted through the same
teardown as a run (rules before environments, account-wide IAM last), so sweeping is as
careful as a teardown. Only resources carrying ops's tags are ever considered.
"""

import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..aws import aws_failure
from ..clock import wall_time
from ..durations import format_duration
from ..engine.inventory import find_tagged
from ..engine.state import RunState
from ..engine.target import RunTarget
from ..model import Found, Resource
from ..output import aligned
from ..steps import registry, resource_kinds
from .lab import LabRun, teardown_all, teardown_lab
from .status import all_states


def candidates(aws, *, older_than: Optional[float] = None, lab: Optional[str] = None) -> List[Found]:
    found = find_tagged(aws, lab=lab)
    if older_than is not None:
        found = [item for item in found if (item.age() or 0) >= older_than]
    return found


def preview_lines(found: List[Found]) -> List[str]:
    if not found:
        return ["ops: no ops-tagged resources found."]
    rows = [("KIND", "ID", "LAB", "RUN", "AGE", "STATUS")]
    for item in found:
        age = item.age()
        rows.append(
            (item.kind, item.id, item.lab, item.run, format_duration(age) if age is not None else "?", item.status)
        )
    return aligned(rows)


def deletable(found: List[Found]) -> Tuple[List[Found], List[Found]]:
    """(what a step type can delete, what goes with another resource or needs a person)."""
    types = registry()
    yes = [item for item in found if item.step_type in types]
    return yes, [item for item in found if item.step_type not in types and "part_of" not in item.attrs]


def records(found: List[Found], region: str, folder: Path) -> List[RunState]:
    """A throwaway record per (lab, run), as if the run had written it."""
    kinds = resource_kinds()
    order = list(kinds)  # creation order: teardown (newest first) removes rules first
    groups: Dict[Tuple[str, str], List[Found]] = {}
    for item in sorted(found, key=lambda i: order.index(i.kind) if i.kind in order else len(order)):
        groups.setdefault((item.lab, item.run), []).append(item)
    states = []
    for index, ((lab, run), items) in enumerate(groups.items()):
        state = RunState.start(folder / f"{index}.json", lab, "(sweep)", region, dry_run=False, run_id=run)
        for item in items:
            if item.step_type is None:  # deletable() keeps these out
                raise ValueError(f"{item.kind} {item.id} goes with another resource: no step type deletes it")
            state.record(
                Resource(
                    step=item.step or item.kind,
                    type=item.step_type,
                    # a record keys resources by step and kind: several of a kind on one step need distinct kinds
                    kind=f"{item.kind}:{item.id}" if kinds[item.kind][0].several_per_step else item.kind,
                    id=item.id,
                    region=region,
                    status="created",
                    attrs=dict(item.attrs),
                )
            )
        states.append(state)
    return states


def delete(found: List[Found], aws, reporter, settings: Dict[str, Any]) -> Dict[str, List[str]]:

    with tempfile.TemporaryDirectory() as folder:
        runs = [LabRun(f"{s.data['lab']}/{s.run_id}", s, reporter) for s in records(found, aws.region, Path(folder))]
        return teardown_all(runs, aws, settings, check_account=False)


def delete_and_report(can: List[Found], cannot: List[Found], aws, reporter, settings: Dict[str, Any]) -> int:
    """Delete what can be deleted, then say what is left (with what cannot): the exit code."""
    reporter.set_clock(aws.clock)
    left = delete(can, aws, reporter, settings)
    remaining = [item for items in left.values() for item in items] + [f.line() for f in cannot]
    reporter.event(
        "run_finished",
        result="sweep complete" if not remaining else "sweep incomplete",
        elapsed=reporter.elapsed(),
        left=remaining,
    )
    return 1 if remaining else 0


def sweep_account(
    target: RunTarget,
    *,
    settings: Dict[str, Any],
    reporter,
    older_than: Optional[float],
    lab: Optional[str],
    confirm: Callable[[int], bool],
) -> int:
    """`ops sweep`: show every ops-tagged resource in the target's region (of `lab`, at least
    `older_than` seconds old), then delete what a step type can delete once confirm(how many)
    says yes. Returns the exit code: 1 when something is left."""
    with target.open() as aws:
        found = candidates(aws, older_than=older_than, lab=lab)
        can, cannot = deletable(found)
        if reporter.mode == "json":
            reporter.event(
                "sweep_found",
                resources=[
                    {"kind": f.kind, "id": f.id, "lab": f.lab, "run": f.run, "age": f.age(), "status": f.status}
                    for f in found
                ],
            )
        else:
            reporter.event("note", text="\n".join(preview_lines(found)))
        if not can:
            return 0
        if not confirm(len(can)):
            reporter.event("note", text=f"ops: preview only; add --yes to delete these {len(can)} resource(s).")
            return 0
        return delete_and_report(can, cannot, aws, reporter, settings)


def sweep_expired(target: RunTarget, *, reporter, settings: Dict[str, Any], confirmed: bool) -> int:
    """Tear down every lab recorded here (or in S3) whose expiry has passed, then whatever
    else in the region carries an ops:expires tag that has passed and no live record here
    speaks for (a lab whose record is lost, and what its dead man's switch leaves: ingress
    rules, IAM pieces, parameters). Preview unless confirmed; returns the exit code. A dry
    run's time is the simulated account's calendar."""
    now = _now(target)
    if target.location is None:
        states = all_states(target.local_records())
    else:
        with target.open() as aws:
            states = all_states(target.records(aws))
    expired = [s for s in states if s.live() and s.data.get("expires_at") and s.data["expires_at"] < now]
    for state in expired:
        reporter.event(
            "note",
            text=f"ops: lab {state.data['lab']} (run {state.run_id}) expired "
            f"{format_duration(now - state.data['expires_at'])} ago.",
        )
    recorded = {(s.data["lab"], s.run_id) for s in states if s.live()}  # its record knows better than a tag
    tagged = [f for f in _expired_by_tag(target, now, reporter) if (f.lab, f.run) not in recorded]
    if tagged:
        reporter.event("note", text="ops: expired by their ops:expires tag:\n" + "\n".join(preview_lines(tagged)))
    if not expired and not tagged:
        reporter.event("note", text="ops: no expired labs.")
        return 0
    if not confirmed:
        what = [f"{len(expired)} lab(s)"] * bool(expired) + [f"{len(tagged)} tagged resource(s)"] * bool(tagged)
        reporter.event("note", text=f"ops: preview only; add --yes to tear down these {' and '.join(what)}.")
        return 0
    code = 0
    for state in expired:
        code = max(code, teardown_lab(state.data["lab"], target, reporter=reporter, settings=settings, only=[state]))
    if tagged or expired:  # found anew: a teardown takes only what its record knew
        speaking = recorded - {(s.data["lab"], s.run_id) for s in expired}
        found = [f for f in _expired_by_tag(target, now, reporter) if (f.lab, f.run) not in speaking]
        can, cannot = deletable(found)
        with target.open() as aws:
            if can:
                code = max(code, delete_and_report(can, cannot, aws, reporter, settings))
    return code


def _now(target: RunTarget) -> float:
    """The calendar expiries are compared with: a dry run's is its simulated account's."""
    if target.dry_run and not target.throwaway and target.sim_home.exists():
        with target.open() as aws:
            return aws.clock.wall()
    return wall_time()


def _expired_by_tag(target: RunTarget, now: float, reporter) -> List[Found]:
    """Ops-tagged resources whose ops:expires has passed, in the target's region (none when
    the dry runs' simulated account does not exist: looking must not create it). A listing
    AWS refuses is said, and the recorded labs are still torn down."""
    from botocore.exceptions import BotoCoreError, ClientError

    if target.dry_run and not target.throwaway and not target.sim_home.exists():
        return []
    with target.open() as aws:
        try:
            return expired_among(find_tagged(aws), now)
        except (ClientError, BotoCoreError) as exc:
            failure = aws_failure(exc)
            if failure is None:
                raise
            reporter.event("note", text=f"ops: could not look for expired tags: {failure.message}")
            return []


def expired_among(found: List[Found], now: float) -> List[Found]:
    return [item for item in found if item.expires is not None and item.expires < now]

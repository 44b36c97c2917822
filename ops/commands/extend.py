"""`ops extend LAB --by 2h | --until TIME`: a kept lab lives longer, and its dead man's switch
waits with it. The record's expiry, the armed schedules (UpdateSchedule: a new at()) and the
ops:expires tag on everything the run made move together, under the lab's lock (so that
`ops sweep --expired`, which may read tags alone, does not take the lab early either)."""

from typing import Optional

from ..aws import error_code
from ..clock import wall_time
from ..durations import format_duration
from ..engine.lock import hold_locks
from ..engine.state import RunState
from ..engine.target import RunTarget
from ..errors import BadInput
from ..model import TAG_EXPIRES, tag_time
from ..steps import resource_kinds
from ..steps.deadman import SCHEDULE, at_expression
from .lab import lab_states


def extend_lab(lab: str, target: RunTarget, *, by: Optional[float], until: Optional[float], reporter) -> int:
    """Move the expiry of a lab (and its copies) recorded here or in S3. Returns the exit code."""
    with target.open(patient=True) as aws:
        store = target.records(aws)
        labs = [s.data["lab"] for s in lab_states(store, lab) if s.live()]
        if not labs:
            raise BadInput(f"no live lab '{lab}' is recorded in {store.where()}.", "See 'ops status'.")
        now = aws.clock.wall() if aws.dry_run else wall_time()
        with hold_locks(store, labs, target.lock, reporter):
            for state in [s for s in lab_states(store, lab) if s.data["lab"] in labs and s.live()]:
                base = state.data.get("expires_at") or now
                expires = until if until is not None else max(base, now) + (by or 0)
                if expires <= now:
                    raise BadInput(
                        f"{tag_time(expires)} has passed already.", "Give a later --until, or --by a duration."
                    )
                state.set("expires_at", expires)
                moved = _move_switch(aws, state, expires)
                reporter.event(
                    "note",
                    text=f"ops: lab {state.data['lab']} (run {state.run_id}) now expires "
                    f"{tag_time(expires)} (in {format_duration(expires - now)}); {moved}.",
                )
    return 0


def _move_switch(aws, state: RunState, expires: float) -> str:
    """Each armed schedule's time, and the ops:expires tag of each resource the run made;
    what was moved, said for the user."""
    from botocore.exceptions import ClientError

    kinds = resource_kinds()
    scheduler = aws.client("scheduler")
    moved, tagged = 0, 0
    for resource in state.live():
        if resource.base_kind == SCHEDULE:
            moved += _move_schedule(aws, scheduler, resource, expires)
            state.record(resource)
            continue
        kind = kinds.get(resource.base_kind, (None, ""))[0]
        if kind is None or kind.retag is None or not resource.ours:  # untagged, or another lab's
            continue
        try:
            kind.retag.put(aws, resource.id, [{"Key": TAG_EXPIRES, "Value": tag_time(expires)}])
        except ClientError as exc:
            if error_code(exc) not in kind.not_found:
                raise
            continue  # gone already
        tagged += 1
    schedules = f"{moved} schedule(s) moved" if moved else "no armed schedule to move"
    return f"{schedules}, {tagged} resource(s) re-tagged"


def _move_schedule(aws, scheduler, resource, expires: float) -> int:
    """1 if the schedule was moved, 0 if it ran already (and deleted itself)."""
    group, name = resource.id.split("/", 1)
    try:
        current = aws.call(scheduler.get_schedule, Name=name, GroupName=group)
    except scheduler.exceptions.ResourceNotFoundException:
        return 0
    kept = ("Name", "GroupName", "FlexibleTimeWindow", "Target", "ActionAfterCompletion", "State", "Description")
    aws.call(
        scheduler.update_schedule,
        **{key: current[key] for key in kept if key in current},
        ScheduleExpression=at_expression(expires),
        ScheduleExpressionTimezone="UTC",
    )
    resource.attrs["at"] = expires
    return 1

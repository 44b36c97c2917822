"""`ops extend LAB --by 2h | --until TIME`: a kept lab lives longer, and its dead man's switch
waits with it. The record's expiry, the armed schedules (UpdateSchedule: a new at()) and the
schedule group's ops:expires tag move together, under the lab's lock."""

from typing import List, Optional

from ..clock import wall_time
from ..durations import format_duration
from ..engine.lock import hold_locks
from ..engine.state import RunState
from ..engine.target import RunTarget
from ..errors import BadInput
from ..model import TAG_EXPIRES, tag_time
from ..steps.deadman import GROUP, SCHEDULE, at_expression
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
    """Each armed schedule's time, and the group's tag; what was moved, said for the user."""
    scheduler = aws.client("scheduler")
    moved: List[str] = []
    for resource in state.live():
        if resource.base_kind == SCHEDULE:
            group, name = resource.id.split("/", 1)
            try:
                current = aws.call(scheduler.get_schedule, Name=name, GroupName=group)
            except scheduler.exceptions.ResourceNotFoundException:
                continue  # it ran already (and deleted itself): nothing of it to move
            aws.call(
                scheduler.update_schedule,
                **{
                    key: current[key]
                    for key in (
                        "Name",
                        "GroupName",
                        "FlexibleTimeWindow",
                        "Target",
                        "ActionAfterCompletion",
                        "State",
                        "Description",
                    )
                    if key in current
                },
                ScheduleExpression=at_expression(expires),
                ScheduleExpressionTimezone="UTC",
            )
            resource.attrs["at"] = expires
            state.record(resource)
            moved.append(name)
        elif resource.base_kind == GROUP:
            arn = aws.call(scheduler.get_schedule_group, Name=resource.id)["Arn"]
            aws.call(scheduler.tag_resource, ResourceArn=arn, Tags=[{"Key": TAG_EXPIRES, "Value": tag_time(expires)}])
    return f"{len(moved)} schedule(s) moved" if moved else "no armed schedule to move"

"""Work on a team's shared records: move a lab's record between here and S3 (`ops state
push|pull`), and take over a lock whose holder is gone (`ops unlock`).

A move happens under the lab's lock, and the copy it replaces must hold nothing live of
another run (unless forced), so a move never hides resources that still cost money. The
source is removed only after the destination is written.
"""

from typing import Callable

from ..engine.lock import LabLock, Locked, hold_locks, take_over
from ..engine.state import LIVE
from ..engine.target import RunTarget
from ..errors import BadInput


def _live_count(data) -> int:
    return sum(1 for r in (data or {}).get("resources", []) if r.get("status") in LIVE)


def _check_replaceable(lab: str, source, existing, existing_where: str, force: bool) -> None:
    if existing is None or force or not _live_count(existing) or existing.get("run_id") == source.get("run_id"):
        return
    raise BadInput(
        f"{existing_where} already holds lab '{lab}' run {existing.get('run_id')} with "
        f"{_live_count(existing)} live resource(s); moving run {source.get('run_id')} there would hide them.",
        "Tear that run down first, or pass --force if you are sure that record is wrong.",
    )


def move(lab: str, direction: str, target: RunTarget, *, force: bool, reporter) -> str:
    """direction "push" (here -> S3) or "pull" (S3 -> here), between the target's folder and its
    S3 location. Returns what was done, as a line."""
    local = target.local_records()
    with target.open() as aws:
        shared = target.records(aws)
        origin, destination = (local, shared) if direction == "push" else (shared, local)
        with hold_locks(shared, [lab], target.lock, reporter):
            origin_slot, destination_slot = origin.slot(lab), destination.slot(lab)
            data, origin_revision = origin_slot.read()
            if data is None:
                raise BadInput(
                    f"no record of lab '{lab}' in {origin.where()}.",
                    "Check the lab name ('ops status' lists them, with --state for S3).",
                )
            existing, destination_revision = destination_slot.read()
            _check_replaceable(lab, data, existing, destination_slot.where(), force)
            data["serial"] = max(data.get("serial", 0), (existing or {}).get("serial", 0)) + 1
            destination_slot.write(data, destination_revision)
            origin_slot.remove(origin_revision)
    return (
        f"ops: moved lab '{lab}' (run {data.get('run_id')}, {_live_count(data)} live resource(s)) "
        f"from {origin_slot.where()} to {destination_slot.where()}."
    )


FORCED_TRIES = 5  # takeovers that race the confirmed holder's renewals


def unlock(lab: str, target: RunTarget, *, force: bool, confirm: Callable[[str], bool]) -> str:
    """Remove the lock of a lab whose holder is gone, after confirm(description) says yes."""
    with target.open() as aws:
        lock = LabLock(target.shared_records(aws), lab)
        holder, etag = lock.current()
        if holder is None:
            return f"ops: lab '{lab}' is not locked ({lock.where()} does not exist)."
        if not holder.expired() and not force:
            raise Locked(
                f"lab '{lab}' is locked by {holder.describe()}; its lease is still running, so its "
                "holder is probably still working.",
                "Wait for it to finish; if you are sure that run is gone, pass --force.",
            )
        if not confirm(f"lab '{lab}' is locked by {holder.describe()}."):
            return "ops: cancelled; the lock is unchanged."
        for _ in range(FORCED_TRIES):
            try:
                take_over(lock, etag)
                break
            except Locked:
                # --force: the holder that was confirmed may renew its lease meanwhile; that is
                # still the lock to take over. Another holder, or a lease that was expired and
                # is now renewed (its holder lives), is not.
                again, etag = lock.current()
                if again is None:
                    break
                if not (force and again.id == holder.id):
                    raise
        else:
            raise Locked(
                f"lab '{lab}' is locked by {holder.describe()}, which renewed its lease at every try.",
                "Try again, or stop that run first.",
            )
    return (
        f"ops: removed the lock of lab '{lab}' (held by {holder.who}, pid {holder.pid}). The next run "
        "resumes from the record; its holder, if still running, stops when it next renews."
    )

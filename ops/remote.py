"""Work on a team's shared records: move a lab's record between here and S3 (`ops state
push|pull`), and take over a lock whose holder is gone (`ops unlock`).

A move happens under the lab's lock, and the copy it replaces must hold nothing live of
another run (unless forced), so a move never hides resources that still cost money. The
source is removed only after the destination is written.
"""

from pathlib import Path
from typing import Callable, Optional

from .errors import BadInput
from .lock import LabLock, Locked, LockOptions, hold_locks, take_over
from .records import LocalRecords, Location, open_records
from .state import LIVE
from .target import open_target


def _live_count(data) -> int:
    return sum(1 for r in (data or {}).get("resources", []) if r.get("status") in LIVE)


def _check_replaceable(lab: str, source, target, target_where: str, force: bool) -> None:
    if target is None or force or not _live_count(target) or target.get("run_id") == source.get("run_id"):
        return
    raise BadInput(
        f"{target_where} already holds lab '{lab}' run {target.get('run_id')} with "
        f"{_live_count(target)} live resource(s); moving run {source.get('run_id')} there would hide them.",
        "Tear that run down first, or pass --force if you are sure that record is wrong.",
    )


def move(
    lab: str,
    direction: str,
    *,
    root: Path,
    dry_run: bool,
    location: Location,
    region: Optional[str],
    profile: Optional[str],
    simulation: Optional[dict],
    lock: LockOptions,
    force: bool,
    reporter,
) -> str:
    """direction "push" (here -> S3) or "pull" (S3 -> here). Returns what was done, as a line."""
    local = LocalRecords(root, dry_run)
    with open_target(dry_run, region, profile, simulation) as aws:
        shared = open_records(root, dry_run, location, aws)
        source, target = (local, shared) if direction == "push" else (shared, local)
        with hold_locks(shared, [lab], lock, reporter):
            source_slot, target_slot = source.slot(lab), target.slot(lab)
            data, source_revision = source_slot.read()
            if data is None:
                raise BadInput(
                    f"no record of lab '{lab}' in {source.where()}.",
                    "Check the lab name ('ops status' lists them, with --state for S3).",
                )
            existing, target_revision = target_slot.read()
            _check_replaceable(lab, data, existing, target_slot.where(), force)
            data["serial"] = max(data.get("serial", 0), (existing or {}).get("serial", 0)) + 1
            target_slot.write(data, target_revision)
            source_slot.remove(source_revision)
    return (
        f"ops: moved lab '{lab}' (run {data.get('run_id')}, {_live_count(data)} live resource(s)) "
        f"from {source_slot.where()} to {target_slot.where()}."
    )


def unlock(
    lab: str,
    *,
    root: Path,
    dry_run: bool,
    location: Location,
    region: Optional[str],
    profile: Optional[str],
    simulation: Optional[dict],
    force: bool,
    confirm: Callable[[str], bool],
) -> str:
    """Remove the lock of a lab whose holder is gone, after confirm(description) says yes."""
    with open_target(dry_run, region, profile, simulation) as aws:
        lock = LabLock(open_records(root, dry_run, location, aws), lab)
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
        take_over(lock, etag)
    return (
        f"ops: removed the lock of lab '{lab}' (held by {holder.who}, pid {holder.pid}). The next run "
        "resumes from the record; its holder, if still running, stops when it next renews."
    )

"""When the dry runs' simulated account ends: once nothing of ops's is left in it.

The account (ops/sim/, in .ops/dry-run/account) outlives one process, so that a kept lab
can be looked at and torn down later; after a dry-run command, it is discarded when no
record here is live, no ops-tagged resource is left in it, no lab's lock or live record is
in its S3, and no other process is using it.
"""

import json
import os
from pathlib import Path
from typing import Dict, List

from ..engine.inventory import find_tagged
from ..engine.record_schema import check_record
from ..engine.records import OPS_OWN, LocalRecords
from ..engine.state import RunState
from ..engine.target import ATTACHED, SimAccountOutOfReach, open_target
from ..errors import BadInput, OpsError
from ..paths import sim_home
from ..sim.processes import alive

# sim home -> the calls this process had sent it (ops.sim.transport.calls_sent) when a full
# inventory of it found nothing of ops's
_FOUND_NOTHING: Dict[Path, int] = {}


def note_inventory(aws, found: List) -> None:
    """A full inventory of an account (find_tagged of every kind) found `found`. When the dry
    runs' account held nothing of ops's, the idle check after the command need not list it
    all again (a run's or a teardown's last act), as long as this process sends it no call
    meanwhile. Other processes are the check's own business, as before: their records, their
    locks in the simulated S3, their being attached to the account."""
    world = getattr(aws, "world", None)
    if found or world is None or world.home is None:
        return
    from ..sim.transport import calls_sent

    _FOUND_NOTHING[world.home] = calls_sent(world.home)


def _found_nothing_since(home: Path) -> bool:
    from ..sim.transport import calls_sent

    home = home.resolve()  # as a world names it
    return _FOUND_NOTHING.get(home) == calls_sent(home)


def _others_attached(home: Path) -> bool:
    others = [p for p in (home / ATTACHED).glob("*") if p.name.isdigit() and int(p.name) != os.getpid()]
    return any(alive(int(p.name)) for p in others)


def discard_simulation_if_idle(root: Path) -> bool:
    """End the simulated account once nothing of ops's is left in it: no live dry-run record
    here, and no ops-tagged resource (leftovers whose record was lost wait for `ops sweep`;
    see note_inventory for when the last inventory is enough)."""
    from ..sim.world import SimWorld

    home = sim_home(root)
    try:
        loaded = (RunState.load(slot) for slot in LocalRecords(root, dry_run=True).slots())
        states = [state for state in loaded if state is not None]
    except BadInput:
        return False  # a record ops cannot read (the command says so): keep the account
    if not home.exists() or any(state.live() for state in states) or _others_attached(home):
        return False
    listed = _found_nothing_since(home)  # before this check sends anything itself
    try:
        with open_target(True, states[-1].region if states else None, None, {"home": home}) as aws:
            if (not listed and find_tagged(aws)) or _shared_records_in_use(aws):
                return False
    except (BadInput, SimAccountOutOfReach):
        return False  # not sure what is in it: keep it (ops sim reset discards it)
    except OpsError:
        pass  # a lost account: nothing to keep
    SimWorld.destroy(home)
    return True


def _shared_records_in_use(aws) -> bool:
    """Does the simulated S3 hold a lab's lock (a run at work) or a record of live resources?"""
    s3 = aws.client("s3")
    for bucket in s3.list_buckets().get("Buckets", []):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for item in page.get("Contents", []):
                if item["Key"].endswith(".lock"):
                    return True
                if item["Key"].endswith(".json") and not item["Key"].rsplit("/", 1)[-1].startswith(OPS_OWN):
                    try:
                        record = check_record(
                            json.loads(s3.get_object(Bucket=bucket["Name"], Key=item["Key"])["Body"].read()),
                            item["Key"],
                        )
                    except (ValueError, BadInput):
                        return True  # not sure what it records: keep the account
                    if any(r["status"] in ("intent", "created", "adopted") for r in record["resources"]):
                        return True
    return False


def advance(root: Path, seconds: float) -> str:
    """Let `seconds` of simulated time pass in the dry runs' account (what is due meanwhile,
    such as a kept lab's dead man's switch, happens); what it did, said for the user."""
    from ..durations import format_duration
    from ..model import tag_time

    home = sim_home(root)
    if not home.exists():
        raise BadInput("there is no simulated account here.", "Make one with ops run PLAYBOOK --dry-run --keep.")
    region = json.loads((home / "store.json").read_text()).get("meta", {}).get("region")
    with open_target(True, region, None, {"home": home}) as aws:
        world = aws.world
        ran = len(world.scheduler.log)
        aws.clock.sleep(seconds)
        world.settle()  # each schedule due meanwhile runs as of when it fell due ...
        world.settle()  # ... and what it started has gone on since
        lines = [f"ops: {format_duration(seconds)} passed in the simulated account (now {tag_time(world.calendar())})."]
        lines += [f"ops: schedule {entry}" for entry in world.scheduler.log[ran:]]
    return "\n".join(lines)

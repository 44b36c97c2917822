"""Where a command runs: the real AWS account, or a simulated one (moto + ops.sim)."""

import functools
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from .aws import Aws, real_session
from .clock import VirtualClock, WallClock
from .errors import BadInput, OpsError

DRY_RUN_DEFAULT_REGION = "us-east-1"


@functools.lru_cache(maxsize=None)
def known_regions() -> frozenset:
    """Every region of every AWS partition, from botocore's endpoint data, without importing
    botocore (so commands that only check input stay fast)."""
    import importlib.util
    import json

    spec = importlib.util.find_spec("botocore")
    if spec is None or spec.origin is None:
        raise RuntimeError("botocore is not installed (boto3 needs it): reinstall ops")
    data = Path(spec.origin).parent / "data" / "endpoints.json"
    return frozenset(r for partition in json.loads(data.read_text())["partitions"] for r in partition["regions"])


def check_region(region: Optional[str]) -> None:
    """Refuse a region name no AWS partition knows, before any call is made."""
    if not region:
        return
    import difflib

    known = known_regions()
    if region not in known:
        close = difflib.get_close_matches(region, sorted(known), n=1)
        raise BadInput(
            f"'{region}' is not an AWS region.",
            f"Did you mean '{close[0]}'?" if close else "Pass a real one, e.g. --region us-east-1.",
        )


class SimAccountOutOfReach(OpsError):
    """The simulated account's server runs but cannot be asked (its keys unreadable, no answer):
    what is in it is unknown, so it is never discarded unasked."""


@contextmanager
def open_target(
    dry_run: bool,
    region: Optional[str],
    profile: Optional[str],
    simulation: Optional[dict] = None,
    patient: bool = False,
) -> Iterator[Aws]:
    """simulation: for a dry run, SimWorld arguments (durations, faults) and `realtime`
    (run the simulated lifecycles on the wall clock, for demos). patient: for run and
    teardown; other commands fail fast when AWS cannot be reached (ops.aws)."""
    check_region(region)
    if not dry_run:
        session = real_session(region, profile)
        check_region(session.region_name)
        yield Aws(session, session.region_name, WallClock(), patient=patient)
        return
    from .sim.server import SimServerError
    from .sim.world import SimAccountLost, SimWorld

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DRY_RUN_DEFAULT_REGION
    check_region(region)
    options = dict(simulation or {})
    clock = WallClock() if options.pop("realtime", False) else VirtualClock()
    world = SimWorld(clock, region=region, **options)
    try:
        world.start()
    except SimAccountLost as exc:
        raise OpsError(f"{exc}.", "Discard it with 'ops sim reset' (the simulated account's records go too).") from None
    except SimServerError as exc:
        raise SimAccountOutOfReach(
            f"{exc}.", "Discard it with 'ops sim reset' (the simulated account's records go too)."
        ) from None
    except ValueError as exc:
        raise BadInput(
            f"{exc}.", "Use that region for dry runs, or discard the simulated account: ops sim reset."
        ) from None
    attached = _attach(world.home)
    try:
        aws = Aws(world.session(), region, clock, dry_run=True)
        aws.world = world
        aws.persistent = world.home is not None
        yield aws
    finally:
        world.stop()
        if attached:
            attached.unlink(missing_ok=True)


def _attach(home: Optional[Path]) -> Optional[Path]:
    """Note that this process is using the persistent account (so another one that finishes
    does not discard it from under us, e.g. while we wait for a lab's lock)."""
    if home is None:
        return None
    folder = Path(home) / "attached"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    mark = folder / str(os.getpid())
    mark.touch(mode=0o600)
    return mark


def _others_attached(home: Path) -> bool:
    from .sim.processes import alive

    others = [p for p in (home / "attached").glob("*") if p.name.isdigit() and int(p.name) != os.getpid()]
    return any(alive(int(p.name)) for p in others)


def sim_home(root: Path) -> Path:
    """Where the dry runs' simulated account lives: it outlives one process."""
    return root / ".ops" / "dry-run" / "account"


def discard_simulation_if_idle(root: Path) -> bool:
    """End the simulated account once nothing of ops's is left in it: no live dry-run record
    here, and no ops-tagged resource (leftovers whose record was lost wait for `ops sweep`)."""
    from .inventory import find_tagged
    from .records import LocalRecords
    from .sim.world import SimWorld
    from .state import RunState

    home = sim_home(root)
    try:
        loaded = (RunState.load(slot) for slot in LocalRecords(root, dry_run=True).slots())
        states = [state for state in loaded if state is not None]
    except BadInput:
        return False  # a record ops cannot read (the command says so): keep the account
    if not home.exists() or any(state.live() for state in states) or _others_attached(home):
        return False
    try:
        with open_target(True, states[-1].region if states else None, None, {"home": home}) as aws:
            if find_tagged(aws) or _shared_records_in_use(aws):
                return False
    except (BadInput, SimAccountOutOfReach):
        return False  # not sure what is in it: keep it (ops sim reset discards it)
    except OpsError:
        pass  # a lost account: nothing to keep
    SimWorld.destroy(home)
    return True


def _shared_records_in_use(aws) -> bool:
    """Does the simulated S3 hold a lab's lock (a run at work) or a record of live resources?"""
    import json

    from .record_schema import check_record

    s3 = aws.client("s3")
    for bucket in s3.list_buckets().get("Buckets", []):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for item in page.get("Contents", []):
                if item["Key"].endswith(".lock"):
                    return True
                if item["Key"].endswith(".json"):
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

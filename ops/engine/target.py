"""Where a command runs: the real AWS account, or a simulated one (moto + ops.sim).

RunTarget holds every such decision of one command, made once by the CLI from its flags and
the config: real or simulated (and how: durations, wall-clock pace, a throwaway account for
previews), region and profile, the folder whose .ops/ holds the records (or the S3 prefix
that does) and how long to wait for a lab's lock. It owns the paths below .ops/ and opens
the account; the commands' work takes one instead of a handful of loose arguments.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, Iterator, List, Mapping, Optional

from ..aws import DRY_RUN_DEFAULT_REGION, Aws, configured_attempts, real_session
from ..clock import VirtualClock, WallClock
from ..errors import BadInput, OpsError
from ..paths import ops_dir, sim_home
from .lock import LockOptions
from .records import LocalRecords, LocalSlot, Location, RecordStore, S3Records, fallback_slot


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


ATTACHED = "attached"  # in the simulated account's home: a file per process using it, named by pid


@dataclasses.dataclass(frozen=True)
class RunTarget:
    """Where one command acts (see the module's docstring)."""

    root: Path  # the folder whose .ops/ holds this machine's records and the simulated account
    dry_run: bool
    region: Optional[str] = None  # --region's
    profile: Optional[str] = None
    config_region: Optional[str] = None  # the config's `region:`; neither: the profile's or environment's
    location: Optional[Location] = None  # records in S3; None: in .ops/ here
    lock: LockOptions = LockOptions()
    sim_durations: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    realtime: bool = False  # a dry run's lifecycles at the wall clock's pace (demos)
    throwaway: bool = False  # a fresh simulated account, gone with the process (plan, doctor, tests)
    sim_faults: Any = None  # a dry run's ops.sim.faults.FaultPlan (the fault tests and the benchmark)

    @property
    def ops_dir(self) -> Path:
        """.ops/ (real runs) or .ops/dry-run/ (simulated ones) of the root folder."""
        return ops_dir(self.root, self.dry_run)

    @property
    def sim_home(self) -> Path:
        return sim_home(self.root)

    @property
    def simulation(self) -> Optional[Dict[str, Any]]:
        """The SimWorld arguments of a dry run (None for a real one)."""
        if not self.dry_run:
            return None
        options: Dict[str, Any] = {"durations": dict(self.sim_durations)}
        if not self.throwaway:
            options["home"] = self.sim_home
        if self.realtime:
            options["realtime"] = True
        if self.sim_faults is not None:
            options["faults"] = self.sim_faults
        return options

    @property
    def chosen_region(self) -> Optional[str]:
        """--region, else the config's (else, when the account is opened, the profile's or
        environment's; a dry run's default is us-east-1)."""
        return self.region or self.config_region

    def open(self, region: Optional[str] = None, patient: bool = False) -> ContextManager[Aws]:
        """The account (a context manager yielding ops.aws.Aws), in `region` or the target's."""
        return open_target(self.dry_run, region or self.chosen_region, self.profile, self.simulation, patient=patient)

    def on_demand(self, stack: ExitStack) -> Callable[[], Optional[Aws]]:
        """A function giving the account, opened (patiently, in `stack`) the first time it is
        called, so that checks that need no account open none, and the run then uses the one
        its checks opened. It gives None for a simulated account that does not exist yet: it
        holds nothing, and looking must not create it."""
        opened: List[Aws] = []

        def account() -> Optional[Aws]:
            if not opened:
                if self.dry_run and not self.throwaway and not self.sim_home.exists():
                    return None
                opened.append(stack.enter_context(self.open(patient=True)))
            return opened[0]

        return account

    def records(self, aws: Optional[Aws] = None) -> RecordStore:
        """The store this command's records are in: S3 (with `aws`) or .ops/ here."""
        return self.local_records() if self.location is None else self.shared_records(aws)

    def shared_records(self, aws: Optional[Aws]) -> S3Records:
        """The S3 prefix of --state (or the config's), in a dry run the simulated account's."""
        if self.location is None:
            raise ValueError("this command keeps its records here, not in S3")
        store = S3Records(self.location, aws)
        if self.dry_run:
            store.ensure_bucket()
        return store

    def local_records(self) -> LocalRecords:
        return LocalRecords(self.root, self.dry_run)

    def fallback_slot(self, lab: str, run_id: str) -> LocalSlot:
        return fallback_slot(self.root, self.dry_run, lab, run_id)


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
        yield Aws(session, session.region_name, WallClock(), max_attempts=configured_attempts(session), patient=patient)
        return
    from ..sim.server import SimServerError
    from ..sim.world import SimAccountLost, SimWorld

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
    if isinstance(clock, VirtualClock):
        clock.align_wall(world.calendar())
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
    folder = Path(home) / ATTACHED
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    mark = folder / str(os.getpid())
    mark.touch(mode=0o600)
    return mark

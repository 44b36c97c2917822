"""Where a command runs: the real AWS account, or a simulated one (moto + ops.sim)."""
import os
from contextlib import contextmanager
from typing import Iterator, Optional

from .aws import Aws, real_session
from .clock import VirtualClock, WallClock

DRY_RUN_DEFAULT_REGION = "us-east-1"


@contextmanager
def open_target(dry_run: bool, region: Optional[str], profile: Optional[str],
                simulation: Optional[dict] = None) -> Iterator[Aws]:
    """simulation: for a dry run, SimWorld arguments (durations, faults) and `realtime`
    (run the simulated lifecycles on the wall clock, for demos)."""
    if not dry_run:
        session = real_session(region, profile)
        yield Aws(session, session.region_name, WallClock())
        return
    from .sim.world import SimWorld

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DRY_RUN_DEFAULT_REGION
    options = dict(simulation or {})
    clock = WallClock() if options.pop("realtime", False) else VirtualClock()
    with SimWorld(clock, region=region, **options) as world:
        aws = Aws(world.session(), region, clock, dry_run=True)
        aws.world = world
        yield aws

"""The lab under a throttled, flaky simulated AWS: retries and waits absorb it, and whatever
happens nothing is left behind."""

import io
import json
from pathlib import Path

import pytest
from harness import rehearse_faults

from ops.commands.config import load_settings
from ops.engine.playbook import load_playbook
from ops.errors import StepFailed
from ops.output import Reporter
from ops.sim.faults import FaultPlan

LAB = Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml"
CONTROL_PLANE = ("cloud9", "elasticache", "ec2", "iam", "ssm")
FEW_READS = {"demo_reads": 5}  # the demo times 50 reads of DynamoDB by default: a third of a run's CPU


def rehearse(workdir, plan, overrides=None):
    return rehearse_faults(workdir, load_playbook(LAB, overrides), plan)


class CountingPlan(FaultPlan):
    """A FaultPlan that remembers which faults it handed out."""

    def draw(self, service, operation, n):
        fault = super().draw(service, operation, n)
        if fault:
            self.__dict__.setdefault("drawn", []).append((service, operation))
        return fault


def test_throttling_a_third_of_control_plane_calls_does_not_fail_the_lab(workdir):
    plan = CountingPlan(seed=7, throttle=0.3, services=CONTROL_PLANE)
    code, events = rehearse(workdir, plan, FEW_READS)
    assert code == 0, [e for e in events if "fail" in e["event"]]
    drawn = plan.__dict__["drawn"]
    assert len(drawn) > 20  # many calls were throttled, polls during waits among them
    assert any(op.startswith("Describe") for _, op in drawn)
    assert events[-1]["left"] == []


# One test per seed and scope, so pytest-xdist spreads them. Everywhere includes the demo's ~100
# DynamoDB reads; the control plane's faults never touch them, so it times only a few. The faults happen inside botocore's retry loop (ops/sim/transport.py), so its
# standard retries absorb them as they would AWS's; a run that still fails must fail clearly
# and cleanly.
SCOPES = {"control plane": CONTROL_PLANE, "everywhere": None}
READS = {"control plane": FEW_READS, "everywhere": None}


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("seed", range(1, 7))
def test_throttling_and_server_errors_never_leak(workdir, seed, scope):
    plan = FaultPlan(seed=seed, throttle=0.3, server_error=0.05, services=SCOPES[scope])
    code, events = rehearse(workdir, plan, READS[scope])
    if scope == "control plane":
        assert code == 0, code  # retries and patient waits absorb all of it
    if code != 0:  # a failure must be a clear step failure, and the rehearsal still cleans up
        assert isinstance(code, StepFailed) and code.step
    finished = events[-1]
    print(
        f"\nfault seed {seed} ({scope}): {'succeeded' if code == 0 else 'failed clearly'}, left {finished.get('left')}"
    )
    assert all(e["event"] != "resource_delete_failed" for e in events)
    assert finished["event"] == "run_finished" and finished["checked_account"] and finished["left"] == []


def rehearse_with(workdir, plan, **overrides):
    return rehearse_faults(workdir, load_playbook(LAB, overrides), plan)


def test_a_delete_refused_for_now_is_retried(workdir):
    code, events = rehearse_with(
        workdir, FaultPlan(seed=1, fail_first_delete=["fixed-cluster"]), cluster_id="fixed-cluster"
    )
    assert code == 0
    refused = [e for e in events if e["event"] == "step_waiting" and "InvalidCacheClusterState" in e["status"]]
    assert refused  # AWS said no once; ops waited and asked again
    assert events[-1]["left"] == []


def test_a_cluster_stuck_creating_fails_clearly_and_is_reported_not_forgotten(workdir):
    code, events = rehearse_with(
        workdir, FaultPlan(seed=1, stuck_creating=["fixed-cluster"]), cluster_id="fixed-cluster"
    )
    assert isinstance(code, StepFailed) and code.step == "redis"
    assert "timed out" in str(code) and "creating" in str(code)
    finished = events[-1]
    assert finished["result"] == "teardown incomplete"
    assert any("fixed-cluster" in item for item in finished["left"])  # still there, and said so
    others = [item for item in finished["left"] if "fixed-cluster" not in item]
    assert others == []  # everything else was deleted


def test_a_cloud9_environment_that_ends_create_failed_fails_the_step_at_once(workdir):
    """Its stack never launches an instance: ops used to wait the instance's whole timeout
    (20 minutes) for it; now the environment's CREATE_FAILED ends the wait, with AWS's reason,
    and teardown deletes the failed environment and everything else (issue 15)."""
    code, events = rehearse_with(
        workdir, FaultPlan(seed=1, create_failed=["failed-env"]), environment_name="failed-env"
    )
    assert isinstance(code, StepFailed) and code.step == "cloud9"
    assert "CREATE_FAILED" in str(code) and "failed to create" in str(code)
    waited = max(e["elapsed"] for e in events if e["event"] == "step_waiting" and e["step"] == "cloud9")
    assert waited < 600  # the environment's own creation time, not the instance wait's timeout
    finished = events[-1]
    assert finished["checked_account"] and finished["left"] == []


def test_a_replication_group_that_ends_create_failed_fails_the_step_and_is_deleted(workdir):
    """botocore's ReplicationGroupAvailable waiter has no acceptor for create-failed: ops
    waited out its 40-minute timeout; now create-failed is a failure, and the failed group is
    deleted with the rest (issue 15)."""
    code, events = rehearse_faults(
        workdir,
        load_playbook(LAB.with_name("lab-secure.yaml"), {"group_id": "failed-group"}),
        FaultPlan(seed=1, create_failed=["failed-group"]),
    )
    assert isinstance(code, StepFailed) and code.step == "cache"
    assert "create-failed" in str(code)
    waited = max(e["elapsed"] for e in events if e["event"] == "step_waiting" and e["step"] == "cache")
    assert waited < 1800  # its creation time, not the 40-minute timeout
    deleted = [e for e in events if e["event"] == "resource_deleted" and e["kind"] == "replication-group"]
    assert deleted and events[-1]["checked_account"] and events[-1]["left"] == []


class LosingPlan(FaultPlan):
    """A FaultPlan that remembers which calls' answers it lost."""

    def draw(self, service, operation, n):
        fault = super().draw(service, operation, n)
        if fault == "lost_answer":
            self.__dict__.setdefault("lost", []).append(operation)
        return fault


# Issue 15's plan: 20% throttling, 5% server errors, 5% dropped connections, 8% answers lost
# after the call was applied, on every service. Each seed here loses the answer of at least one
# create call (14 of the seeds 1-25 that do; together: CreateEnvironmentEC2, CreateCacheCluster,
# AuthorizeSecurityGroupIngress, CreateRole, CreateInstanceProfile, AddRoleToInstanceProfile, CreateTable,
# AttachRolePolicy, PutRolePolicy; tests/test_lost_answers_lab.py loses each create and delete
# on its own). bench/faults.py runs 100 seeds of this plan, and CI runs it.
LOSING_SEEDS = (1, 2, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 24)
CREATE_CALLS = ("Create", "Authorize", "RunInstances", "Put", "AddRole", "Attach")


@pytest.mark.parametrize("seed", LOSING_SEEDS)
def test_lost_answers_on_creates_never_leak(workdir, seed):
    plan = LosingPlan(seed=seed, throttle=0.2, server_error=0.05, dropped=0.05, lost_answer=0.08)
    code, events = rehearse(workdir, plan, FEW_READS)  # the creates' faults are drawn the same
    lost_creates = sorted({op for op in plan.__dict__.get("lost", []) if op.startswith(CREATE_CALLS)})
    finished = events[-1]
    print(f"\nseed {seed}: {'succeeded' if code == 0 else f'failed at {code.step}'}, lost answers of {lost_creates}")
    assert lost_creates  # the case of the issue happened in this run
    if code != 0:
        assert isinstance(code, StepFailed) and code.step
    assert finished["event"] == "run_finished" and finished["checked_account"]
    # Steps run concurrently, so which call draws which fault varies a little between runs: a
    # teardown call may (rarely) draw a fault on every one of its attempts. What is left then is
    # reported and still in the record (lost track of: never).
    record = json.loads((workdir / ".ops/dry-run/state/elasticache-lab.json").read_text())
    recorded = {
        f"{r['kind']} {r['id']}" for r in record["resources"] if r["status"] in ("intent", "created", "adopted")
    }
    for item in finished["left"]:
        assert any(item.startswith(label) for label in recorded), f"{item} is left and not in the record"
    if not finished["left"]:
        assert all(e["event"] != "resource_delete_failed" for e in events)


def test_an_account_check_out_of_retries_is_reported_not_raised(world, tmp_path):
    """After a dry run's teardown ops lists the account for leftovers; when that listing runs
    out of retries (seed 25 of the plan above: ListRoles), the run says the check is missing
    instead of ending in a raw ClientError."""
    from ops.aws import Aws
    from ops.commands.lab import LabRun, teardown_all
    from ops.engine.state import RunState

    world.faults = FaultPlan(seed=0, throttle=1.0, services={"iam"})  # every IAM attempt is throttled
    aws = Aws(world.session(), world.region, world.clock, dry_run=True, max_attempts=2)
    state = RunState.start(tmp_path / "lab.json", "lab", "lab.yaml", world.region, dry_run=True)
    settings, _, _ = load_settings(())
    left = teardown_all([LabRun("lab", state, Reporter("json", io.StringIO(), world.clock))], aws, settings)
    assert len(left["lab"]) == 1 and "could not be checked for leftovers" in left["lab"][0]
    assert "Throttling" in left["lab"][0]


class ThrottledFirst(FaultPlan):
    """Throttles the first `times` attempts at service.operation, nothing else."""

    def __init__(self, service, operation, times):
        super().__init__(seed=0)
        object.__setattr__(self, "target", (service, operation, times))

    def draw(self, service, operation, n):
        wanted, op, times = self.target
        return "throttle" if (service, operation) == (wanted, op) and n < times else None


def test_an_account_check_out_of_retries_is_asked_again_after_a_pause(world, tmp_path):
    """The check is what tells the user nothing keeps billing: a listing that ran out of its
    client's retries once is asked again (on the run's clock) and the check completes."""
    from ops.aws import Aws
    from ops.commands.lab import LabRun, teardown_all
    from ops.engine.state import RunState

    world.faults = ThrottledFirst("iam", "ListRoles", times=2)  # both attempts of the first listing
    aws = Aws(world.session(), world.region, world.clock, dry_run=True, max_attempts=2)
    state = RunState.start(tmp_path / "lab.json", "lab", "lab.yaml", world.region, dry_run=True)
    settings, _, _ = load_settings(())
    started = world.clock.now()
    left = teardown_all([LabRun("lab", state, Reporter("json", io.StringIO(), world.clock))], aws, settings)
    assert left == {"lab": []}
    assert world.injector.state["calls"]["iam.ListRoles"] == 3
    assert world.clock.now() - started >= 30  # the pause, slept on the virtual clock

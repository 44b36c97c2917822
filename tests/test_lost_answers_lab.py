"""Issue 15: a call AWS applied but whose answer was lost. The retry layer re-sends it and AWS
answers "already exists" / "duplicate" (or, for a delete, "not found"); the step must record
what its first attempt made as this run's, and teardown must delete it.

Each test loses exactly one answer, the first of one operation, in a whole dry run of a lab
(throwaway account, teardown at the end), and compares what was recorded with a run where
nothing was lost."""

from pathlib import Path

import pytest
from harness import rehearse_faults

from ops.engine.playbook import load_playbook
from ops.sim.faults import FaultPlan

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
FEW_READS = {"demo_reads": 5}


class LoseOne(FaultPlan):
    """Loses the answer of the first call of one operation, and nothing else."""

    def __init__(self, service: str, operation: str):
        super().__init__(seed=0)
        object.__setattr__(self, "target", (service, operation))
        object.__setattr__(self, "lost", [])

    def draw(self, service, operation, n):
        if (service, operation) == self.target and n == 0:
            self.lost.append((service, operation))
            return "lost_answer"
        return None


def rehearse(workdir, playbook, plan):
    # the demo's timed reads lose nothing here: time only a few (50 by default)
    return rehearse_faults(workdir, load_playbook(PLAYBOOKS / playbook, FEW_READS), plan)


def recorded(events):
    """(step, kind, ours) of each resource a step recorded, as often as it was recorded."""
    return sorted((e["step"], e["kind"], e["ours"]) for e in events if e["event"] == "step_created")


def deleted(events):
    return sorted((e["step"], e["kind"]) for e in events if e["event"] == "resource_deleted")


_baselines: dict = {}


@pytest.fixture
def baseline(tmp_path_factory):
    """What a run without faults records and deletes, per playbook (once per process)."""

    def get(playbook):
        if playbook not in _baselines:
            code, events = rehearse(tmp_path_factory.mktemp("baseline"), playbook, None)
            assert code == 0
            _baselines[playbook] = recorded(events), deleted(events)
        return _baselines[playbook]

    return get


CREATES = [
    ("lab.yaml", "cloud9", "CreateEnvironmentEC2"),  # clientRequestToken: the same environment
    ("lab.yaml", "elasticache", "CreateCacheCluster"),  # CacheClusterAlreadyExists
    ("lab.yaml", "ec2", "AuthorizeSecurityGroupIngress"),  # InvalidPermission.Duplicate
    ("lab.yaml", "dynamodb", "CreateTable"),  # ResourceInUseException
    ("lab.yaml", "iam", "CreateRole"),  # EntityAlreadyExists
    ("lab.yaml", "iam", "CreateInstanceProfile"),  # EntityAlreadyExists
    ("lab.yaml", "iam", "AddRoleToInstanceProfile"),  # LimitExceeded
    ("lab.yaml", "iam", "AttachRolePolicy"),  # idempotent
    ("lab-secure.yaml", "ec2", "CreateSecurityGroup"),  # InvalidGroup.Duplicate
    ("lab-secure.yaml", "ec2", "RunInstances"),  # ClientToken: the same instance
    ("lab-secure.yaml", "elasticache", "CreateCacheSubnetGroup"),  # CacheSubnetGroupAlreadyExists
    ("lab-secure.yaml", "elasticache", "CreateReplicationGroup"),  # ReplicationGroupAlreadyExists
    ("lab-secure.yaml", "ssm", "PutParameter"),  # ParameterAlreadyExists
    ("lab-secure.yaml", "iam", "PutRolePolicy"),  # idempotent
]
DELETES = [
    ("lab.yaml", "cloud9", "DeleteEnvironment"),
    ("lab.yaml", "elasticache", "DeleteCacheCluster"),
    ("lab.yaml", "ec2", "RevokeSecurityGroupIngress"),
    ("lab.yaml", "dynamodb", "DeleteTable"),
    ("lab.yaml", "iam", "RemoveRoleFromInstanceProfile"),
    ("lab.yaml", "iam", "DetachRolePolicy"),
    ("lab.yaml", "iam", "DeleteRole"),
    ("lab-secure.yaml", "elasticache", "DeleteCacheSubnetGroup"),  # CacheSubnetGroupNotFoundFault
]


@pytest.mark.parametrize("playbook, service, operation", CREATES + DELETES)
def test_a_lost_answer_is_recorded_once_as_ours_and_torn_down(workdir, baseline, playbook, service, operation):
    plan = LoseOne(service, operation)
    code, events = rehearse(workdir, playbook, plan)
    assert plan.lost == [(service, operation)]  # it happened (the call was made, and its answer lost)
    assert code == 0, code
    assert (recorded(events), deleted(events)) == baseline(playbook)  # nothing twice, nothing missing
    finished = events[-1]
    assert finished["event"] == "run_finished" and finished["checked_account"] and finished["left"] == []

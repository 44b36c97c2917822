"""`ops run` asks whether the region offers each node type before any step creates anything:
a node type with a real name but no nodes (cache.m5.8xlarge) used to fail at CreateCacheCluster,
after the client host before it had been made and billed."""

from pathlib import Path

import pytest
from harness import error_response, ok_response

from ops.aws import Aws
from ops.commands.lab import check_before_run
from ops.engine.playbook import load_playbook
from ops.errors import BadInput
from ops.steps.node_types import literal_node_type
from tests.test_bad_inputs import describe, invoke

LAB = Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml"
NOT_OFFERED = "cache.m5.8xlarge"  # the right shape and family; M5 has no 8xlarge


def test_the_simulator_refuses_the_node_type_as_aws_does(world):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as refused:
        world.session().client("elasticache").create_cache_cluster(
            CacheClusterId="lab", Engine="redis", CacheNodeType=NOT_OFFERED, NumCacheNodes=1
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert NOT_OFFERED in refused.value.response["Error"]["Message"]


def test_a_dry_run_is_refused_before_the_first_step_creates_anything(workdir):
    result = invoke(["run", LAB, "--dry-run", "--var", f"node_type={NOT_OFFERED}"])
    assert result.exit_code == 2, describe(result)
    assert f"lab.yaml:{_node_type_line()}:" in result.output and NOT_OFFERED in result.output
    assert "Nothing was created" in result.output and "Traceback" not in result.output
    assert not (workdir / ".ops").exists()  # no record, and no simulated account was even opened


def _node_type_line() -> int:
    playbook = load_playbook(LAB, {"node_type": NOT_OFFERED})
    return playbook.step("redis").arg_lines["node_type"]


def test_a_dry_run_with_an_offered_node_type_passes_the_preflight():
    check_before_run(load_playbook(LAB, {"node_type": "cache.t4g.small"}), lambda: None, True)


def real_account(world, answer):
    """A real account (to the preflight) whose DescribeReservedCacheNodesOfferings gives `answer`."""
    session = world.session()
    session.events.register_first("before-call.elasticache.DescribeReservedCacheNodesOfferings", lambda **_: answer)
    return Aws(session, world.region, world.clock)


OFFER = {"ReservedCacheNodesOfferingId": "x", "CacheNodeType": "cache.t3.micro", "Duration": 31536000}


@pytest.mark.parametrize(
    "answer,refused",
    [
        (ok_response({"ReservedCacheNodesOfferings": []}), "AWS offers no cache.t3.micro nodes in us-east-1"),
        (error_response("InvalidParameterValue", "Invalid Cache Node Type"), "Invalid Cache Node Type"),
        (ok_response({"ReservedCacheNodesOfferings": [OFFER]}), None),
        (error_response("AccessDenied", "not authorized", 403), None),  # cannot tell: CreateCacheCluster judges
    ],
)
def test_a_real_run_asks_the_account(world, monkeypatch, answer, refused):
    playbook = load_playbook(LAB)
    if refused is None:
        check_before_run(playbook, lambda: real_account(world, answer), False)
        return
    with pytest.raises(BadInput) as error:
        check_before_run(playbook, lambda: real_account(world, answer), False)
    assert refused in str(error.value) and error.value.line == playbook.step("redis").arg_lines["node_type"]


def test_node_types_only_known_at_run_time_are_left_to_the_step():
    playbook = load_playbook(LAB)
    playbook.step("redis").args["node_type"] = "${{ steps.cloud9.outputs.instance_id }}"
    assert literal_node_type(playbook.step("redis")) is None

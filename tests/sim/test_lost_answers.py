"""Meaner faults: a connection dropped before the request is applied, and an answer lost after
it was (the resource exists, the caller saw only a dropped connection)."""

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from ops.aws import Aws, is_transient
from ops.clock import VirtualClock
from ops.sim.faults import FaultPlan
from ops.sim.world import SimWorld

from .conftest import create_ssm_iam


def test_the_new_shares_are_drawn_deterministically_above_the_old_ones():
    old = FaultPlan(seed=5, throttle=0.2, server_error=0.05)
    new = FaultPlan(seed=5, throttle=0.2, server_error=0.05, dropped=0.05, lost_answer=0.08)
    draws = [(old.draw("ec2", "DescribeVpcs", n), new.draw("ec2", "DescribeVpcs", n)) for n in range(4000)]
    assert draws == [(o, new.draw("ec2", "DescribeVpcs", n)) for n, (o, _) in enumerate(draws)]  # a replay
    for before, after in draws:  # adding the new kinds leaves a seed's throttles and 500s alone
        assert after == before or (before is None and after in ("dropped", "lost_answer"))
    share = {kind: sum(after == kind for _, after in draws) / len(draws) for kind in ("dropped", "lost_answer")}
    assert 0.03 < share["dropped"] < 0.07 and 0.06 < share["lost_answer"] < 0.10


@pytest.mark.parametrize(
    "shares", [dict(throttle=0.5, server_error=0.2, dropped=0.2, lost_answer=0.2), dict(lost_answer=-0.1)]
)
def test_plan_rejects_impossible_shares(shares):
    with pytest.raises(ValueError):
        FaultPlan(seed=0, **shares)


def group_names(world):
    return sorted(g["GroupName"] for g in world.client("ec2").describe_security_groups()["SecurityGroups"])


def test_a_dropped_call_raises_a_transient_error_and_has_no_effect(clock):
    with SimWorld(clock, faults=FaultPlan(seed=1, dropped=1.0, services={"ec2"})) as world:
        ec2 = world.session().client("ec2")
        with pytest.raises(ConnectionClosedError) as dropped:
            ec2.create_security_group(GroupName="lab", Description="x")
        assert is_transient(dropped.value) and "ec2.us-east-1.amazonaws.com" in str(dropped.value)
        assert group_names(world) == ["default"]


def test_a_lost_answer_leaves_the_resource_and_the_retry_meets_it(clock):
    with SimWorld(clock, faults=FaultPlan(seed=1, lost_answer=1.0, services={"ec2"})) as world:
        ec2 = world.session().client("ec2")
        with pytest.raises(ConnectionClosedError):
            ec2.create_security_group(GroupName="lab", Description="x")
        assert group_names(world) == ["default", "lab"]  # applied: it exists
        world.faults = None
        with pytest.raises(ClientError, match="InvalidGroup.Duplicate"):
            ec2.create_security_group(GroupName="lab", Description="x")


def test_the_fakes_lose_answers_too(clock):
    plan = FaultPlan(seed=1, lost_answer=1.0, services={"elasticache", "cloud9", "dynamodb"})
    with SimWorld(clock) as world:
        session = world.session()
        create_ssm_iam(world)
        world.faults = plan
        elasticache, dynamodb = session.client("elasticache"), session.client("dynamodb")
        with pytest.raises(ConnectionClosedError):
            elasticache.create_cache_cluster(CacheClusterId="lab", Engine="redis", CacheNodeType="cache.t3.micro")
        with pytest.raises(ConnectionClosedError):
            dynamodb.create_table(
                TableName="lab",
                KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        cloud9 = session.client("cloud9")
        request = dict(
            name="lab",
            instanceType="t3.small",
            imageId="amazonlinux-2023-x86_64",
            connectionType="CONNECT_SSM",
            clientRequestToken="token-1",
        )
        with pytest.raises(ConnectionClosedError):
            cloud9.create_environment_ec2(**request)
        world.faults = None
        assert elasticache.describe_cache_clusters(CacheClusterId="lab")["CacheClusters"][0]["CacheClusterStatus"] == (
            "creating"
        )
        # the overlay saw the answer before it was lost: the table is CREATING, as on AWS
        assert dynamodb.describe_table(TableName="lab")["Table"]["TableStatus"] == "CREATING"
        (env_id,) = cloud9.list_environments()["environmentIds"]
        with pytest.raises(elasticache.exceptions.CacheClusterAlreadyExistsFault):
            elasticache.create_cache_cluster(CacheClusterId="lab", Engine="redis", CacheNodeType="cache.t3.micro")
        # a re-sent request with the same token: the same environment, not a second one
        assert cloud9.create_environment_ec2(**request)["environmentId"] == env_id
        assert cloud9.list_environments()["environmentIds"] == [env_id]
        assert cloud9.create_environment_ec2(**{**request, "clientRequestToken": "token-2"})["environmentId"] != env_id


def first_lost_then_answered(service, operation, **shares):
    """A plan whose first call of service.operation is applied but its answer lost, and whose
    second call goes through."""
    for seed in range(1000):
        plan = FaultPlan(seed=seed, services={service}, **shares)
        if plan.draw(service, operation, 0) == "lost_answer" and plan.draw(service, operation, 1) is None:
            return plan
    raise AssertionError("no such seed")


def test_the_retry_layer_re_sends_a_lost_create_and_meets_already_exists(clock):
    plan = first_lost_then_answered("elasticache", "CreateCacheCluster", lost_answer=0.5)
    with SimWorld(clock, faults=plan) as world:
        aws = Aws(world.session(), "us-east-1", clock, dry_run=True)
        elasticache = aws.client("elasticache")
        with pytest.raises(ClientError, match="CacheClusterAlreadyExists"):  # the case
            aws.call(
                elasticache.create_cache_cluster, CacheClusterId="lab", Engine="redis", CacheNodeType="cache.t3.micro"
            )
        assert list(world.elasticache.clusters) == ["lab"]


def test_a_persistent_account_loses_answers_too(tmp_path):
    home = tmp_path / "account"
    try:
        with SimWorld(VirtualClock(), home=home, faults=FaultPlan(seed=1, lost_answer=1.0, services={"ec2"})) as world:
            ec2 = world.session().client("ec2")
            with pytest.raises(ConnectionClosedError):
                ec2.create_security_group(GroupName="lab", Description="x")
            assert group_names(world) == ["default", "lab"]
    finally:
        SimWorld.destroy(home)


def test_a_re_sent_launch_with_its_client_token_launches_nothing_more(clock):
    with SimWorld(clock, faults=FaultPlan(seed=1, lost_answer=1.0, services={"ec2"})) as world:
        ec2 = world.session().client("ec2")
        request = dict(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, ClientToken="launch-1")
        with pytest.raises(ConnectionClosedError):
            ec2.run_instances(**request)
        world.faults = None
        again = ec2.run_instances(**request)["Instances"]
        everything = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
        assert [i["InstanceId"] for i in again] == everything and len(everything) == 1
        other = ec2.run_instances(**{**request, "ClientToken": "launch-2"})["Instances"][0]["InstanceId"]
        assert other not in everything


def test_a_re_sent_role_removal_finds_it_done(clock):
    with SimWorld(clock, faults=FaultPlan(seed=1, lost_answer=1.0, services={"iam"})) as world:
        iam = world.session().client("iam")
        world.faults = None
        create_ssm_iam(world)
        world.faults = FaultPlan(seed=1, lost_answer=1.0, services={"iam"})
        remove = dict(InstanceProfileName="AWSCloud9SSMInstanceProfile", RoleName="AWSCloud9SSMAccessRole")
        with pytest.raises(ConnectionClosedError):
            iam.remove_role_from_instance_profile(**remove)
        world.faults = None
        with pytest.raises(iam.exceptions.NoSuchEntityException):  # as IAM answers, not moto's ValueError
            iam.remove_role_from_instance_profile(**remove)


def test_ops_exec_finds_a_command_whose_answer_was_lost_and_runs_it_once(world, session, clock):
    """run_script (ops exec's sending) never runs a script twice: the send arrived, its answer
    did not, and the command is found by its comment instead of being sent again."""
    from ops.aws import Aws
    from ops.hostscript import HostScript, Template
    from ops.steps.ssm_command import run_script

    from .conftest import cloud9_instance, create_ssm_environment

    instance_id = cloud9_instance(session, create_ssm_environment(world))["InstanceId"]
    clock.sleep(world.durations["cloud9.create"])
    lost = []

    class LoseTheFirstSend(FaultPlan):
        def draw(self, service, operation, n):
            if (operation, n) == ("SendCommand", 0):
                lost.append(operation)
                return "lost_answer"
            return None

    plan = LoseTheFirstSend(seed=0)
    world.faults = plan
    aws = Aws(world.session(), world.region, clock, dry_run=True)
    script = HostScript(
        {"OPS_NOTE": "ran"}, Template('printf "%s\\n" "$OPS_NOTE" >> "$HOME/runs.txt"; cat "$HOME/runs.txt"')
    )
    invocation = run_script(aws, instance_id, script, "exec test", 60)
    assert lost == ["SendCommand"]
    assert invocation["Status"] == "Success" and invocation["StandardOutputContent"] == "ran\n"  # once
    ssm = world.session().client("ssm")
    assert len(ssm.list_commands(InstanceId=instance_id)["Commands"]) == 1

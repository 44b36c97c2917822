import pytest
from botocore.exceptions import ClientError

from ops.sim.faults import FaultPlan
from ops.sim.world import SimWorld


def outcomes(clock, plan, calls=30):
    """The error code (or None) of each call in a fixed sequence against a fresh world."""
    with SimWorld(clock, faults=plan) as world:
        session = world.session()
        ec2, elasticache = session.client("ec2"), session.client("elasticache")
        seen = []
        for _ in range(calls):
            for call in (ec2.describe_vpcs, elasticache.describe_cache_clusters):
                try:
                    call()
                    seen.append(None)
                except ClientError as e:
                    seen.append((e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]))
        return seen


def test_faults_are_deterministic_per_seed(clock):
    plan = FaultPlan(seed=7, throttle=0.3, server_error=0.1)
    first = outcomes(clock, plan)
    assert first == outcomes(clock, plan)
    assert first != outcomes(clock, FaultPlan(seed=8, throttle=0.3, server_error=0.1))
    codes = set(first) - {None}
    assert codes == {
        ("RequestLimitExceeded", 503),
        ("Throttling", 400),
        ("InternalError", 500),
        ("InternalFailure", 500),
    }
    assert 0.25 < sum(o is not None for o in first) / len(first) < 0.55


def test_faults_can_target_services(clock):
    seen = outcomes(clock, FaultPlan(seed=1, throttle=1.0, services={"elasticache"}), calls=5)
    assert seen[0::2] == [None] * 5 and seen[1::2] == [("Throttling", 400)] * 5


def test_a_throttled_call_has_no_effect(clock):
    with SimWorld(clock, faults=FaultPlan(seed=3, throttle=1.0, services={"ec2"})) as world:
        ec2 = world.session().client("ec2")
        with pytest.raises(ClientError, match="RequestLimitExceeded"):
            ec2.create_security_group(GroupName="x", Description="x")
        groups = world.client("ec2").describe_security_groups()["SecurityGroups"]
        assert [g["GroupName"] for g in groups] == ["default"]


def test_a_cluster_can_stay_creating_forever(clock):
    with SimWorld(clock, faults=FaultPlan(seed=0, stuck_creating=["stuck"])) as world:
        elasticache = world.session().client("elasticache")
        for cluster_id in ("stuck", "fine"):
            elasticache.create_cache_cluster(CacheClusterId=cluster_id, Engine="redis", CacheNodeType="cache.t3.micro")
        clock.sleep(24 * 3600)
        status = {
            c["CacheClusterId"]: c["CacheClusterStatus"] for c in elasticache.describe_cache_clusters()["CacheClusters"]
        }
        assert status == {"stuck": "creating", "fine": "available"}


def test_the_first_delete_can_fail(clock):
    with SimWorld(clock, faults=FaultPlan(seed=0, fail_first_delete=["lab"])) as world:
        elasticache = world.session().client("elasticache")
        elasticache.create_cache_cluster(CacheClusterId="lab", Engine="redis", CacheNodeType="cache.t3.micro")
        clock.sleep(world.durations["elasticache.create"])
        with pytest.raises(elasticache.exceptions.InvalidCacheClusterStateFault, match="snapshotting"):
            elasticache.delete_cache_cluster(CacheClusterId="lab")
        assert (
            elasticache.delete_cache_cluster(CacheClusterId="lab")["CacheCluster"]["CacheClusterStatus"] == "deleting"
        )


def test_plan_rejects_impossible_shares():
    with pytest.raises(ValueError):
        FaultPlan(seed=0, throttle=0.7, server_error=0.5)


def test_faults_can_be_set_on_a_running_world(world, session):
    ec2 = session.client("ec2")
    ec2.describe_vpcs()
    world.faults = FaultPlan(seed=0, server_error=1.0, services={"ec2"})
    with pytest.raises(ClientError, match="InternalError"):
        ec2.describe_vpcs()
    world.faults = None
    assert ec2.describe_vpcs()["Vpcs"]

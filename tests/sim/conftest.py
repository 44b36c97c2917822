"""Fixtures for the simulated account: worlds on a virtual clock, driven only through
real boto3 clients from world.session()."""

import pytest

from ops.clock import VirtualClock, WallClock
from ops.sim.world import SimWorld

SSM_ROLE_POLICY = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
    '{"Service": ["ec2.amazonaws.com", "cloud9.amazonaws.com"]}, "Action": "sts:AssumeRole"}]}'
)


@pytest.fixture(autouse=True)
def lean_moto(monkeypatch, request):
    """moto parses ~7000 default AMIs for every fresh EC2 backend and ~1300 AWS managed IAM
    policies for every fresh IAM backend (over a second per world together); only tests
    marked `managed_policies` need the latter, and the simulator never looks AMIs up."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    if not request.node.get_closest_marker("managed_policies"):
        monkeypatch.setattr(SimWorld, "aws_managed_policies", False)


def pytest_configure(config):
    config.addinivalue_line("markers", "managed_policies: the world must hold AWS managed IAM policies")


@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def world(clock):
    with SimWorld(clock) as w:
        yield w


@pytest.fixture
def session(world):
    return world.session()


# boto3 waiters' settings for fast_world: polled every 50 ms, given up after 20 s (a loaded
# machine can take seconds to start a cache's server; a ready resource ends the wait at once)
PATIENT = {"Delay": 0.05, "MaxAttempts": 400}


@pytest.fixture
def fast_world():
    """Wall-clock world with sub-second lifecycles, for boto3 waiters (they sleep for real)."""
    durations = {
        "elasticache.create": 0.1,
        "elasticache.delete": 0.1,
        "elasticache.replication_group.create": 0.1,
        "elasticache.replication_group.delete": 0.1,
        "dynamodb.create": 0.1,
        "dynamodb.delete": 0.1,
    }
    with SimWorld(WallClock(), durations=durations) as w:
        yield w


def create_ssm_iam(world):
    """What the Cloud9 console would have made: the role and instance profile CONNECT_SSM
    needs, made the way IAM lets them be (the role is in the profile once IAM shows it), and
    seen by the other services (iam.propagation later)."""
    iam = world.session().client("iam")
    iam.create_role(RoleName="AWSCloud9SSMAccessRole", Path="/service-role/", AssumeRolePolicyDocument=SSM_ROLE_POLICY)
    iam.create_instance_profile(InstanceProfileName="AWSCloud9SSMInstanceProfile", Path="/cloud9/")
    world.clock.sleep(world.durations["iam.consistency"])
    iam.add_role_to_instance_profile(
        InstanceProfileName="AWSCloud9SSMInstanceProfile", RoleName="AWSCloud9SSMAccessRole"
    )
    world.clock.sleep(world.durations["iam.propagation"])


def create_ssm_environment(world) -> str:
    """A CONNECT_SSM environment (with the IAM pieces it needs), as the lab creates it: its id."""
    create_ssm_iam(world)
    session = world.session()
    return session.client("cloud9").create_environment_ec2(
        name="lab",
        instanceType="t3.small",
        imageId="amazonlinux-2023-x86_64",
        connectionType="CONNECT_SSM",
        automaticStopTimeMinutes=30,
    )["environmentId"]


def cloud9_instance(session, environment_id):
    reservations = session.client("ec2").describe_instances(
        Filters=[{"Name": "tag:aws:cloud9:environment", "Values": [environment_id]}]
    )["Reservations"]
    return reservations[0]["Instances"][0] if reservations else None


@pytest.fixture
def ready_cloud9(world, session, clock):
    """A CONNECT_SSM environment, ready: (environment id, its EC2 instance)."""
    env_id = create_ssm_environment(world)
    clock.sleep(world.durations["cloud9.create"])
    return env_id, cloud9_instance(session, env_id)


@pytest.fixture
def available_cluster(world, session, clock):
    """An available single-node Redis cluster in the default security group: its description."""
    elasticache = session.client("elasticache")
    elasticache.create_cache_cluster(
        CacheClusterId="lab-redis", Engine="redis", CacheNodeType="cache.t3.micro", NumCacheNodes=1
    )
    clock.sleep(world.durations["elasticache.create"])
    return elasticache.describe_cache_clusters(CacheClusterId="lab-redis", ShowCacheNodeInfo=True)["CacheClusters"][0]

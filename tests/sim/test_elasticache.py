import os

import pytest
import redis

from ops.sim.world import SimWorld

from .conftest import PATIENT

ARN_PREFIX = "arn:aws:elasticache:us-east-1:123456789012"


def cluster(elasticache, cluster_id, nodes=True):
    return elasticache.describe_cache_clusters(CacheClusterId=cluster_id, ShowCacheNodeInfo=nodes)["CacheClusters"][0]


def ping(endpoint):
    client = redis.Redis(host=endpoint["Address"], port=endpoint["Port"], socket_timeout=2)
    try:
        return client.ping()
    finally:
        client.close()


def refuses_connections(port):
    """Nothing of this test worker's listens on `port`: not this process (an in-process
    account's gates), nor a server or Redis it started. Once free, the port may be taken by
    another xdist worker, whose listener does not count."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return not any(pid == os.getpid() or _xdist_worker_of(pid) == worker for pid in _listeners(port))


def _listeners(port):
    """The pids with a socket listening on loopback TCP `port` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    pids = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd")):
                pids.add(int(pid))
        except OSError:  # gone, or not ours to read
            continue
    return pids


def _xdist_worker_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            variables = f.read().split(b"\0")
    except OSError:
        return None
    found = [v.split(b"=", 1)[1].decode() for v in variables if v.startswith(b"PYTEST_XDIST_WORKER=")]
    return found[0] if found else ""


def test_cluster_lifecycle_with_a_real_redis_endpoint(world, session, clock):
    elasticache, ec2 = session.client("elasticache"), session.client("ec2")
    created = elasticache.create_cache_cluster(
        CacheClusterId="Lab-Redis",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheNodes=1,
        Tags=[{"Key": "project", "Value": "ops"}],
    )["CacheCluster"]
    assert created["CacheClusterId"] == "lab-redis" and created["CacheClusterStatus"] == "creating"
    default_group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    assert created["SecurityGroups"] == [{"SecurityGroupId": default_group, "Status": "active"}]
    assert created["ARN"] == f"{ARN_PREFIX}:cluster:lab-redis"

    creating = cluster(elasticache, "lab-redis")
    assert creating["CacheClusterStatus"] == "creating" and "Endpoint" not in creating["CacheNodes"][0]
    with pytest.raises(elasticache.exceptions.InvalidCacheClusterStateFault, match="has state: creating"):
        elasticache.delete_cache_cluster(CacheClusterId="lab-redis")

    clock.sleep(world.durations["elasticache.create"])
    available = cluster(elasticache, "lab-redis")
    assert available["CacheClusterStatus"] == "available"
    endpoint = available["CacheNodes"][0]["Endpoint"]
    assert endpoint["Address"] == "127.0.0.1" and ping(endpoint) is True
    assert "CacheNodes" not in cluster(elasticache, "lab-redis", nodes=False)
    assert [c["CacheClusterId"] for c in elasticache.describe_cache_clusters()["CacheClusters"]] == ["lab-redis"]

    deleting = elasticache.delete_cache_cluster(CacheClusterId="lab-redis")["CacheCluster"]
    assert deleting["CacheClusterStatus"] == "deleting"
    assert refuses_connections(endpoint["Port"])
    with pytest.raises(elasticache.exceptions.InvalidCacheClusterStateFault, match="has state: deleting"):
        elasticache.delete_cache_cluster(CacheClusterId="lab-redis")
    clock.sleep(world.durations["elasticache.delete"] - 1)
    assert cluster(elasticache, "lab-redis")["CacheClusterStatus"] == "deleting"
    clock.sleep(1)
    with pytest.raises(elasticache.exceptions.CacheClusterNotFoundFault, match="CacheCluster not found: lab-redis"):
        cluster(elasticache, "lab-redis")
    with pytest.raises(elasticache.exceptions.CacheClusterNotFoundFault):
        elasticache.delete_cache_cluster(CacheClusterId="lab-redis")


@pytest.mark.parametrize("cluster_id", ["1redis", "redis-", "re--dis", "re_dis", "a" * 41])
def test_cluster_id_rules(session, cluster_id):
    elasticache = session.client("elasticache")
    with pytest.raises(elasticache.exceptions.InvalidParameterValueException, match="not a valid identifier"):
        elasticache.create_cache_cluster(CacheClusterId=cluster_id, Engine="redis", CacheNodeType="cache.t3.micro")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"CacheNodeType": "cache.t2.micro"}, "Invalid Cache Node Type: cache.t2.micro"),
        ({"CacheNodeType": "cache.t9.huge"}, "Invalid Cache Node Type"),
        ({"Engine": "valkey"}, "CreateReplicationGroup"),
        ({"NumCacheNodes": 2}, "NumCacheNodes"),
        ({"SecurityGroupIds": ["sg-0123456789abcdef0"]}, "sg-0123456789abcdef0"),
    ],
)
def test_create_rejects_what_aws_rejects(session, params, message):
    elasticache = session.client("elasticache")
    request = {"CacheClusterId": "lab", "Engine": "redis", "CacheNodeType": "cache.t3.micro", **params}
    with pytest.raises(elasticache.exceptions.InvalidParameterValueException, match=message):
        elasticache.create_cache_cluster(**request)
    assert elasticache.describe_cache_clusters()["CacheClusters"] == []


def test_duplicate_id_and_given_security_group(session):
    elasticache, ec2 = session.client("elasticache"), session.client("ec2")
    group = ec2.create_security_group(GroupName="redis", Description="redis")["GroupId"]
    created = elasticache.create_cache_cluster(
        CacheClusterId="lab", Engine="redis", CacheNodeType="cache.t4g.micro", SecurityGroupIds=[group]
    )["CacheCluster"]
    assert created["SecurityGroups"] == [{"SecurityGroupId": group, "Status": "active"}]
    with pytest.raises(elasticache.exceptions.CacheClusterAlreadyExistsFault):
        elasticache.create_cache_cluster(CacheClusterId="lab", Engine="redis", CacheNodeType="cache.t3.micro")
    with pytest.raises(ec2.exceptions.ClientError, match="DependencyViolation"):
        ec2.delete_security_group(GroupId=group)


@pytest.mark.parametrize("kind", ["cluster", "replication group"])
def test_a_deleted_caches_network_interfaces_hold_its_security_group_a_while(world, session, clock, kind):
    elasticache, ec2 = session.client("elasticache"), session.client("ec2")
    group = ec2.create_security_group(GroupName="redis", Description="redis")["GroupId"]
    if kind == "cluster":
        elasticache.create_cache_cluster(
            CacheClusterId="lab", Engine="redis", CacheNodeType="cache.t3.micro", SecurityGroupIds=[group]
        )
        clock.sleep(world.durations["elasticache.create"])
        elasticache.delete_cache_cluster(CacheClusterId="lab")
        clock.sleep(world.durations["elasticache.delete"])
        with pytest.raises(elasticache.exceptions.CacheClusterNotFoundFault):
            cluster(elasticache, "lab")
    else:
        elasticache.create_replication_group(
            ReplicationGroupId="lab",
            ReplicationGroupDescription="lab",
            Engine="valkey",
            CacheNodeType="cache.t3.micro",
            NumCacheClusters=1,
            SecurityGroupIds=[group],
        )
        clock.sleep(world.durations["elasticache.replication_group.create"])
        elasticache.delete_replication_group(ReplicationGroupId="lab")
        clock.sleep(world.durations["elasticache.replication_group.delete"])
        with pytest.raises(elasticache.exceptions.ReplicationGroupNotFoundFault):
            elasticache.describe_replication_groups(ReplicationGroupId="lab")
    clock.sleep(world.durations["ec2.eni_linger"] - 1)
    with pytest.raises(ec2.exceptions.ClientError, match="DependencyViolation"):  # its interfaces linger
        ec2.delete_security_group(GroupId=group)
    clock.sleep(1)
    ec2.delete_security_group(GroupId=group)
    assert ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroups"] == []


def test_tags_by_arn(session):
    elasticache = session.client("elasticache")
    elasticache.create_cache_cluster(
        CacheClusterId="lab", Engine="redis", CacheNodeType="cache.t3.micro", Tags=[{"Key": "a", "Value": "1"}]
    )
    arn = f"{ARN_PREFIX}:cluster:lab"
    elasticache.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "b", "Value": "2"}])
    elasticache.remove_tags_from_resource(ResourceName=arn, TagKeys=["a"])
    assert elasticache.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(elasticache.exceptions.CacheClusterNotFoundFault):
        elasticache.list_tags_for_resource(ResourceName=f"{ARN_PREFIX}:cluster:other")
    with pytest.raises(elasticache.exceptions.InvalidARNFault):
        elasticache.list_tags_for_resource(ResourceName="lab")


def test_waiters_follow_the_lifecycle(fast_world):
    elasticache = fast_world.session().client("elasticache")
    elasticache.create_cache_cluster(CacheClusterId="lab", Engine="redis", CacheNodeType="cache.t3.micro")
    elasticache.get_waiter("cache_cluster_available").wait(CacheClusterId="lab", WaiterConfig=PATIENT)
    assert cluster(elasticache, "lab")["CacheClusterStatus"] == "available"
    elasticache.delete_cache_cluster(CacheClusterId="lab")
    elasticache.get_waiter("cache_cluster_deleted").wait(CacheClusterId="lab", WaiterConfig=PATIENT)
    assert elasticache.describe_cache_clusters()["CacheClusters"] == []


def test_single_node_valkey_replication_group(fast_world):
    elasticache = fast_world.session().client("elasticache")
    created = elasticache.create_replication_group(
        ReplicationGroupId="lab",
        ReplicationGroupDescription="lab cache",
        Engine="valkey",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=1,
    )["ReplicationGroup"]
    assert created["Status"] == "creating" and created["MemberClusters"] == ["lab-001"]
    with pytest.raises(elasticache.exceptions.InvalidReplicationGroupStateFault, match="not valid for deletion"):
        elasticache.delete_replication_group(ReplicationGroupId="lab")
    elasticache.get_waiter("replication_group_available").wait(ReplicationGroupId="lab", WaiterConfig=PATIENT)
    group = elasticache.describe_replication_groups(ReplicationGroupId="lab")["ReplicationGroups"][0]
    assert ping(group["NodeGroups"][0]["PrimaryEndpoint"]) is True
    assert cluster(elasticache, "lab-001")["ReplicationGroupId"] == "lab"
    with pytest.raises(elasticache.exceptions.InvalidCacheClusterStateFault, match="Delete the replication group"):
        elasticache.delete_cache_cluster(CacheClusterId="lab-001")

    elasticache.delete_replication_group(ReplicationGroupId="lab")
    elasticache.get_waiter("replication_group_deleted").wait(ReplicationGroupId="lab", WaiterConfig=PATIENT)
    with pytest.raises(elasticache.exceptions.ReplicationGroupNotFoundFault):
        elasticache.describe_replication_groups(ReplicationGroupId="lab")
    with pytest.raises(elasticache.exceptions.CacheClusterNotFoundFault):
        cluster(elasticache, "lab-001")


def test_replication_groups_are_single_node_only(session):
    elasticache = session.client("elasticache")
    with pytest.raises(elasticache.exceptions.InvalidParameterValueException, match="single-node"):
        elasticache.create_replication_group(
            ReplicationGroupId="lab",
            ReplicationGroupDescription="x",
            CacheNodeType="cache.t3.micro",
            NumCacheClusters=2,
        )


def test_stopping_the_world_stops_its_redis_servers(clock):
    with SimWorld(clock) as world:
        elasticache = world.session().client("elasticache")
        elasticache.create_cache_cluster(CacheClusterId="lab", Engine="redis", CacheNodeType="cache.t3.micro")
        clock.sleep(world.durations["elasticache.create"])
        endpoint = cluster(elasticache, "lab")["CacheNodes"][0]["Endpoint"]
        assert ping(endpoint)
    assert refuses_connections(endpoint["Port"])


def test_ops_extend_retags_a_cluster_and_a_replication_group_by_their_arns(world, session, clock):
    from ops.aws import Aws
    from ops.steps.elasticache import CLUSTER_KIND
    from ops.steps.replication_group import GROUP_KIND

    elasticache = session.client("elasticache")
    elasticache.create_cache_cluster(
        CacheClusterId="c1", Engine="redis", CacheNodeType="cache.t3.micro", NumCacheNodes=1
    )
    elasticache.create_replication_group(
        ReplicationGroupId="g1", ReplicationGroupDescription="x", Engine="valkey", CacheNodeType="cache.t3.micro"
    )
    aws = Aws(session, world.region, clock, dry_run=True)
    moved = [{"Key": "ops:expires", "Value": "2026-12-03T20:00:00Z"}]
    for kind, cache_id, describe, key in (
        (CLUSTER_KIND, "c1", "describe_cache_clusters", "CacheClusters"),
        (GROUP_KIND, "g1", "describe_replication_groups", "ReplicationGroups"),
    ):
        kind.retag.put(aws, cache_id, moved)
        arn = getattr(elasticache, describe)(
            **({"CacheClusterId": cache_id} if key == "CacheClusters" else {"ReplicationGroupId": cache_id})
        )[key][0]["ARN"]
        assert moved[0] in elasticache.list_tags_for_resource(ResourceName=arn)["TagList"]

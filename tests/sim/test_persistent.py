"""A persistent simulated account outlives the process that made it: a later world on the
same home (another object, another process, after a SIGKILL) finds the same resources at
the same virtual time, reaches the same Redis, and can delete them; destroy ends it all."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis

from ops.clock import VirtualClock
from ops.sim.local_redis import LOOPBACK
from ops.sim.processes import alive, terminate
from ops.sim.world import SimAccountLost, SimWorld

from .conftest import cloud9_instance, create_ssm_environment
from .test_elasticache import ping, refuses_connections
from .test_ssm import PING, run

TESTS_DIR = str(Path(__file__).resolve().parents[1])
# Runs in a child process: python -c SCRIPT HOME, then the script's own lines.
CHILD_PRELUDE = f"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, {TESTS_DIR!r})
from ops.sim.world import SimWorld
from sim.test_persistent import build_lab, open_world
SimWorld.aws_managed_policies = False  # as the suite's lean_moto fixture does
world = open_world(Path(sys.argv[1]))
"""


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "account"
    yield home
    SimWorld.destroy(home)


def open_world(home) -> SimWorld:
    return SimWorld(VirtualClock(), home=home).start()


def build_lab(world) -> dict:
    """What the lab makes, all at one virtual instant (`at`, once the IAM pieces the console
    made are there): a Cloud9 environment, a cache cluster in the default group, that group's
    ingress rule from the environment's group, and a DynamoDB table. Their ids."""
    session = world.session()
    environment_id = create_ssm_environment(world)
    instance = cloud9_instance(session, environment_id)
    cluster = session.client("elasticache").create_cache_cluster(
        CacheClusterId="lab-redis", Engine="redis", CacheNodeType="cache.t3.micro", NumCacheNodes=1
    )["CacheCluster"]
    cluster_group = cluster["SecurityGroups"][0]["SecurityGroupId"]
    from_instance = {"GroupId": instance["SecurityGroups"][0]["GroupId"]}
    rule = session.client("ec2").authorize_security_group_ingress(
        GroupId=cluster_group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379, "UserIdGroupPairs": [from_instance]}],
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    create_table(session, "reviews")
    return {
        "at": world.clock.now(),
        "environment": environment_id,
        "instance": instance["InstanceId"],
        "cluster_group": cluster_group,
        "rule": rule,
    }


def create_table(session, name) -> None:
    session.client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )


def assert_lab_continues(world, ids) -> dict:
    """The lab as build_lab left it, 300 virtual seconds on: the environment is ready,
    the table active, the rule there, and the cluster (420 s to create) available only
    after 120 more. The cluster's endpoint."""
    session = world.session()
    assert world.clock.now() == ids["at"] + 300
    assert session.client("cloud9").describe_environment_status(environmentId=ids["environment"])["status"] == "ready"
    assert cloud9_instance(session, ids["environment"])["InstanceId"] == ids["instance"]
    assert session.client("dynamodb").describe_table(TableName="reviews")["Table"]["TableStatus"] == "ACTIVE"
    rules = session.client("ec2").describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [ids["cluster_group"]]}]
    )["SecurityGroupRules"]
    assert ids["rule"] in {r["SecurityGroupRuleId"] for r in rules}
    elasticache = session.client("elasticache")
    world.clock.sleep(119)
    assert status(elasticache) == "creating"
    world.clock.sleep(1)
    assert status(elasticache) == "available"
    return cluster(elasticache)["CacheNodes"][0]["Endpoint"]


def cluster(elasticache):
    return elasticache.describe_cache_clusters(CacheClusterId="lab-redis", ShowCacheNodeInfo=True)["CacheClusters"][0]


def status(elasticache):
    return cluster(elasticache)["CacheClusterStatus"]


# These follow a detached redis-server's own process; without one, the account's server
# hosts a fakeredis instead (test_without_redis_server_...).
needs_redis_server = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not on PATH (CI installs it)"
)


def stored_redis(home) -> dict:
    return json.loads((home / "store.json").read_text())["elasticache"]["clusters"]["lab-redis"]["local_redis"]


def test_a_new_world_continues_the_account_and_can_tear_it_down(home, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "AWS_ENDPOINT_URL"):  # none of them may divert it
        monkeypatch.setenv(name, "http://192.0.2.1:3128")
    first = open_world(home)
    ids = build_lab(first)
    first.clock.sleep(300)
    first.stop()
    assert os.stat(home).st_mode & 0o777 == 0o700

    world = open_world(home)
    endpoint = assert_lab_continues(world, ids)
    assert ping(endpoint) is True
    session, clock = world.session(), world.clock
    admitted = run(world, session, clock, ids["instance"], PING.format(port=endpoint["Port"], wait=5))
    assert admitted["StandardOutputContent"].strip() == "+PONG"
    session.client("ec2").revoke_security_group_ingress(
        GroupId=ids["cluster_group"], SecurityGroupRuleIds=[ids["rule"]]
    )
    dropped = run(world, session, clock, ids["instance"], PING.format(port=endpoint["Port"], wait=1))
    assert dropped["StandardOutputContent"] == "\n"  # the server's gate applies the groups to SSM commands

    elasticache = session.client("elasticache")
    elasticache.delete_cache_cluster(CacheClusterId="lab-redis")
    session.client("dynamodb").delete_table(TableName="reviews")
    session.client("cloud9").delete_environment(environmentId=ids["environment"])
    assert refuses_connections(endpoint["Port"])
    clock.sleep(300)
    assert elasticache.describe_cache_clusters()["CacheClusters"] == []
    assert session.client("cloud9").list_environments()["environmentIds"] == []
    assert session.client("dynamodb").list_tables()["TableNames"] == []
    world.stop()


def test_a_realtime_world_goes_on_from_the_accounts_time_and_calendar(home):
    """A --realtime process's clock reads the machine's uptime: the account it opens goes on
    from its own last instant (a table made at the first world's 10 s is not done at once),
    and its calendar from where the first world left it, not hours ahead (an hour's
    schedule would run at once)."""
    from ops.clock import WallClock, wall_time

    first = open_world(home)
    create_table(first.session(), "t")
    first.stop()

    world = SimWorld(WallClock(), home=home).start()
    try:
        assert abs(world.now()) < 60  # not the uptime
        assert abs(world.calendar() - wall_time()) < 60
        table = world.session().client("dynamodb").describe_table(TableName="t")["Table"]
        assert table["TableStatus"] == "CREATING"  # made a moment ago on the account's time
    finally:
        world.stop()


def test_worlds_open_at_once_see_each_others_changes(home):
    one, other = open_world(home), open_world(home)
    create_table(one.session(), "t")
    assert other.session().client("dynamodb").describe_table(TableName="t")["Table"]["TableStatus"] == "CREATING"
    one.clock.sleep(10)
    one.session().client("dynamodb").describe_table(TableName="t")  # saves the time it has reached
    other.clock.sleep(10)
    other.session().client("dynamodb").delete_table(TableName="t")
    assert one.session().client("dynamodb").describe_table(TableName="t")["Table"]["TableStatus"] == "DELETING"


def test_polls_keep_the_accounts_time_without_rewriting_its_store(home):
    """A wait's polls change nothing but the time: the store stays as it was, while the time
    each call reached is kept at once (a process killed after its last poll, never stopped,
    loses none of it), and a world whose clock is behind never takes it back."""
    first = open_world(home)
    create_table(first.session(), "t")
    dynamodb = first.session().client("dynamodb")
    first.clock.sleep(60)
    assert dynamodb.describe_table(TableName="t")["Table"]["TableStatus"] == "ACTIVE"
    stored = os.stat(home / "store.json")
    for _ in range(3):
        first.clock.sleep(30)
        dynamodb.describe_table(TableName="t")
    assert os.stat(home / "store.json").st_mtime_ns == stored.st_mtime_ns  # not written again
    polled = first.clock.now()

    behind = open_world(home)  # the first is never stopped, as if killed after its last poll
    assert behind.clock.now() == polled
    first.clock.sleep(100)
    dynamodb.describe_table(TableName="t")
    behind.clock.sleep(10)
    behind.session().client("dynamodb").describe_table(TableName="t")
    assert open_world(home).clock.now() == polled + 100
    behind.stop()


def test_an_account_made_by_another_process_continues_here(home):
    script = CHILD_PRELUDE + "ids = build_lab(world)\nworld.clock.sleep(300)\nworld.stop()\nprint(json.dumps(ids))"
    child = subprocess.run([sys.executable, "-c", script, str(home)], capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    ids = json.loads(child.stdout.splitlines()[-1])

    world = open_world(home)
    assert ping(assert_lab_continues(world, ids)) is True
    world.stop()


def test_after_a_sigkill_a_new_world_continues_and_restarts_a_dead_redis(home):
    script = (
        CHILD_PRELUDE
        + """
ids = build_lab(world)
world.clock.sleep(420)
session = world.session()
session.client("elasticache").describe_cache_clusters()
ids["command"] = session.client("ssm").send_command(InstanceIds=[ids["instance"]], DocumentName="AWS-RunShellScript",
                                                    Parameters={"commands": ["sleep 2"]})["Command"]["CommandId"]
print(json.dumps(ids), flush=True)
time.sleep(60)
"""
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(home)], stdout=subprocess.PIPE, text=True)
    try:
        ids = json.loads(child.stdout.readline())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()

    world = open_world(home)
    assert world.clock.now() == ids["at"] + 420
    session = world.session()
    first_redis = stored_redis(home)
    endpoint = cluster(session.client("elasticache"))["CacheNodes"][0]["Endpoint"]
    assert ping(endpoint) is True and stored_redis(home) == first_redis  # reused, not restarted
    world.clock.sleep(world.durations["ssm.command"])
    lost = session.client("ssm").get_command_invocation(CommandId=ids["command"], InstanceId=ids["instance"])
    assert lost["Status"] == "Failed" and "killed" in lost["StandardErrorContent"]
    world.stop()

    if first_redis["kind"] == "fakeredis":  # in the server: it dies with the account, not alone
        return
    os.kill(first_redis["pid"], signal.SIGKILL)
    world = open_world(home)
    assert ping(cluster(world.session().client("elasticache"))["CacheNodes"][0]["Endpoint"]) is True
    restarted = stored_redis(home)
    assert restarted["port"] == first_redis["port"] and restarted["pid"] != first_redis["pid"]
    world.session().client("elasticache").delete_cache_cluster(CacheClusterId="lab-redis")
    assert not alive(restarted["pid"])
    world.stop()


@needs_redis_server
@pytest.mark.managed_policies
def test_destroy_ends_the_server_and_every_redis_and_removes_home(home):
    world = open_world(home)
    session = world.session()
    iam = session.client("iam")  # the server holds the AWS managed policies, as a real account does
    iam.create_role(RoleName="AWSCloud9SSMAccessRole", Path="/service-role/", AssumeRolePolicyDocument="{}")
    iam.attach_role_policy(
        RoleName="AWSCloud9SSMAccessRole", PolicyArn="arn:aws:iam::aws:policy/AWSCloud9SSMInstanceProfile"
    )
    elasticache = session.client("elasticache")
    elasticache.create_cache_cluster(CacheClusterId="lab-redis", Engine="redis", CacheNodeType="cache.t3.micro")
    world.clock.sleep(420)
    endpoint = cluster(elasticache)["CacheNodes"][0]["Endpoint"]
    world.stop()
    pids = [world.server.pid, stored_redis(home)["pid"]]
    assert all(alive(pid) for pid in pids) and ping(endpoint) is True  # stop() leaves the account running

    SimWorld.destroy(home)
    assert not any(alive(pid) for pid in pids)
    assert not home.exists() and refuses_connections(endpoint["Port"])


def test_without_redis_server_the_accounts_server_hosts_a_fakeredis_that_outlives_each_process(home, monkeypatch):
    monkeypatch.setenv("OPS_LOCAL_REDIS", "fakeredis")  # as on a machine without redis-server
    script = CHILD_PRELUDE + textwrap.dedent(
        """
        import redis
        elasticache = world.session().client("elasticache")
        elasticache.create_cache_cluster(CacheClusterId="lab-redis", Engine="redis", CacheNodeType="cache.t3.micro")
        world.clock.sleep(420)
        endpoint = elasticache.describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"][0]["CacheNodes"][0]["Endpoint"]
        redis.Redis(host=endpoint["Address"], port=endpoint["Port"]).set("kept", "by the first process")
        world.stop()
        print(json.dumps(endpoint), flush=True)
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script, str(home)], capture_output=True, text=True, timeout=120, check=True
    )
    endpoint = json.loads(child.stdout)  # and that process has ended

    world = open_world(home)
    elasticache = world.session().client("elasticache")
    assert cluster(elasticache)["CacheNodes"][0]["Endpoint"] == endpoint
    assert redis.Redis(host=endpoint["Address"], port=endpoint["Port"]).get("kept") == b"by the first process"
    with socket.create_connection((LOOPBACK, endpoint["Port"]), timeout=5) as plain:
        plain.sendall(b"PING\r\n")  # inline, as from nc: fakeredis reads arrays only, the gate passes them
        assert plain.recv(16) == b"+PONG\r\n"
    fake = stored_redis(home)
    assert fake["kind"] == "fakeredis" and fake["pid"] is None
    elasticache.delete_cache_cluster(CacheClusterId="lab-redis")
    assert refuses_connections(fake["port"])  # the cluster's fakeredis ended with it
    world.stop()


def _ends_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("how", ["home removed", "another server announced"])
def test_a_server_whose_account_was_discarded_ends_itself(home, how):
    """Nothing could find such a server again to stop it: without this it ran until the
    machine stopped (seen after a run killed while its server was starting)."""
    world = open_world(home)
    world.session().client("iam").create_role(RoleName="lab", AssumeRolePolicyDocument="{}")
    world.stop()
    pid = world.server.pid
    try:
        assert not _ends_within(pid, 1.5)  # an account in use keeps its server
        if how == "home removed":
            shutil.rmtree(home)
        else:
            announced = json.loads((home / "server.json").read_text())
            (home / "server.json").write_text(json.dumps({**announced, "id": "another"}))
        assert _ends_within(pid, 10)
    finally:
        if alive(pid):  # it did not end: nothing else would end it
            terminate(pid)


@needs_redis_server
def test_removing_an_accounts_folder_by_hand_ends_its_redis_servers_too(home):
    world = open_world(home)
    elasticache = world.session().client("elasticache")
    elasticache.create_cache_cluster(CacheClusterId="lab-redis", Engine="redis", CacheNodeType="cache.t3.micro")
    world.clock.sleep(420)
    endpoint = cluster(elasticache)["CacheNodes"][0]["Endpoint"]
    world.stop()
    pids = [world.server.pid, stored_redis(home)["pid"]]
    assert ping(endpoint) is True
    try:
        shutil.rmtree(home)  # its pid files go with it: only the server can still end the Redis
        assert all(_ends_within(pid, 15) for pid in pids)
    finally:
        for pid in pids:
            if alive(pid):
                terminate(pid)


def test_an_account_whose_server_died_is_reported_lost_until_destroyed(home):
    world = open_world(home)
    world.session().client("iam").create_role(RoleName="lab", AssumeRolePolicyDocument="{}")
    world.stop()
    terminate(world.server.pid)  # a reboot, say: moto's state was only in that process

    with pytest.raises(SimAccountLost, match="lost its server"):
        open_world(home)
    SimWorld.destroy(home)
    world = open_world(home)
    assert world.session().client("iam").list_roles()["Roles"] == []  # a new, empty account
    world.stop()


def test_an_environment_whose_creator_was_killed_mid_call_exists_and_deletes_with_its_group(home):
    """AWS either accepts CreateEnvironmentEC2 or not; a process killed inside the simulated
    call (after the security group, before the instance) must not leave a group no
    environment owns (it did: teardown found no environment, and the group stayed)."""
    script = (
        CHILD_PRELUDE
        + """
import os
from ops.sim.cloud9 import Cloud9Backend
from sim.conftest import create_ssm_environment
Cloud9Backend._run_instance = lambda *args: os._exit(9)  # killed between the two halves
create_ssm_environment(world)
"""
    )
    child = subprocess.run([sys.executable, "-c", script, str(home)], capture_output=True, text=True, timeout=60)
    assert child.returncode == 9, child.stderr

    world = open_world(home)
    session = world.session()
    cloud9, ec2 = session.client("cloud9"), session.client("ec2")
    (environment_id,) = cloud9.list_environments()["environmentIds"]
    assert cloud9.describe_environments(environmentIds=[environment_id])["environments"][0]["name"] == "lab"
    instance = cloud9_instance(session, environment_id)  # the creation completed, as AWS's would
    groups = [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"]
    assert groups == [instance["SecurityGroups"][0]["GroupId"]]

    cloud9.delete_environment(environmentId=environment_id)
    world.clock.sleep(300)
    assert cloud9.list_environments()["environmentIds"] == []
    assert [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"] == []
    world.stop()

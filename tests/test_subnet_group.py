"""elasticache.subnet_group against the simulated account: the default VPC's subnets or the
ones given, a cache placed in it (`subnet_group` on both cache step types), teardown from the
record alone that deletes it after the cache and waits while a cache in it is still
deleting, a user's group adopted and kept, and a region without a default VPC refused (before
the run in a real account, when the step runs otherwise)."""

import pytest
from harness import events, make_runner, playbook_from

from ops.aws import Aws
from ops.commands.lab import check_before_run
from ops.engine.inventory import tagged_resources
from ops.engine.runner import teardown
from ops.engine.state import RunState
from ops.errors import BadInput, StepFailed

SECURE = """\
name: subnet-lab
steps:
  - name: subnets
    type: elasticache.subnet_group
    with:
      name: sn-${{ run.id }}
  - name: cache
    type: elasticache.replication_group
    with:
      group_id: g-${{ run.id }}
      engine: valkey
      transit_encryption: true
      subnet_group: ${{ steps.subnets.outputs.name }}
"""


def subnet_group(aws, name):
    client = aws.client("elasticache")
    return client.describe_cache_subnet_groups(CacheSubnetGroupName=name)["CacheSubnetGroups"][0]


def no_subnet_group(aws, name) -> bool:
    client = aws.client("elasticache")
    with pytest.raises(client.exceptions.CacheSubnetGroupNotFoundFault):
        client.describe_cache_subnet_groups(CacheSubnetGroupName=name)
    return True


def default_vpc_subnets(aws):
    ec2 = aws.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    return vpc, sorted(
        s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    )


def delete_default_vpc(aws):
    ec2 = aws.client("ec2")
    vpc, subnets = default_vpc_subnets(aws)
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet)
    for gateway in ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}])[
        "InternetGateways"
    ]:
        ec2.detach_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"], VpcId=vpc)
        ec2.delete_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"])
    ec2.delete_vpc(VpcId=vpc)


def test_an_encrypted_group_in_the_labs_subnet_group_then_both_torn_down_from_the_record(world, aws, tmp_path):
    runner = make_runner(playbook_from(SECURE), aws, tmp_path)
    runner.state.set("dependencies", {s.name: list(s.after) for s in runner.playbook.steps})
    outputs = runner.apply()
    name, group_id = f"sn-{runner.state.run_id}", f"g-{runner.state.run_id}"
    vpc, subnets = default_vpc_subnets(aws)
    assert outputs["subnets"] == {"name": name, "vpc_id": vpc}
    made = subnet_group(aws, name)
    assert sorted(s["SubnetIdentifier"] for s in made["Subnets"]) == subnets  # the default VPC's, all of them
    tags = aws.client("elasticache").list_tags_for_resource(ResourceName=made["ARN"])["TagList"]
    assert {"Key": "ops:run", "Value": runner.state.run_id} in tags and {"Key": "ops:step", "Value": "subnets"} in tags
    member = aws.client("elasticache").describe_cache_clusters(CacheClusterId=outputs["cache"]["cluster_id"])
    assert member["CacheClusters"][0]["CacheSubnetGroupName"] == name
    assert member["CacheClusters"][0]["TransitEncryptionEnabled"] is True
    recorded = {(r.step, r.kind): r.status for r in runner.state.resources()}
    assert recorded[("subnets", "cache-subnet-group")] == "created"

    record = RunState.load(runner.state.path)
    fresh = Aws(world.session(), world.region, world.clock, dry_run=True)
    assert teardown(record, fresh, world.clock, runner.reporter, runner.settings, "subnet-lab") == []
    assert no_subnet_group(fresh, name)
    assert fresh.client("elasticache").describe_replication_groups()["ReplicationGroups"] == []
    assert tagged_resources(fresh, lab="subnet-lab") == []
    order = [(e["step"], e["id"]) for e in events(runner) if e["event"] == "resource_deleted"]
    assert order.index(("cache", group_id)) < order.index(("subnets", name))  # the group goes after its cache


def test_a_cluster_in_a_subnet_group_of_given_subnets_lands_in_their_vpc(world, aws, tmp_path):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24", AvailabilityZone="us-east-1c")["Subnet"]["SubnetId"]
    vpc_default = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]["GroupId"]
    playbook = playbook_from(
        f"""\
        name: cluster-lab
        steps:
          - name: subnets
            type: elasticache.subnet_group
            with:
              name: sn-${{{{ run.id }}}}
              subnet_ids: [{subnet}]
              description: the lab's own VPC
          - name: redis
            type: elasticache.cluster
            with:
              cluster_id: c-${{{{ run.id }}}}
              subnet_group: ${{{{ steps.subnets.outputs.name }}}}
        """
    )
    runner = make_runner(playbook, aws, tmp_path)
    outputs = runner.apply()
    assert outputs["subnets"]["vpc_id"] == vpc and outputs["redis"]["security_group_id"] == vpc_default
    made = subnet_group(aws, outputs["subnets"]["name"])
    assert made["CacheSubnetGroupDescription"] == "the lab's own VPC"
    cluster = aws.client("elasticache").describe_cache_clusters(CacheClusterId=outputs["redis"]["cluster_id"])
    assert cluster["CacheClusters"][0]["CacheSubnetGroupName"] == outputs["subnets"]["name"]
    assert cluster["CacheClusters"][0]["PreferredAvailabilityZone"] == "us-east-1c"
    assert teardown(runner.state, aws, world.clock, runner.reporter, runner.settings, "cluster-lab") == []
    assert no_subnet_group(aws, outputs["subnets"]["name"])


def test_teardown_waits_while_a_cache_in_the_group_is_still_deleting(world, aws, tmp_path):
    runner = make_runner(
        playbook_from(SECURE.split("  - name: cache")[0].replace("subnet-lab", "waiting-lab")), aws, tmp_path
    )
    name = runner.apply()["subnets"]["name"]
    elasticache = aws.client("elasticache")  # another's cache, in the lab's group, deleted meanwhile
    elasticache.create_cache_cluster(
        CacheClusterId="other", Engine="redis", CacheNodeType="cache.t3.micro", CacheSubnetGroupName=name
    )
    world.clock.sleep(world.durations["elasticache.create"])
    elasticache.delete_cache_cluster(CacheClusterId="other")
    started = world.clock.now()
    assert teardown(runner.state, aws, world.clock, runner.reporter, runner.settings, "waiting-lab") == []
    assert world.clock.now() - started >= world.durations["elasticache.delete"]  # simulated time, not the wall's
    waits = [e["status"] for e in events(runner) if e["event"] == "step_waiting" and e["step"] == "subnets"]
    assert waits[0] == "in use by a cache (CacheSubnetGroupInUse)" and waits[-1] == "deleted"
    assert no_subnet_group(aws, name)


def test_a_users_subnet_group_is_adopted_and_kept(world, aws, tmp_path):
    _, subnets = default_vpc_subnets(aws)
    aws.client("elasticache").create_cache_subnet_group(
        CacheSubnetGroupName="team-subnets", CacheSubnetGroupDescription="theirs", SubnetIds=subnets[:1]
    )
    playbook = playbook_from(SECURE.split("  - name: cache")[0].replace("sn-${{ run.id }}", "team-subnets"))
    runner = make_runner(playbook, aws, tmp_path)
    assert runner.apply()["subnets"]["name"] == "team-subnets"
    assert [(r.kind, r.ours, r.status) for r in runner.state.resources()] == [("cache-subnet-group", False, "adopted")]
    assert teardown(runner.state, aws, world.clock, runner.reporter, runner.settings, "subnet-lab") == []
    assert subnet_group(aws, "team-subnets")["CacheSubnetGroupDescription"] == "theirs"


def test_without_a_default_vpc_the_step_fails_saying_what_to_give(world, aws, tmp_path):
    delete_default_vpc(aws)
    runner = make_runner(playbook_from(SECURE.split("  - name: cache")[0]), aws, tmp_path)
    with pytest.raises(StepFailed, match="has no default VPC") as failed:
        runner.apply()
    assert "give the step subnet_ids" in str(failed.value)
    assert aws.client("elasticache").describe_cache_subnet_groups()["CacheSubnetGroups"] == []


def test_a_real_account_without_a_default_vpc_is_refused_before_the_run(world, aws):
    delete_default_vpc(aws)
    playbook = playbook_from(SECURE.split("  - name: cache")[0])
    real = Aws(world.session(), world.region, world.clock)
    with pytest.raises(BadInput, match="gives no subnet_ids, and region us-east-1 has no default VPC") as refused:
        check_before_run(playbook, lambda: real, False)
    assert "subnet_ids: [subnet-" in str(refused.value) and "Nothing was created" in str(refused.value)
    given = playbook_from(SECURE.split("  - name: cache")[0] + "      subnet_ids: [subnet-0123456789abcdef0]\n")
    check_before_run(given, lambda: real, False)  # subnets given: nothing to ask

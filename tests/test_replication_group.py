"""elasticache.replication_group against the simulated account: Valkey or Redis OSS, one node,
no replicas; PING from the EC2 host; adoption, resume, early teardown, lost answers."""

import pytest
from harness import events, make_runner, playbook_from, step_context

from ops.aws import Aws
from ops.engine.inventory import tagged_resources
from ops.engine.runner import teardown
from ops.engine.state import RunState
from ops.model import Resource
from ops.steps.replication_group import CacheReplicationGroup

CACHE = """\
name: group-lab
steps:
  - name: cache
    type: elasticache.replication_group
    with:
      group_id: g-${{ run.id }}
      engine: ENGINE
"""
LAB = (
    CACHE
    + """\
  - name: host
    type: ec2.client_host
    with: {}
  - name: ingress
    type: ec2.ingress
    with:
      group_id: ${{ steps.cache.outputs.security_group_id }}
      port: 6379
      source_group_id: ${{ steps.host.outputs.security_group_id }}
  - name: ping
    type: redis.ping
    needs: [host, ingress]
    with:
      instance_id: ${{ steps.host.outputs.instance_id }}
      host: ${{ steps.cache.outputs.address }}
      port: ${{ steps.cache.outputs.port }}
"""
)


def group(aws, group_id):
    return aws.client("elasticache").describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]


def gone(aws, group_id) -> bool:
    client = aws.client("elasticache")
    with pytest.raises(client.exceptions.ReplicationGroupNotFoundFault):
        client.describe_replication_groups(ReplicationGroupId=group_id)
    return True


def default_group(aws):
    ec2 = aws.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    return ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]


@pytest.mark.parametrize("engine", ["valkey", "redis"])
def test_a_one_node_group_answers_ping_from_the_host_and_is_torn_down_from_the_record(world, aws, tmp_path, engine):
    rules_before = default_group(aws)["IpPermissions"]
    runner = make_runner(playbook_from(LAB.replace("ENGINE", engine)), aws, tmp_path)
    runner.state.set("dependencies", {s.name: list(s.after) for s in runner.playbook.steps})
    outputs = runner.apply()
    group_id = f"g-{runner.state.run_id}"
    cache = outputs["cache"]
    assert outputs["ping"]["reply"] == "+PONG"

    found = group(aws, group_id)
    assert found["Status"] == "available" and found["Engine"] == engine
    assert found["MemberClusters"] == [cache["cluster_id"]] and len(found["NodeGroups"]) == 1
    assert found["AutomaticFailover"] == "disabled" and found["ClusterEnabled"] is False
    primary = found["NodeGroups"][0]["PrimaryEndpoint"]
    assert (cache["address"], cache["port"]) == (primary["Address"], primary["Port"])
    assert cache["endpoint"] == f"{primary['Address']}:{primary['Port']}"
    assert cache["group_id"] == group_id and cache["security_group_id"] == default_group(aws)["GroupId"]
    member = aws.client("elasticache").describe_cache_clusters(CacheClusterId=cache["cluster_id"])["CacheClusters"][0]
    assert member["CacheNodeType"] == "cache.t3.micro" and member["Engine"] == engine
    tags = aws.client("elasticache").list_tags_for_resource(ResourceName=found["ARN"])["TagList"]
    assert {"Key": "ops:run", "Value": runner.state.run_id} in tags

    # The group's endpoint and security group were known as soon as the create call returned,
    # so the rule went in long before the group was available.
    done = {e["step"]: e["t"] for e in events(runner) if e["event"] == "step_finished"}
    assert done["ingress"] < done["cache"] and done["ping"] >= done["cache"] >= 300

    record = RunState.load(runner.state.path)
    fresh = Aws(world.session(), world.region, world.clock, dry_run=True)
    assert teardown(record, fresh, world.clock, runner.reporter, runner.settings, "group-lab") == []
    assert gone(fresh, group_id)
    assert fresh.client("elasticache").describe_cache_clusters()["CacheClusters"] == []
    assert tagged_resources(fresh, lab="group-lab") == []
    assert default_group(fresh)["IpPermissions"] == rules_before
    assert record.to_delete() == []


def test_a_group_that_existed_is_used_but_never_deleted(world, aws, tmp_path):
    elasticache = aws.client("elasticache")
    elasticache.create_replication_group(
        ReplicationGroupId="shared-valkey",
        ReplicationGroupDescription="team",
        Engine="valkey",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=1,
    )
    world.clock.sleep(600)  # it is available by the time the lab runs
    runner = make_runner(
        playbook_from(CACHE.replace("g-${{ run.id }}", "shared-valkey").replace("ENGINE", "valkey")), aws, tmp_path
    )
    outputs = runner.apply()["cache"]
    assert outputs["group_id"] == "shared-valkey" and outputs["security_group_id"] == default_group(aws)["GroupId"]
    assert outputs["address"] == "127.0.0.1"
    [resource] = runner.state.live()
    assert resource.ours is False and resource.kind == "replication-group"
    assert teardown(runner.state, aws, aws.clock, runner.reporter, runner.settings, "group-lab") == []
    assert group(aws, "shared-valkey")["Status"] == "available"
    kept = [e for e in events(runner) if e["event"] == "resource_kept"]
    assert kept and "existed before this run" in kept[0]["reason"]


def test_a_rerun_resumes_the_group_it_already_made(world, aws, tmp_path):
    text = CACHE.replace("ENGINE", "valkey")
    runner = make_runner(playbook_from(text), aws, tmp_path)
    first = runner.apply()["cache"]
    again = make_runner(playbook_from(text), aws, tmp_path / "again")
    again.state = RunState.load(runner.state.path)
    assert again.apply()["cache"] == first
    assert len(aws.client("elasticache").describe_replication_groups()["ReplicationGroups"]) == 1
    assert [r.status for r in again.state.live()] == ["created"]
    assert any(e["event"] == "step_created" and e["verb"] == "resumed" for e in events(again))
    assert teardown(again.state, aws, aws.clock, again.reporter, again.settings, "group-lab") == []
    assert gone(aws, first["group_id"])


def test_teardown_while_creating_waits_until_the_group_may_be_deleted(world, aws, tmp_path):
    runner = make_runner(playbook_from(CACHE.replace("ENGINE", "valkey")), aws, tmp_path)
    ctx = runner.context("cache", "elasticache.replication_group", 3600)
    step = CacheReplicationGroup(
        ctx, "cache", CacheReplicationGroup.with_defaults({"group_id": "early-delete", "engine": "valkey"})
    )
    assert step.create()["group_id"] == "early-delete"
    assert group(aws, "early-delete")["Status"] == "creating"
    # AWS refuses the delete now (InvalidReplicationGroupState); teardown waits, then deletes.
    assert teardown(runner.state, aws, aws.clock, runner.reporter, runner.settings, "group-lab") == []
    assert gone(aws, "early-delete")
    durations = world.durations
    assert (
        world.clock.now()
        >= durations["elasticache.replication_group.create"] + durations["elasticache.replication_group.delete"]
    )


def test_teardown_after_a_lost_create_answer_deletes_only_a_group_tagged_ours(world, aws, tmp_path):
    state = RunState.start(tmp_path / "s.json", "group-lab", "p", aws.region, dry_run=True)
    reporter = make_runner(playbook_from(CACHE.replace("ENGINE", "valkey")), aws, tmp_path).reporter
    ctx = step_context(aws, state, reporter, "group-lab", "cache", "elasticache.replication_group")
    elasticache = aws.client("elasticache")
    for group_id, tags in (("lost-ours", ctx.tags()), ("lost-theirs", [])):
        state.record(
            Resource(
                step="cache" if tags else "other",
                type="elasticache.replication_group",
                kind="replication-group",
                id=group_id,
                region=aws.region,
            )
        )
        elasticache.create_replication_group(
            ReplicationGroupId=group_id,
            ReplicationGroupDescription="d",
            Engine="valkey",
            CacheNodeType="cache.t3.micro",
            NumCacheClusters=1,
            Tags=tags,
        )
    assert teardown(state, aws, aws.clock, reporter, {"expected": {}}, "group-lab") == []
    assert gone(aws, "lost-ours")
    assert group(aws, "lost-theirs")["Status"] == "available"


def test_previews_say_create_or_adopt(world, aws, tmp_path):
    runner = make_runner(playbook_from(CACHE.replace("ENGINE", "valkey")), aws, tmp_path)
    ctx = runner.context("cache", "elasticache.replication_group", 600)
    args = CacheReplicationGroup.with_defaults({"group_id": "planned", "engine": "valkey"})
    [change] = CacheReplicationGroup(ctx, "cache", args).preview()
    assert (change.action, change.service, change.size) == ("create", "elasticache", "cache.t3.micro")
    assert "valkey, 1 x cache.t3.micro, no replicas" in change.what
    aws.client("elasticache").create_replication_group(
        ReplicationGroupId="planned",
        ReplicationGroupDescription="d",
        Engine="valkey",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=1,
    )
    [change] = CacheReplicationGroup(ctx, "cache", args).preview()
    assert change.action == "adopt" and change.service is None

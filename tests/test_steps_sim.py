"""Step types against the simulated account: create, adopt, resume, wait, delete."""

from harness import make_runner, playbook_from, step_context

from ops.aws import Aws
from ops.engine.inventory import tagged_resources
from ops.engine.runner import teardown
from ops.engine.state import RunState
from ops.model import Resource

LAB = """\
name: steps-lab
steps:
  - name: cloud9
    type: cloud9.environment
    with:
      name: env-${{ run.id }}
  - name: redis
    type: elasticache.cluster
    with:
      cluster_id: c-${{ run.id }}
  - name: ingress
    type: ec2.ingress
    with:
      group_id: ${{ steps.redis.outputs.security_group_id }}
      port: 6379
      source_group_id: ${{ steps.cloud9.outputs.security_group_id }}
  - name: ping
    type: redis.ping
    needs: [ingress, cloud9]
    with:
      instance_id: ${{ steps.cloud9.outputs.instance_id }}
      host: ${{ steps.redis.outputs.address }}
      port: ${{ steps.redis.outputs.port }}
"""


def default_group_rules(aws):
    ec2 = aws.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]
    return group["GroupId"], group["IpPermissions"]


def test_lab_steps_then_teardown_from_the_record_alone(world, aws, tmp_path):
    _, rules_before = default_group_rules(aws)
    runner = make_runner(playbook_from(LAB), aws, tmp_path)
    runner.state.set("dependencies", {s.name: list(s.after) for s in runner.playbook.steps})
    outputs = runner.apply()
    assert outputs["ping"]["reply"] == "+PONG"
    env_id = outputs["cloud9"]["environment_id"]
    cloud9 = aws.client("cloud9")
    assert cloud9.describe_environment_status(environmentId=env_id)["status"] == "ready"
    cluster = aws.client("elasticache").describe_cache_clusters(CacheClusterId=f"c-{runner.state.run_id}")
    assert cluster["CacheClusters"][0]["CacheClusterStatus"] == "available"
    assert tagged_resources(aws, lab="steps-lab")  # the lab is up, and tagged

    # A new process would know only the file: a fresh state object and a fresh session.
    record = RunState.load(runner.state.path)
    fresh = Aws(world.session(), world.region, world.clock, dry_run=True)
    assert teardown(record, fresh, world.clock, runner.reporter, runner.settings, "steps-lab") == []
    assert tagged_resources(fresh, lab="steps-lab") == []
    assert default_group_rules(fresh)[1] == rules_before
    assert cloud9.list_environments()["environmentIds"] == []
    assert record.to_delete() == []


def test_iam_that_existed_is_adopted_and_ends_as_it_was(world, aws, tmp_path):
    iam = aws.client("iam")
    iam.create_role(RoleName="AWSCloud9SSMAccessRole", Path="/service-role/", AssumeRolePolicyDocument="{}")
    iam.attach_role_policy(
        RoleName="AWSCloud9SSMAccessRole", PolicyArn="arn:aws:iam::aws:policy/AWSCloud9SSMInstanceProfile"
    )
    iam.create_instance_profile(InstanceProfileName="AWSCloud9SSMInstanceProfile", Path="/cloud9/")
    world.clock.sleep(world.durations["iam.consistency"])  # IAM shows a new role a moment later
    iam.add_role_to_instance_profile(
        InstanceProfileName="AWSCloud9SSMInstanceProfile", RoleName="AWSCloud9SSMAccessRole"
    )
    runner = make_runner(playbook_from(LAB), aws, tmp_path)
    runner.run_step(runner.playbook.step("cloud9"))
    by_kind = {r.kind: r for r in runner.state.live()}
    assert not by_kind["iam-role"].ours and not by_kind["instance-profile"].ours
    assert not by_kind["role-policy:AWSCloud9SSMInstanceProfile"].ours
    assert by_kind["role-policy:AmazonSSMManagedInstanceCore"].ours  # ops added it for Run Command
    teardown(runner.state, aws, aws.clock, runner.reporter, runner.settings, "steps-lab")
    attached = [
        p["PolicyName"] for p in iam.list_attached_role_policies(RoleName="AWSCloud9SSMAccessRole")["AttachedPolicies"]
    ]
    assert attached == ["AWSCloud9SSMInstanceProfile"]
    assert iam.get_instance_profile(InstanceProfileName="AWSCloud9SSMInstanceProfile")


def test_a_cluster_that_existed_is_used_but_never_deleted(world, aws, tmp_path):
    elasticache = aws.client("elasticache")
    elasticache.create_cache_cluster(
        CacheClusterId="shared-cache", Engine="redis", CacheNodeType="cache.t3.micro", NumCacheNodes=1
    )
    text = LAB.replace("cluster_id: c-${{ run.id }}", "cluster_id: shared-cache")
    runner = make_runner(playbook_from(text), aws, tmp_path)
    runner.run_step(runner.playbook.step("redis"))
    [resource] = runner.state.live()
    assert resource.ours is False
    teardown(runner.state, aws, aws.clock, runner.reporter, runner.settings, "steps-lab")
    status = elasticache.describe_cache_clusters(CacheClusterId="shared-cache")["CacheClusters"][0]
    assert status["CacheClusterStatus"] == "available"
    kept = [line for line in runner.reporter.stream.getvalue().splitlines() if "resource_kept" in line]
    assert kept and "existed before this run" in kept[0]


def test_rerun_resumes_what_the_run_already_made(world, aws, tmp_path):
    runner = make_runner(playbook_from(LAB), aws, tmp_path)
    runner.run_step(runner.playbook.step("redis"))
    saved = RunState.load(runner.state.path)  # what a re-run after a crash would find
    again = make_runner(playbook_from(LAB), aws, tmp_path / "again")
    again.state = saved
    again.run_step(again.playbook.step("redis"))
    clusters = aws.client("elasticache").describe_cache_clusters()["CacheClusters"]
    assert len(clusters) == 1
    assert [r.status for r in again.state.live()] == ["created"]
    assert '"verb": "resumed"' in again.reporter.stream.getvalue()


def test_teardown_finds_resources_whose_create_answer_was_lost(world, aws, tmp_path):
    """The create call went out, the process died before recording the answer."""
    state = RunState.start(tmp_path / "s.json", "steps-lab", "p", aws.region, dry_run=True)
    ctx = step_context(
        aws, state, make_runner(playbook_from(LAB), aws, tmp_path).reporter, "steps-lab", "cloud9", "cloud9.environment"
    )
    iam = aws.client("iam")
    iam.create_role(RoleName="AWSCloud9SSMAccessRole", Path="/service-role/", AssumeRolePolicyDocument="{}")
    iam.create_instance_profile(InstanceProfileName="AWSCloud9SSMInstanceProfile", Path="/cloud9/")
    world.clock.sleep(world.durations["iam.consistency"])  # IAM shows a new role a moment later
    iam.add_role_to_instance_profile(
        InstanceProfileName="AWSCloud9SSMInstanceProfile", RoleName="AWSCloud9SSMAccessRole"
    )
    state.record(
        Resource(
            step="cloud9",
            type="cloud9.environment",
            kind="cloud9-environment",
            id="lost-env",
            region=aws.region,
            attrs={"name": "lost-env"},
        )
    )
    world.clock.sleep(world.durations["iam.propagation"])  # Cloud9 sees the new IAM pieces
    aws.client("cloud9").create_environment_ec2(
        name="lost-env",
        instanceType="t3.micro",
        imageId="amazonlinux-2023-x86_64",
        connectionType="CONNECT_SSM",
        tags=ctx.tags(),
    )
    ec2 = aws.client("ec2")
    target = ec2.create_security_group(GroupName="t", Description="d")["GroupId"]
    ctx.step = "ingress"
    state.record(
        Resource(
            step="ingress",
            type="ec2.ingress",
            kind="ingress-rule",
            id=f"{target}:tcp:6379:x",
            region=aws.region,
            attrs={"group_id": target},
        )
    )
    ec2.authorize_security_group_ingress(
        GroupId=target,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379, "IpRanges": [{"CidrIp": "10.1.0.0/16"}]}
        ],
        TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": ctx.tags()}],
    )

    assert teardown(state, aws, aws.clock, ctx.reporter, {"expected": {}}, "steps-lab") == []
    assert aws.client("cloud9").list_environments()["environmentIds"] == []
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [target]}])
    assert [r for r in rules["SecurityGroupRules"] if not r["IsEgress"]] == []


def test_include_adopted_deletes_what_existed_before(world, aws, tmp_path):
    elasticache = aws.client("elasticache")
    elasticache.create_cache_cluster(
        CacheClusterId="old-cache", Engine="redis", CacheNodeType="cache.t3.micro", NumCacheNodes=1
    )
    runner = make_runner(
        playbook_from(LAB.replace("cluster_id: c-${{ run.id }}", "cluster_id: old-cache")), aws, tmp_path
    )
    runner.run_step(runner.playbook.step("redis"))
    teardown(runner.state, aws, aws.clock, runner.reporter, runner.settings, "steps-lab", include_adopted=True)
    assert elasticache.describe_cache_clusters()["CacheClusters"] == []

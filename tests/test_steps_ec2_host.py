"""ec2.client_host against the simulated account: the instance, its group and IAM, SSM-online;
propagation retries; adoption, resume, lost answers; teardown from the record alone."""

import json

import pytest
from harness import error_response, events, make_runner, playbook_from, step_context

from ops.aws import Aws
from ops.engine.inventory import tagged_resources
from ops.engine.runner import teardown
from ops.engine.state import RunState
from ops.errors import StepFailed
from ops.model import Resource
from ops.steps.ec2_host import AL2023
from ops.steps.iam import run_scoped_name

LAB = """\
name: host-lab
steps:
  - name: host
    type: ec2.client_host
    timeout: 10m
    with: {}
"""
SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


def instance(aws, instance_id):
    return aws.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def tags(pairs):
    return {t["Key"]: t["Value"] for t in pairs or []}


def live_instances(aws):
    reservations = aws.client("ec2").describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    )["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def test_the_host_is_running_online_in_ssm_closed_and_torn_down_from_the_record(world, aws, tmp_path):
    runner = make_runner(playbook_from(LAB), aws, tmp_path)
    outputs = runner.apply()["host"]
    run_id = runner.state.run_id
    name = f"ops-host-lab-{run_id}-host"
    assert outputs["role_name"] == outputs["instance_profile"] == name

    # The instance: AL2023 from the public parameter, t3.micro, the profile, its own group.
    ami = aws.client("ssm").get_parameter(Name=AL2023)["Parameter"]["Value"]
    host = instance(aws, outputs["instance_id"])
    assert host["State"]["Name"] == "running"
    assert host["ImageId"] == ami == outputs["image_id"]
    assert host["InstanceType"] == "t3.micro"
    assert host["IamInstanceProfile"]["Arn"].endswith(f"/{name}")
    assert [g["GroupId"] for g in host["SecurityGroups"]] == [outputs["security_group_id"]]
    assert tags(host["Tags"]) | {"ops:created": ""} == {
        "ops:lab": "host-lab",
        "ops:run": run_id,
        "ops:step": "host",
        "Name": name,
        "ops:created": "",
    }
    info = aws.client("ssm").describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [outputs["instance_id"]]}]
    )["InstanceInformationList"]
    assert [i["PingStatus"] for i in info] == ["Online"] and info[0]["IamRole"] == name

    # Its security group: the run's own, in the default VPC, no inbound rule, default egress.
    ec2 = aws.client("ec2")
    group = ec2.describe_security_groups(GroupIds=[outputs["security_group_id"]])["SecurityGroups"][0]
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    assert group["GroupName"] == name and group["VpcId"] == default_vpc
    assert group["IpPermissions"] == []
    assert [r["IpRanges"] for r in group["IpPermissionsEgress"]] == [[{"CidrIp": "0.0.0.0/0"}]]
    assert tags(group["Tags"])["ops:run"] == run_id

    # IAM: a role EC2 may assume, with the SSM managed policy, inside the profile; all tagged.
    iam = aws.client("iam")
    role = iam.get_role(RoleName=name)["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["ec2.amazonaws.com"]}
    assert tags(role["Tags"])["ops:run"] == run_id
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [SSM_CORE]
    profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [name]

    # The launch waited for EC2 to see the new profile (iam.propagation); the host was done only
    # once SSM saw its agent.
    seen = events(runner)
    created = next(e for e in seen if e["event"] == "step_create_finished")
    finished = next(e for e in seen if e["event"] == "step_finished")
    propagation = world.durations["iam.propagation"]
    assert propagation <= created["elapsed"] < propagation + 10
    assert world.durations["ssm.register"] <= finished["elapsed"]
    assert any(e["event"] == "step_waiting" and "instance profile not visible" in e["status"] for e in seen)
    kinds = [r.kind for r in runner.state.live()]
    assert kinds == [
        "iam-role",
        "role-policy:AmazonSSMManagedInstanceCore",
        "instance-profile",
        "security-group",
        "ec2-instance",
    ]

    # Teardown from the file alone, in a fresh session: nothing left, IAM included.
    record = RunState.load(runner.state.path)
    fresh = Aws(world.session(), world.region, world.clock, dry_run=True)
    assert teardown(record, fresh, world.clock, runner.reporter, runner.settings, "host-lab") == []
    assert instance(fresh, outputs["instance_id"])["State"]["Name"] == "terminated"
    assert (
        fresh.client("ec2").describe_security_groups(
            Filters=[{"Name": "group-id", "Values": [outputs["security_group_id"]]}]
        )["SecurityGroups"]
        == []
    )
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"] == name]
    assert not [p for p in iam.list_instance_profiles()["InstanceProfiles"] if p["InstanceProfileName"] == name]
    assert tagged_resources(fresh, lab="host-lab") == []
    assert record.to_delete() == []
    # the group's deletion waited while the terminated instance's interface lingered
    assert any(e["event"] == "step_waiting" and "DependencyViolation" in e["status"] for e in events(runner))


def test_the_launch_is_retried_while_ec2_cannot_see_the_new_instance_profile(world, tmp_path):
    session = world.session()
    refused = []

    def not_yet(**_):
        if len(refused) < 2:
            refused.append(1)
            return error_response(
                "InvalidParameterValue",
                "Value (ops-x) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
                400,
            )
        return None

    session.events.register("before-call.ec2.RunInstances", not_yet)
    aws = Aws(session, world.region, world.clock, dry_run=True)
    runner = make_runner(playbook_from(LAB), aws, tmp_path)
    outputs = runner.apply()["host"]
    assert len(refused) == 2
    waits = [e["status"] for e in events(runner) if e["event"] == "step_waiting" and "launch" in e["what"]]
    assert waits == ["instance profile not visible to EC2 yet"] * 2 + ["launched"]
    assert [i["InstanceId"] for i in live_instances(aws)] == [outputs["instance_id"]]


def test_the_launch_gives_up_at_the_deadline_and_leaves_nothing(world, tmp_path):
    session = world.session()
    session.events.register(
        "before-call.ec2.RunInstances",
        lambda **_: error_response("InvalidParameterValue", "Invalid IAM Instance Profile name", 400),
    )
    aws = Aws(session, world.region, world.clock, dry_run=True)
    runner = make_runner(playbook_from(LAB.replace("timeout: 10m", "timeout: 2m")), aws, tmp_path)
    with pytest.raises(StepFailed, match="timed out"):
        runner.apply()
    assert 110 <= world.clock.now() <= 130  # it kept trying for the step's two minutes
    assert live_instances(aws) == []
    assert teardown(runner.state, aws, world.clock, runner.reporter, runner.settings, "host-lab") == []
    assert tagged_resources(aws, lab="host-lab") == []


def test_an_explicit_image_is_used_and_a_missing_parameter_says_to_give_one(world, aws, tmp_path):
    other = aws.client("ssm").get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64")[
        "Parameter"
    ]["Value"]
    text = LAB.replace("with: {}", f"with:\n      image_id: {other}\n      instance_type: t3.small")
    runner = make_runner(playbook_from(text), aws, tmp_path)
    outputs = runner.apply()["host"]
    host = instance(aws, outputs["instance_id"])
    assert (host["ImageId"], host["InstanceType"]) == (other, "t3.small")
    teardown(runner.state, aws, world.clock, runner.reporter, runner.settings, "host-lab")

    missing = LAB.replace("with: {}", "with:\n      image_parameter: /aws/service/no-such-image")
    runner = make_runner(playbook_from(missing), aws, tmp_path / "missing")
    with pytest.raises(StepFailed) as failure:
        runner.apply()
    assert "/aws/service/no-such-image" in failure.value.message and "image_id" in failure.value.hint
    assert live_instances(aws) == []
    assert teardown(runner.state, aws, world.clock, runner.reporter, runner.settings, "host-lab") == []
    assert tagged_resources(aws, lab="host-lab") == []


def test_a_role_and_profile_that_existed_are_used_and_end_as_they_were(world, aws, tmp_path):
    iam = aws.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName="team-host", AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_instance_profile(InstanceProfileName="team-host")
    world.clock.sleep(world.durations["iam.consistency"])  # IAM shows a new role a moment later
    iam.add_role_to_instance_profile(InstanceProfileName="team-host", RoleName="team-host")
    runner = make_runner(playbook_from(LAB.replace("with: {}", "with:\n      name: team-host")), aws, tmp_path)
    outputs = runner.apply()["host"]
    assert outputs["role_name"] == "team-host"
    by_kind = {r.kind: r for r in runner.state.live()}
    assert not by_kind["iam-role"].ours and not by_kind["instance-profile"].ours
    assert by_kind["role-policy:AmazonSSMManagedInstanceCore"].ours  # ops attached it for the run
    assert by_kind["security-group"].ours and by_kind["ec2-instance"].ours

    assert teardown(runner.state, aws, world.clock, runner.reporter, runner.settings, "host-lab") == []
    assert iam.list_attached_role_policies(RoleName="team-host")["AttachedPolicies"] == []
    profile = iam.get_instance_profile(InstanceProfileName="team-host")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["team-host"]
    assert live_instances(aws) == []
    kept = [e for e in events(runner) if e["event"] == "resource_kept"]
    assert {e["kind"] for e in kept} == {"iam-role", "instance-profile"}


def test_a_rerun_resumes_the_host_instead_of_launching_another(world, aws, tmp_path):
    runner = make_runner(playbook_from(LAB), aws, tmp_path)
    first = runner.apply()["host"]
    again = make_runner(playbook_from(LAB), aws, tmp_path / "again")
    again.state = RunState.load(runner.state.path)  # what a re-run after a crash finds
    second = again.apply()["host"]
    assert second == first
    assert len(live_instances(aws)) == 1
    resumed = {e["kind"] for e in events(again) if e["event"] == "step_created" and e["verb"] == "resumed"}
    assert {"iam-role", "instance-profile", "security-group", "ec2-instance"} <= resumed
    assert teardown(again.state, aws, world.clock, again.reporter, again.settings, "host-lab") == []
    assert tagged_resources(aws, lab="host-lab") == []


def test_teardown_finds_a_group_and_instance_whose_create_answers_were_lost(world, aws, tmp_path):
    state = RunState.start(tmp_path / "s.json", "host-lab", "p", aws.region, dry_run=True)
    reporter = make_runner(playbook_from(LAB), aws, tmp_path).reporter
    ctx = step_context(aws, state, reporter, "host-lab", "host", "ec2.client_host")
    ec2 = aws.client("ec2")
    name = run_scoped_name("host-lab", state.run_id, "host")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    state.record(
        Resource(
            step="host",
            type="ec2.client_host",
            kind="security-group",
            id=name,
            region=aws.region,
            attrs={"name": name, "vpc_id": vpc},
        )
    )
    group = ec2.create_security_group(
        GroupName=name,
        Description="d",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": ctx.tags()}],
    )["GroupId"]
    state.record(
        Resource(
            step="host", type="ec2.client_host", kind="ec2-instance", id=name, region=aws.region, attrs={"name": name}
        )
    )
    ami = aws.client("ssm").get_parameter(Name=AL2023)["Parameter"]["Value"]
    launched = ec2.run_instances(
        ImageId=ami,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SecurityGroupIds=[group],
        TagSpecifications=[{"ResourceType": "instance", "Tags": ctx.tags()}],
    )["Instances"][0]["InstanceId"]
    # Another run's group of the same name in another VPC is never touched.
    other_vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_security_group(GroupName=name, Description="d", VpcId=other_vpc)["GroupId"]

    assert teardown(state, aws, aws.clock, reporter, {"expected": {}}, "host-lab") == []
    assert instance(aws, launched)["State"]["Name"] == "terminated"
    remaining = [
        g["GroupId"]
        for g in ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    ]
    assert remaining == [other]


def test_names_stay_unique_per_run_and_within_the_iam_limit():
    assert run_scoped_name("elasticache-lab", "r1234567", "host") == "ops-elasticache-lab-r1234567-host"
    lab, step = "a" * 30, "b" * 40
    first, second = run_scoped_name(lab, "r1111111", step), run_scoped_name(lab, "r2222222", step)
    assert len(first) <= 64 and len(second) <= 64 and first != second
    assert "r1111111" in first


def test_a_relaunch_whose_token_names_a_dead_instance_launches_a_new_one(world, aws, tmp_path):
    """Resumed from its intent row, the step re-sends the launch's ClientToken; when that
    launch's instance has died since, EC2 answers with the dead one (as the simulator now
    does): the step launches a new instance under the next token instead of waiting on it."""
    runner = make_runner(playbook_from(LAB), aws, tmp_path)
    first = runner.apply()["host"]["instance_id"]
    aws.client("ec2").terminate_instances(InstanceIds=[first])
    row = next(r for r in runner.state.live() if r.kind == "ec2-instance")
    row.status = "intent"  # as if a relaunch was sent and its answer never recorded
    runner.state.record(row)
    again = make_runner(playbook_from(LAB), aws, tmp_path / "again")
    again.state = RunState.load(runner.state.path)
    second = again.apply()["host"]["instance_id"]
    assert second != first and instance(aws, second)["State"]["Name"] == "running"
    assert [r.attrs["launch"] for r in again.state.live() if r.kind == "ec2-instance"] == [2]
    assert teardown(again.state, aws, world.clock, again.reporter, again.settings, "host-lab") == []
    assert tagged_resources(aws, lab="host-lab") == []


SUBNET_LAB = LAB.replace("with: {}", "with:\n      subnet_id: {subnet}")


def test_a_subnet_that_assigns_no_public_ip_gets_one_asked_for_and_the_host_registers(world, aws, tmp_path):
    """A public subnet (an internet gateway) that does not auto-assign public IPv4: an instance
    launched there has no address, its SSM Agent never reaches SSM and the step would wait out
    ssm.online; the launch asks for an address instead (issue 15)."""
    ec2 = aws.client("ec2")
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default_vpc]}])["Subnets"][0]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": False})
    runner = make_runner(playbook_from(SUBNET_LAB.format(subnet=subnet)), aws, tmp_path)
    outputs = runner.apply()["host"]
    host = instance(aws, outputs["instance_id"])
    assert host["SubnetId"] == subnet and host.get("PublicIpAddress")
    assert [g["GroupId"] for g in host["SecurityGroups"]] == [outputs["security_group_id"]]
    assert teardown(runner.state, aws, world.clock, runner.reporter, runner.settings, "host-lab") == []
    assert live_instances(aws) == []


def test_a_subnet_with_no_way_to_ssm_is_refused_before_anything_is_created(world, aws, tmp_path):
    """No internet gateway, no NAT, no ssm endpoint: the host could never register. The run's
    preflight refuses it naming the playbook line; the step itself refuses before launching."""
    from ops.commands.lab import check_before_run
    from ops.errors import BadInput

    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24")["Subnet"]["SubnetId"]
    playbook = playbook_from(SUBNET_LAB.format(subnet=subnet))
    with pytest.raises(BadInput) as refused:
        check_before_run(playbook, lambda: aws, dry_run=True)
    assert "no route to the internet" in str(refused.value) and refused.value.line == 7
    assert "NAT gateway" in refused.value.hint
    runner = make_runner(playbook, aws, tmp_path)
    with pytest.raises(StepFailed, match="could never reach Systems Manager"):
        runner.apply()
    assert live_instances(aws) == []
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{aws.region}.ssm", VpcEndpointType="Interface", SubnetIds=[subnet]
    )
    assert endpoint["VpcEndpoint"]["VpcEndpointId"]
    check_before_run(playbook, lambda: aws, dry_run=True)  # an ssm endpoint is a way: accepted


def test_a_host_script_exit_code_brings_its_own_hint(world, aws, tmp_path):
    """The demo's host script exits 7 when no package index answers: the step failure says
    what to do about that (a NAT, a proxy, --var demo_index_url), not to check the cache rule."""
    from ops.hostscript import HostScript, Template
    from ops.steps.demo import EXIT_NO_PACKAGE_INDEX, NO_PACKAGE_INDEX_HINT
    from ops.steps.ssm_command import run_shell

    runner = make_runner(playbook_from(LAB), aws, tmp_path)
    outputs = runner.apply()["host"]
    ctx = step_context(aws, runner.state, runner.reporter, "host-lab", "demo", "demo.cache_aside")
    script = HostScript({"OPS_CODE": EXIT_NO_PACKAGE_INDEX}, Template('echo "no index" >&2; exit "$OPS_CODE"'))
    with pytest.raises(StepFailed) as failed:
        run_shell(ctx, outputs["instance_id"], script, "the demo", hints={EXIT_NO_PACKAGE_INDEX: NO_PACKAGE_INDEX_HINT})
    assert "no index" in str(failed.value) and failed.value.hint == NO_PACKAGE_INDEX_HINT
    with pytest.raises(StepFailed) as other:
        run_shell(ctx, outputs["instance_id"], HostScript({}, Template("exit 3")), "the demo", hints={7: "x"})
    assert "security group rule" in other.value.hint
    assert teardown(runner.state, aws, world.clock, runner.reporter, runner.settings, "host-lab") == []


def test_a_command_whose_answer_was_lost_is_found_not_sent_twice(world, aws, tmp_path):
    """SendCommand is not idempotent: re-sent after its answer was lost, the script would run
    twice. botocore does not re-send it; run_shell finds it by its comment (issue 15)."""
    from ops.hostscript import HostScript, Template
    from ops.sim.faults import FaultPlan
    from ops.steps.ssm_command import run_shell

    class LoseFirstSend(FaultPlan):
        def draw(self, service, operation, n):
            return "lost_answer" if operation == "SendCommand" and n == 0 else None

    runner = make_runner(playbook_from(LAB), aws, tmp_path)
    outputs = runner.apply()["host"]
    ctx = step_context(aws, runner.state, runner.reporter, "host-lab", "ping", "redis.ping")
    world.faults = LoseFirstSend(seed=0)
    world.durations["ssm.invocation_delay"] = 12  # SSM lists the command only after a while,
    ctx.settings["expected"]["ssm.online"] = 4  # and ops looks again every 5 s
    result = run_shell(ctx, outputs["instance_id"], HostScript({}, Template("echo ran")), "a command")
    assert result["status"] == "Success" and result["stdout"].strip() == "ran"
    world.faults = None
    commands = world.session().client("ssm").list_commands(InstanceId=outputs["instance_id"])["Commands"]
    assert len(commands) == 1  # applied once, found, never sent again
    assert world.injector is None and "host-lab" in commands[0]["Comment"]
    assert any("answer was lost" in e.get("status", "") for e in events(runner) if e["event"] == "step_waiting")
    assert teardown(runner.state, aws, world.clock, runner.reporter, runner.settings, "host-lab") == []


def test_the_host_group_waits_for_the_network_interfaces_a_deleted_cache_leaves_in_it(world, aws, tmp_path):
    """A cache in the host's own security group: once the cache is gone, its interfaces stay in
    the VPC a while (ec2.eni_linger) and EC2 refuses to delete the group; teardown waits."""
    ec2, elasticache = aws.client("ec2"), aws.client("elasticache")
    state = RunState.start(tmp_path / "s.json", "host-lab", "p", aws.region, dry_run=True)
    group = ec2.create_security_group(GroupName="host-lab-host", Description="host")["GroupId"]
    state.record(Resource("host", "ec2.client_host", "security-group", group, aws.region, status="created"))
    elasticache.create_cache_cluster(
        CacheClusterId="lab-redis", Engine="redis", CacheNodeType="cache.t3.micro", SecurityGroupIds=[group]
    )
    state.record(Resource("redis", "elasticache.cluster", "cache-cluster", "lab-redis", aws.region, status="created"))
    world.clock.sleep(world.durations["elasticache.create"])
    runner = make_runner(playbook_from(LAB), aws, tmp_path / "other")

    assert teardown(state, aws, world.clock, runner.reporter, runner.settings, "host-lab") == []
    seen = events(runner)
    cache_gone = next(e["t"] for e in seen if e["event"] == "resource_deleted" and e["kind"] == "cache-cluster")
    group_gone = next(e["t"] for e in seen if e["event"] == "resource_deleted" and e["kind"] == "security-group")
    assert group_gone >= cache_gone + world.durations["ec2.eni_linger"]
    assert any(e["event"] == "step_waiting" and "DependencyViolation" in e["status"] for e in seen)
    assert ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroups"] == []

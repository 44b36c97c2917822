import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ops.sim.hostcli import HostCli, remove_abandoned_folders
from ops.sim.processes import alive

from .conftest import SSM_ROLE_POLICY, cloud9_instance, create_ssm_iam

PING = "exec 3<>/dev/tcp/127.0.0.1/{port}; printf 'PING\\r\\n' >&3; read -t {wait} r <&3; echo \"$r\""


def run(world, session, clock, instance_id, *commands, **parameters):
    """SendCommand, then poll GetCommandInvocation on the virtual clock until it ends."""
    ssm = session.client("ssm")
    command_id = ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": list(commands), **parameters},
    )["Command"]["CommandId"]
    clock.sleep(world.durations["ssm.command"])
    return ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)


def allow_redis_from(session, cluster, instance):
    session.client("ec2").authorize_security_group_ingress(
        GroupId=cluster["SecurityGroups"][0]["SecurityGroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 6379,
                "ToPort": 6379,
                "UserIdGroupPairs": [{"GroupId": instance["SecurityGroups"][0]["GroupId"]}],
            }
        ],
    )


def test_ping_through_ssm_reaches_redis_once_the_security_group_admits_the_instance(
    world, session, clock, ready_cloud9, available_cluster
):
    _, instance = ready_cloud9
    port = available_cluster["CacheNodes"][0]["Endpoint"]["Port"]

    blocked = run(world, session, clock, instance["InstanceId"], PING.format(port=port, wait=1))
    assert blocked["Status"] == "Success" and blocked["StandardOutputContent"] == "\n"

    allow_redis_from(session, available_cluster, instance)
    answered = run(world, session, clock, instance["InstanceId"], PING.format(port=port, wait=5))
    assert answered["Status"] == "Success" and answered["ResponseCode"] == 0
    assert answered["StandardOutputContent"].strip() == "+PONG"


def test_invocation_appears_then_runs_then_ends(world, session, clock, ready_cloud9):
    _, instance = ready_cloud9
    ssm = session.client("ssm")
    sent = ssm.send_command(
        InstanceIds=[instance["InstanceId"]],
        DocumentName="AWS-RunShellScript",
        Comment="hello",
        Parameters={"commands": ["echo hello", "echo oops >&2"]},
    )["Command"]
    assert sent["Status"] == "Pending" and sent["InstanceIds"] == [instance["InstanceId"]]
    ask = dict(CommandId=sent["CommandId"], InstanceId=instance["InstanceId"])
    with pytest.raises(ssm.exceptions.InvocationDoesNotExist):
        ssm.get_command_invocation(**ask)
    clock.sleep(world.durations["ssm.invocation_delay"])
    in_progress = ssm.get_command_invocation(**ask)
    assert in_progress["Status"] == "InProgress" and in_progress["StandardOutputContent"] == ""
    clock.sleep(world.durations["ssm.command"])
    done = ssm.get_command_invocation(**ask)
    assert (done["Status"], done["StandardOutputContent"], done["StandardErrorContent"]) == (
        "Success",
        "hello\n",
        "oops\n",
    )
    assert done["Comment"] == "hello" and done["PluginName"] == "aws:runShellScript"
    with pytest.raises(ssm.exceptions.InvocationDoesNotExist):
        ssm.get_command_invocation(CommandId="00000000-0000-0000-0000-000000000000", InstanceId=instance["InstanceId"])


def test_failure_timeout_and_truncation(world, session, clock, ready_cloud9):
    _, instance = ready_cloud9
    failed = run(world, session, clock, instance["InstanceId"], "echo partial", "exit 3")
    assert (failed["Status"], failed["StatusDetails"], failed["ResponseCode"]) == ("Failed", "Failed", 3)
    assert failed["StandardOutputContent"] == "partial\n"

    timed_out = run(world, session, clock, instance["InstanceId"], "sleep 10", executionTimeout=["1"])
    assert (timed_out["Status"], timed_out["StatusDetails"]) == ("TimedOut", "ExecutionTimedOut")

    long = run(
        world,
        session,
        clock,
        instance["InstanceId"],
        "head -c 30000 /dev/zero | tr '\\0' a",
        "head -c 9000 /dev/zero | tr '\\0' b >&2",
    )
    assert long["StandardOutputContent"] == "a" * 24000 and long["StandardErrorContent"] == "b" * 8000


def test_commands_see_no_aws_credentials(world, session, clock, ready_cloud9, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a-real-looking-secret")
    _, instance = ready_cloud9
    result = run(world, session, clock, instance["InstanceId"], "env | grep -c '^AWS_' || true")
    assert result["StandardOutputContent"] == "0\n"


def test_only_managed_instances_take_commands(world, session, clock):
    ssm, ec2, iam = session.client("ssm"), session.client("ec2"), session.client("iam")
    send = dict(DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]})
    with pytest.raises(
        ssm.exceptions.InvalidInstanceId, match=r"Instances \[\[i-0123456789abcdef0\]\] not in a valid state"
    ):
        ssm.send_command(InstanceIds=["i-0123456789abcdef0"], **send)

    bare = ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    iam.create_role(RoleName="ssm", AssumeRolePolicyDocument=SSM_ROLE_POLICY)
    iam.create_instance_profile(InstanceProfileName="ssm")
    with pytest.raises(iam.exceptions.NoSuchEntityException, match="The role with name ssm cannot be found"):
        iam.add_role_to_instance_profile(InstanceProfileName="ssm", RoleName="ssm")  # IAM's reads lag its writes
    clock.sleep(world.durations["iam.consistency"])
    iam.add_role_to_instance_profile(InstanceProfileName="ssm", RoleName="ssm")
    launch = dict(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": "ssm"})
    with pytest.raises(ec2.exceptions.ClientError, match="Invalid IAM Instance Profile name"):
        ec2.run_instances(**launch)  # EC2 does not see the new profile yet (issue 15)
    clock.sleep(world.durations["iam.propagation"])
    managed = ec2.run_instances(**launch)["Instances"][0]["InstanceId"]
    with pytest.raises(ssm.exceptions.InvalidInstanceId):
        ssm.send_command(InstanceIds=[managed], **send)  # SSM Agent not registered yet
    with pytest.raises(ssm.exceptions.InvalidInstanceId):  # nor is it described by id (issue 15)
        ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [managed]}])
    clock.sleep(world.durations["ssm.register"])
    [info] = ssm.describe_instance_information()["InstanceInformationList"]
    assert (info["InstanceId"], info["PingStatus"], info["IamRole"]) == (managed, "Online", "ssm")
    ssm.send_command(InstanceIds=[managed], **send)
    with pytest.raises(ssm.exceptions.InvalidInstanceId):
        ssm.send_command(InstanceIds=[bare], **send)  # no instance profile
    ec2.terminate_instances(InstanceIds=[managed])
    with pytest.raises(ssm.exceptions.InvalidInstanceId):
        ssm.send_command(InstanceIds=[managed], **send)


def test_cloud9_instance_is_managed_only_while_its_environment_is_ready(world, session, clock):
    create_ssm_iam(world)
    cloud9, ssm = session.client("cloud9"), session.client("ssm")
    env_id = cloud9.create_environment_ec2(
        name="lab", instanceType="t3.small", imageId="amazonlinux-2023-x86_64", connectionType="CONNECT_SSM"
    )["environmentId"]
    instance_id = cloud9_instance(session, env_id)["InstanceId"]
    target = [{"Key": "tag:aws:cloud9:environment", "Values": [env_id]}]
    send = dict(DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]})
    with pytest.raises(ssm.exceptions.InvalidInstanceId):
        ssm.send_command(Targets=target, **send)
    clock.sleep(world.durations["cloud9.create"])
    assert ssm.send_command(Targets=target, **send)["Command"]["InstanceIds"] == [instance_id]
    cloud9.delete_environment(environmentId=env_id)
    with pytest.raises(ssm.exceptions.InvalidInstanceId):
        ssm.send_command(InstanceIds=[instance_id], **send)


def test_other_documents_are_not_simulated(session, ready_cloud9):
    _, instance = ready_cloud9
    ssm = session.client("ssm")
    with pytest.raises(ssm.exceptions.InvalidDocument):
        ssm.send_command(
            InstanceIds=[instance["InstanceId"]],
            DocumentName="AWS-RunPowerShellScript",
            Parameters={"commands": ["dir"]},
        )


def test_a_terminated_instances_interface_holds_its_group_for_a_while(world, session, clock):
    """AWS keeps a terminated instance's network interface a while: its security group cannot
    be deleted yet (DependencyViolation), then can (issue 15)."""
    ec2 = session.client("ec2")
    group = ec2.create_security_group(GroupName="host", Description="host")["GroupId"]
    instance = ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, SecurityGroupIds=[group])[
        "Instances"
    ][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[instance])
    with pytest.raises(ec2.exceptions.ClientError, match="DependencyViolation"):
        ec2.delete_security_group(GroupId=group)
    clock.sleep(world.durations["ec2.eni_linger"])
    ec2.delete_security_group(GroupId=group)


def send(session, instance_id, command):
    return session.client("ssm").send_command(
        InstanceIds=[instance_id], DocumentName="AWS-RunShellScript", Parameters={"commands": [command]}
    )["Command"]["CommandId"]


def appeared(path, lines=1):
    """Wait (in real time: the commands are real processes) until `path` holds `lines` lines."""
    for _ in range(1000):
        if path.exists() and len(path.read_text().splitlines()) >= lines:
            return True
        time.sleep(0.01)
    return False


def test_an_instance_runs_five_commands_at_once_and_the_sixth_waits_for_a_worker(world, session, clock, ready_cloud9):
    """The SSM Agent's CommandWorkersLimit (5): a sixth command starts when one of five ends."""
    _, instance = ready_cloud9
    iid = instance["InstanceId"]
    home = Path(world.ssm.instance_home(iid))
    ssm = session.client("ssm")
    blockers = [
        send(session, iid, f"echo start-{n} >> log; until [ -f release-{n} ]; do sleep 0.02; done; echo end-{n} >> log")
        for n in range(1, 6)
    ]
    assert appeared(home / "log", 5)  # five run at once
    sixth = send(session, iid, "echo start-6 >> log")
    time.sleep(0.3)  # time enough for a sixth worker, were there one, to start it
    (home / "release-1").touch()
    clock.sleep(world.durations["ssm.command"])
    assert ssm.get_command_invocation(CommandId=blockers[0], InstanceId=iid)["Status"] == "Success"
    assert ssm.get_command_invocation(CommandId=sixth, InstanceId=iid)["Status"] == "Success"
    log = (home / "log").read_text().splitlines()
    assert sorted(log[:5]) == [f"start-{n}" for n in range(1, 6)] and log[5:] == ["end-1", "start-6"]
    for n in range(2, 6):
        (home / f"release-{n}").touch()
    assert {ssm.get_command_invocation(CommandId=c, InstanceId=iid)["Status"] for c in blockers} == {"Success"}


def test_cancel_command_stops_the_process_and_reports_it_cancelled(world, session, clock, ready_cloud9):
    _, instance = ready_cloud9
    iid = instance["InstanceId"]
    home = Path(world.ssm.instance_home(iid))
    ssm = session.client("ssm")
    running = send(session, iid, 'echo "$$" > pid; echo before; sleep 60; echo after')
    assert appeared(home / "pid")
    pid = int((home / "pid").read_text())
    clock.sleep(world.durations["ssm.invocation_delay"])
    assert ssm.get_command_invocation(CommandId=running, InstanceId=iid)["Status"] == "InProgress"
    assert ssm.cancel_command(CommandId=running, InstanceIds=[iid])["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert not alive(pid)
    assert ssm.get_command_invocation(CommandId=running, InstanceId=iid)["Status"] == "Cancelling"
    clock.sleep(world.durations["ssm.invocation_delay"])
    cancelled = ssm.get_command_invocation(CommandId=running, InstanceId=iid)
    assert (cancelled["Status"], cancelled["ResponseCode"], cancelled["StandardOutputContent"]) == (
        "Cancelled",
        -1,
        "before\n",
    )

    ended = send(session, iid, "echo done")
    clock.sleep(world.durations["ssm.command"])
    assert ssm.get_command_invocation(CommandId=ended, InstanceId=iid)["Status"] == "Success"
    ssm.cancel_command(CommandId=ended)  # an ended command stays as it ended
    assert ssm.get_command_invocation(CommandId=ended, InstanceId=iid)["Status"] == "Success"

    with pytest.raises(ssm.exceptions.InvalidCommandId):
        ssm.cancel_command(CommandId="00000000-0000-0000-0000-000000000000")
    with pytest.raises(ssm.exceptions.DuplicateInstanceId):
        ssm.cancel_command(CommandId=running, InstanceIds=[iid, iid])
    with pytest.raises(ssm.exceptions.InvalidInstanceId):
        ssm.cancel_command(CommandId=running, InstanceIds=["i-0123456789abcdef0"])


def test_a_killed_process_leaves_its_aws_folder_and_the_next_one_removes_it(world, tmp_path):
    """A process killed while it served the instances' `aws` cannot remove its folder in /tmp;
    the next process to make one removes it, and never the folder of one still running."""
    serve = "import sys, time; from ops.sim.hostcli import HostCli; print(HostCli(None).directory, flush=True); time.sleep(60)"
    killed, running = (
        subprocess.Popen([sys.executable, "-c", serve], stdout=subprocess.PIPE, text=True) for _ in range(2)
    )
    try:
        killed_folder, running_folder = killed.stdout.readline().strip(), running.stdout.readline().strip()
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert os.path.isdir(killed_folder) and os.path.isdir(running_folder)

        cli = HostCli(world)
        try:
            assert not os.path.exists(killed_folder)
            assert os.path.isdir(running_folder) and os.path.isdir(cli.directory)
        finally:
            cli.close()
        assert not os.path.exists(cli.directory)
    finally:
        running.kill()
        running.wait()
        killed.stdout.close()
        running.stdout.close()
        remove_abandoned_folders()

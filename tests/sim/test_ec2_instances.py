"""An instance's life as EC2 tells it: `pending` after the launch, `shutting-down` after the
termination, and the instance-state-name filter going by those states (moto skips both)."""

from ops.sim.world import SimWorld

IMAGE = "ami-0123456789abcdef0"


def state(ec2, instance_id):
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]


def ids_in(ec2, *names):
    filters = [{"Name": "instance-state-name", "Values": list(names)}]
    return [i["InstanceId"] for r in ec2.describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]]


def test_an_instance_is_pending_then_running_then_shutting_down_then_terminated(clock):
    with SimWorld(clock) as world:
        ec2 = world.session().client("ec2")
        instance_id = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        assert state(ec2, instance_id) == {"Code": 0, "Name": "pending"}
        assert ids_in(ec2, "pending") == [instance_id] and ids_in(ec2, "running") == []
        clock.sleep(world.durations["ec2.boot"])
        assert state(ec2, instance_id) == {"Code": 16, "Name": "running"}
        assert ids_in(ec2, "pending") == [] and ids_in(ec2, "running") == [instance_id]

        [change] = ec2.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"]
        assert change["CurrentState"]["Name"] == "shutting-down" and change["PreviousState"]["Name"] == "running"
        assert state(ec2, instance_id)["Name"] == "shutting-down"
        assert ids_in(ec2, "shutting-down") == [instance_id]
        assert ids_in(ec2, "pending", "running", "stopping", "stopped") == []
        clock.sleep(world.durations["ec2.shutdown"] / 2)
        [again] = ec2.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"]  # asked twice
        assert again["CurrentState"]["Name"] == again["PreviousState"]["Name"] == "shutting-down"
        clock.sleep(world.durations["ec2.shutdown"] / 2)
        assert state(ec2, instance_id) == {"Code": 48, "Name": "terminated"}
        assert ids_in(ec2, "terminated") == [instance_id] and ids_in(ec2, "shutting-down") == []


def test_an_instance_terminated_while_booting_was_pending(clock):
    with SimWorld(clock) as world:
        ec2 = world.session().client("ec2")
        instance_id = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        [change] = ec2.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"]
        assert change["PreviousState"]["Name"] == "pending"


def test_a_state_filtered_describe_of_an_unknown_instance_is_refused_as_without_the_filter(clock):
    """The state filter is judged by the simulator, on moto's unfiltered answer; a query moto
    refuses (an instance that does not exist) is refused the same, filter or not."""
    import pytest
    from botocore.exceptions import ClientError

    with SimWorld(clock) as world:
        ec2 = world.session().client("ec2")
        running = [{"Name": "instance-state-name", "Values": ["running"]}]
        for filters in ([], running):
            with pytest.raises(ClientError) as refused:
                ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"], Filters=filters)
            assert refused.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"

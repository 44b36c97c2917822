"""IAM in the simulated account is eventually consistent, as IAM is: a role or instance profile
it just made is not found by IAM's own reads for `iam.consistency` seconds, and not seen by
EC2 and Cloud9 for `iam.propagation` seconds (Cloud9's side: test_cloud9.py)."""

import pytest

from .conftest import SSM_ROLE_POLICY


def test_reads_of_a_new_role_and_profile_answer_no_such_entity_for_a_moment(world, session, clock):
    iam = session.client("iam")
    iam.create_role(RoleName="lab", AssumeRolePolicyDocument=SSM_ROLE_POLICY)
    iam.create_instance_profile(InstanceProfileName="lab")
    for read, message in (
        (lambda: iam.get_role(RoleName="lab"), "The role with name lab cannot be found"),
        (lambda: iam.list_attached_role_policies(RoleName="lab"), "The role with name lab cannot be found"),
        (lambda: iam.list_role_policies(RoleName="lab"), "The role with name lab cannot be found"),
        (lambda: iam.list_instance_profiles_for_role(RoleName="lab"), "The role with name lab cannot be found"),
        (lambda: iam.get_instance_profile(InstanceProfileName="lab"), "Instance Profile lab cannot be found"),
        (
            lambda: iam.add_role_to_instance_profile(InstanceProfileName="lab", RoleName="lab"),
            "The role with name lab cannot be found",
        ),
    ):
        with pytest.raises(iam.exceptions.NoSuchEntityException, match=message):
            read()
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException):  # IAM itself knows it exists
        iam.create_role(RoleName="lab", AssumeRolePolicyDocument=SSM_ROLE_POLICY)

    clock.sleep(world.durations["iam.consistency"])
    assert iam.get_role(RoleName="lab")["Role"]["RoleName"] == "lab"
    iam.add_role_to_instance_profile(InstanceProfileName="lab", RoleName="lab")
    assert [r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName="lab")["InstanceProfile"]["Roles"]] == [
        "lab"
    ]


def test_ec2_sees_a_new_instance_profile_only_after_iam_propagation(world, session, clock):
    iam, ec2 = session.client("iam"), session.client("ec2")
    iam.create_instance_profile(InstanceProfileName="lab")
    launch = dict(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": "lab"})
    clock.sleep(world.durations["iam.propagation"] - 1)
    with pytest.raises(ec2.exceptions.ClientError, match="Invalid IAM Instance Profile name"):
        ec2.run_instances(**launch)
    clock.sleep(1)
    assert ec2.run_instances(**launch)["Instances"][0]["IamInstanceProfile"]["Arn"].endswith("/lab")


def test_a_role_made_again_lags_again(world, session, clock):
    iam = session.client("iam")
    iam.create_role(RoleName="lab", AssumeRolePolicyDocument=SSM_ROLE_POLICY)
    clock.sleep(world.durations["iam.consistency"])
    iam.delete_role(RoleName="lab")
    iam.create_role(RoleName="lab", AssumeRolePolicyDocument=SSM_ROLE_POLICY)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName="lab")

import pytest
from botocore.exceptions import ParamValidationError

from .conftest import cloud9_instance, create_ssm_iam


def create(session, **overrides):
    params = dict(
        name="lab",
        instanceType="t3.small",
        imageId="amazonlinux-2023-x86_64",
        connectionType="CONNECT_SSM",
        automaticStopTimeMinutes=30,
    )
    params.update(overrides)
    return session.client("cloud9").create_environment_ec2(**params)["environmentId"]


def lifecycle(cloud9, env_id):
    return cloud9.describe_environments(environmentIds=[env_id])["environments"][0]["lifecycle"]


def security_group(session, group_id):
    groups = session.client("ec2").describe_security_groups(Filters=[{"Name": "group-id", "Values": [group_id]}])[
        "SecurityGroups"
    ]
    return groups[0] if groups else None


def test_environment_lifecycle_with_its_instance_and_security_group(world, session, clock):
    create_ssm_iam(world)
    cloud9 = session.client("cloud9")
    env_id = create(session, tags=[{"Key": "project", "Value": "ops"}])

    assert cloud9.list_environments()["environmentIds"] == [env_id]
    assert lifecycle(cloud9, env_id) == {"status": "CREATING"}
    assert cloud9.describe_environment_status(environmentId=env_id)["status"] == "creating"
    env = cloud9.describe_environments(environmentIds=[env_id])["environments"][0]
    assert env["arn"] == f"arn:aws:cloud9:us-east-1:123456789012:environment:{env_id}"
    assert env["connectionType"] == "CONNECT_SSM" and env["type"] == "ec2"

    instance = cloud9_instance(session, env_id)
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["Name"] == f"aws-cloud9-lab-{env_id}" and tags["project"] == "ops" and "aws:cloud9:owner" in tags
    assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/cloud9/AWSCloud9SSMInstanceProfile")
    [group] = instance["SecurityGroups"]
    assert group["GroupName"].startswith(f"aws-cloud9-lab-{env_id}-InstanceSecurityGroup-")
    assert security_group(session, group["GroupId"])["IpPermissions"] == []

    clock.sleep(world.durations["cloud9.create"] - 1)
    assert cloud9.describe_environment_status(environmentId=env_id)["status"] == "creating"
    clock.sleep(1)
    assert cloud9.describe_environment_status(environmentId=env_id)["status"] == "ready"
    assert lifecycle(cloud9, env_id) == {"status": "CREATED"}

    cloud9.delete_environment(environmentId=env_id)
    assert cloud9.describe_environment_status(environmentId=env_id)["status"] == "deleting"
    assert cloud9_instance(session, env_id)["State"]["Name"] == "terminated"
    clock.sleep(world.durations["cloud9.delete"])
    with pytest.raises(cloud9.exceptions.NotFoundException):
        cloud9.describe_environments(environmentIds=[env_id])
    assert security_group(session, group["GroupId"]) is None
    assert cloud9.list_environments()["environmentIds"] == []


def test_connect_ssm_needs_the_role_and_instance_profile_once_cloud9_sees_them(world, session, clock):
    cloud9 = session.client("cloud9")
    no_profile = "Instance profile AWSCloud9SSMInstanceProfile does not exist in this account"
    with pytest.raises(cloud9.exceptions.BadRequestException, match=no_profile):
        create(session)
    iam = session.client("iam")
    iam.create_instance_profile(InstanceProfileName="AWSCloud9SSMInstanceProfile", Path="/cloud9/")
    with pytest.raises(cloud9.exceptions.BadRequestException, match=no_profile):
        create(session)  # made a moment ago: Cloud9 does not see it yet (IAM propagation)
    clock.sleep(world.durations["iam.propagation"])
    with pytest.raises(cloud9.exceptions.BadRequestException, match="AWSCloud9SSMAccessRole"):
        create(session)
    iam.create_role(RoleName="AWSCloud9SSMAccessRole", Path="/service-role/", AssumeRolePolicyDocument="{}")
    clock.sleep(world.durations["iam.propagation"] - 1)
    with pytest.raises(cloud9.exceptions.BadRequestException, match="AWSCloud9SSMAccessRole"):
        create(session)
    assert cloud9.list_environments()["environmentIds"] == []
    assert session.client("ec2").describe_instances()["Reservations"] == []
    clock.sleep(1)
    env_id = create(session)
    assert cloud9.list_environments()["environmentIds"] == [env_id]


def test_connect_ssh_needs_no_iam_and_gets_no_instance_profile(session):
    env_id = create(session, connectionType="CONNECT_SSH")
    assert "IamInstanceProfile" not in cloud9_instance(session, env_id)


@pytest.mark.parametrize(
    "image_id",
    ["ami-0abcdef1234567890", "ubuntu-18.04-x86_64", "resolve:ssm:/aws/service/cloud9/amis/amazonlinux-1-x86_64"],
)
def test_image_id_must_be_a_supported_alias_or_ssm_path(world, session, image_id):
    create_ssm_iam(world)
    with pytest.raises(session.client("cloud9").exceptions.BadRequestException):
        create(session, imageId=image_id)


def test_image_id_is_required_by_the_api_model(session):
    with pytest.raises(ParamValidationError):
        session.client("cloud9").create_environment_ec2(name="lab", instanceType="t3.small")


def test_ssm_path_image_and_explicit_subnet(world, session):
    create_ssm_iam(world)
    subnet = session.client("ec2").describe_subnets()["Subnets"][-1]
    env_id = create(
        session, imageId="resolve:ssm:/aws/service/cloud9/amis/ubuntu-22.04-x86_64", subnetId=subnet["SubnetId"]
    )
    assert cloud9_instance(session, env_id)["SubnetId"] == subnet["SubnetId"]
    with pytest.raises(session.client("cloud9").exceptions.BadRequestException, match="subnet"):
        create(session, subnetId="subnet-0123456789abcdef0")


def test_deletion_fails_while_another_group_references_the_instance_group(world, session, clock):
    create_ssm_iam(world)
    cloud9, ec2 = session.client("cloud9"), session.client("ec2")
    env_id = create(session)
    clock.sleep(world.durations["cloud9.create"])
    cloud9_group = cloud9_instance(session, env_id)["SecurityGroups"][0]["GroupId"]
    default_group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    rule = [{"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379, "UserIdGroupPairs": [{"GroupId": cloud9_group}]}]
    ec2.authorize_security_group_ingress(GroupId=default_group, IpPermissions=rule)

    cloud9.delete_environment(environmentId=env_id)
    clock.sleep(world.durations["cloud9.delete"])
    failed = lifecycle(cloud9, env_id)
    assert failed["status"] == "DELETE_FAILED"
    assert "DependencyViolation" in failed["reason"] and failed["failureResource"].endswith(cloud9_group)
    assert cloud9.describe_environment_status(environmentId=env_id)["status"] == "error"
    assert security_group(session, cloud9_group) is not None
    with pytest.raises(ec2.exceptions.ClientError, match="DependencyViolation"):
        ec2.delete_security_group(GroupId=cloud9_group)

    ec2.revoke_security_group_ingress(GroupId=default_group, IpPermissions=rule)
    cloud9.delete_environment(environmentId=env_id)
    clock.sleep(world.durations["cloud9.delete"])
    with pytest.raises(cloud9.exceptions.NotFoundException):
        cloud9.describe_environments(environmentIds=[env_id])
    assert security_group(session, cloud9_group) is None


def test_tags(world, session):
    create_ssm_iam(world)
    cloud9 = session.client("cloud9")
    env_id = create(session, tags=[{"Key": "a", "Value": "1"}])
    arn = cloud9.describe_environments(environmentIds=[env_id])["environments"][0]["arn"]
    cloud9.tag_resource(ResourceARN=arn, Tags=[{"Key": "b", "Value": "2"}])
    cloud9.untag_resource(ResourceARN=arn, TagKeys=["a"])
    assert cloud9.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(cloud9.exceptions.BadRequestException):
        cloud9.tag_resource(ResourceARN=arn, Tags=[{"Key": "aws:cloud9:owner", "Value": "x"}])
    with pytest.raises(cloud9.exceptions.NotFoundException):
        cloud9.list_tags_for_resource(ResourceARN=arn[:-4] + "0000")


def test_unknown_environment(session):
    cloud9 = session.client("cloud9")
    with pytest.raises(cloud9.exceptions.NotFoundException):
        cloud9.describe_environment_status(environmentId="0123456789abcdef0123456789abcdef")
    with pytest.raises(cloud9.exceptions.NotFoundException):
        cloud9.delete_environment(environmentId="0123456789abcdef0123456789abcdef")

"""Cache subnet groups in the simulated ElastiCache (ops/sim/cache_subnet_groups.py), through
real boto3 clients: AWS's validation of CreateCacheSubnetGroup, describe and its pages, the
`default` group, deletes refused while a cache (a deleting one too) uses the group, tags by
ARN, caches placed in a group's VPC, in-transit encryption refused without a group, a lost
answer, and a persistent account that keeps its groups."""

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from ops.aws import Aws
from ops.clock import VirtualClock
from ops.sim.faults import FaultPlan
from ops.sim.world import SimWorld

ARN_PREFIX = "arn:aws:elasticache:us-east-1:123456789012"
MODEL_RULE = "If you enable in-transit encryption, you must also specify a value for CacheSubnetGroup."


def error_of(call):
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]


def default_subnets(session):
    ec2 = session.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    return vpc, sorted(s["SubnetId"] for s in subnets)


def other_vpc(session):
    """A second VPC with two subnets and its own default security group: (vpc id, subnet ids)."""
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{n}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for n, zone in ((1, "us-east-1b"), (2, "us-east-1c"))
    ]
    return vpc, subnets


def create(session, name="lab", subnet_ids=None, **extra):
    return session.client("elasticache").create_cache_subnet_group(
        CacheSubnetGroupName=name,
        CacheSubnetGroupDescription="lab subnets",
        SubnetIds=default_subnets(session)[1][:2] if subnet_ids is None else subnet_ids,
        **extra,
    )["CacheSubnetGroup"]


def replication_group(session, group_id="secure", **extra):
    return session.client("elasticache").create_replication_group(
        ReplicationGroupId=group_id,
        ReplicationGroupDescription="lab",
        Engine="valkey",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=1,
        **extra,
    )["ReplicationGroup"]


def test_a_group_is_made_in_its_subnets_vpc_and_described_by_name_in_lowercase(session):
    vpc, subnets = default_subnets(session)
    made = create(session, "Lab-Subnets", subnets[:2], Tags=[{"Key": "team", "Value": "ops"}])
    assert made["CacheSubnetGroupName"] == "lab-subnets" and made["VpcId"] == vpc
    assert made["ARN"] == f"{ARN_PREFIX}:subnetgroup:lab-subnets"
    assert [s["SubnetIdentifier"] for s in made["Subnets"]] == subnets[:2]
    assert all(s["SubnetAvailabilityZone"]["Name"].startswith("us-east-1") for s in made["Subnets"])
    elasticache = session.client("elasticache")
    [described] = elasticache.describe_cache_subnet_groups(CacheSubnetGroupName="LAB-subnets")["CacheSubnetGroups"]
    assert described == made
    listed = elasticache.describe_cache_subnet_groups()["CacheSubnetGroups"]
    assert [g["CacheSubnetGroupName"] for g in listed] == ["default", "lab-subnets"]
    default = listed[0]
    assert default["VpcId"] == vpc and sorted(s["SubnetIdentifier"] for s in default["Subnets"]) == subnets


@pytest.mark.parametrize("name", ["1lab", "lab-", "la--b", "la_b", "lab.subnets", "a" * 256])
def test_names_aws_refuses(session, name):
    error = error_of(lambda: create(session, name))
    assert error["Code"] == "InvalidParameterValue"
    assert error["Message"].startswith("The parameter CacheSubnetGroupName is not a valid identifier.")


def test_a_name_of_255_characters_is_taken(session):
    assert create(session, "a" * 255)["CacheSubnetGroupName"] == "a" * 255


def test_subnets_aws_refuses(session):
    vpc, subnets = default_subnets(session)
    _, elsewhere = other_vpc(session)
    missing = error_of(lambda: create(session, subnet_ids=[subnets[0], "subnet-0123456789abcdef0"]))
    assert missing == {
        **missing,
        "Code": "InvalidParameterValue",
        "Message": f"Some input subnets in :[{subnets[0]}, subnet-0123456789abcdef0] are invalid.",
    }
    two_vpcs = error_of(lambda: create(session, subnet_ids=[subnets[0], elsewhere[0]]))
    assert two_vpcs["Code"] == "InvalidSubnet"
    assert two_vpcs["Message"] == f"Subnets {subnets[0]} and {elsewhere[0]} are not in the same VPC."
    assert error_of(lambda: create(session, subnet_ids=[]))["Message"] == "The parameter SubnetIds must be provided."
    too_many = error_of(lambda: create(session, subnet_ids=[f"subnet-{n:017x}" for n in range(21)]))
    assert too_many["Code"] == "CacheSubnetQuotaExceededFault"
    names = [
        g["CacheSubnetGroupName"]
        for g in session.client("elasticache").describe_cache_subnet_groups()["CacheSubnetGroups"]
    ]
    assert names == ["default"]  # nothing was made


def test_a_name_in_use_is_refused_default_included(session):
    create(session, "lab")
    elasticache = session.client("elasticache")
    for name in ("lab", "LAB", "default"):
        with pytest.raises(elasticache.exceptions.CacheSubnetGroupAlreadyExistsFault, match="already exists"):
            create(session, name)


def test_unknown_groups_are_not_found_by_describe_delete_tags_or_caches(session):
    elasticache = session.client("elasticache")
    with pytest.raises(elasticache.exceptions.CacheSubnetGroupNotFoundFault, match="Cache subnet group nope"):
        elasticache.describe_cache_subnet_groups(CacheSubnetGroupName="nope")
    with pytest.raises(elasticache.exceptions.CacheSubnetGroupNotFoundFault):
        elasticache.delete_cache_subnet_group(CacheSubnetGroupName="nope")
    with pytest.raises(elasticache.exceptions.CacheSubnetGroupNotFoundFault):
        elasticache.list_tags_for_resource(ResourceName=f"{ARN_PREFIX}:subnetgroup:nope")
    with pytest.raises(elasticache.exceptions.CacheSubnetGroupNotFoundFault):
        replication_group(session, CacheSubnetGroupName="nope", TransitEncryptionEnabled=True)
    with pytest.raises(elasticache.exceptions.CacheSubnetGroupNotFoundFault):
        elasticache.create_cache_cluster(
            CacheClusterId="c1", Engine="redis", CacheNodeType="cache.t3.micro", CacheSubnetGroupName="nope"
        )
    assert elasticache.describe_replication_groups()["ReplicationGroups"] == []
    assert elasticache.describe_cache_clusters()["CacheClusters"] == []


def test_the_default_group_cannot_be_deleted(session):
    error = error_of(lambda: session.client("elasticache").delete_cache_subnet_group(CacheSubnetGroupName="default"))
    assert error["Code"] == "InvalidParameterValue" and "default is reserved" in error["Message"]


def test_tags_by_arn(session):
    create(session, "lab", Tags=[{"Key": "a", "Value": "1"}])
    elasticache = session.client("elasticache")
    arn = f"{ARN_PREFIX}:subnetgroup:lab"
    elasticache.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "b", "Value": "2"}])
    elasticache.remove_tags_from_resource(ResourceName=arn, TagKeys=["a"])
    assert elasticache.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(elasticache.exceptions.TagNotFoundFault):
        elasticache.remove_tags_from_resource(ResourceName=arn, TagKeys=["a"])
    fifty = [{"Key": f"k{n}", "Value": "v"} for n in range(50)]
    with pytest.raises(elasticache.exceptions.TagQuotaPerResourceExceeded):
        elasticache.add_tags_to_resource(ResourceName=arn, Tags=fifty)  # 51 with b
    with pytest.raises(elasticache.exceptions.TagQuotaPerResourceExceeded):
        create(session, "other", Tags=fifty + [{"Key": "one-more", "Value": "v"}])
    assert elasticache.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "b", "Value": "2"}]


def test_ops_extend_retags_a_subnet_group_by_its_arn(world, session, clock):
    from ops.steps.subnet_group import SUBNET_GROUP_KIND

    create(session, "lab")
    moved = [{"Key": "ops:expires", "Value": "2026-12-03T20:00:00Z"}]
    SUBNET_GROUP_KIND.retag.put(Aws(session, world.region, clock, dry_run=True), "lab", moved)
    tags = session.client("elasticache").list_tags_for_resource(ResourceName=f"{ARN_PREFIX}:subnetgroup:lab")
    assert tags["TagList"] == moved


def test_listings_come_in_pages(session):
    for n in range(24):
        create(session, f"lab-{n:02d}")
    elasticache = session.client("elasticache")
    first = elasticache.describe_cache_subnet_groups(MaxRecords=20)
    rest = elasticache.describe_cache_subnet_groups(MaxRecords=20, Marker=first["Marker"])
    names = [g["CacheSubnetGroupName"] for page in (first, rest) for g in page["CacheSubnetGroups"]]
    assert names == ["default"] + [f"lab-{n:02d}" for n in range(24)] and "Marker" not in rest
    with pytest.raises(elasticache.exceptions.InvalidParameterValueException, match="MaxRecords"):
        elasticache.describe_cache_subnet_groups(MaxRecords=101)


def test_in_transit_encryption_without_a_subnet_group_is_refused_quoting_the_model(session):
    error = error_of(lambda: replication_group(session, TransitEncryptionEnabled=True))
    assert error["Code"] == "InvalidParameterCombination" and MODEL_RULE in error["Message"]
    assert session.client("elasticache").describe_replication_groups()["ReplicationGroups"] == []
    assert replication_group(session, TransitEncryptionEnabled=False)["Status"] == "creating"  # without TLS: fine


def test_a_cache_in_a_group_of_another_vpc_lands_there(session):
    elasticache, ec2 = session.client("elasticache"), session.client("ec2")
    vpc, subnets = other_vpc(session)
    create(session, "elsewhere", subnets)
    vpc_default = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]["GroupId"]
    default_vpc_group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    with pytest.raises(elasticache.exceptions.InvalidParameterValueException, match=f"does not belong to VPC {vpc}"):
        replication_group(
            session,
            CacheSubnetGroupName="elsewhere",
            TransitEncryptionEnabled=True,
            SecurityGroupIds=[default_vpc_group],
        )
    replication_group(session, CacheSubnetGroupName="elsewhere", TransitEncryptionEnabled=True)
    [member] = elasticache.describe_cache_clusters(CacheClusterId="secure-001")["CacheClusters"]
    assert member["CacheSubnetGroupName"] == "elsewhere"
    assert member["SecurityGroups"] == [{"SecurityGroupId": vpc_default, "Status": "active"}]
    assert member["PreferredAvailabilityZone"] == "us-east-1b"  # the first of its subnets' zones
    plain = elasticache.create_cache_cluster(CacheClusterId="plain", Engine="redis", CacheNodeType="cache.t3.micro")
    assert plain["CacheCluster"]["CacheSubnetGroupName"] == "default"


@pytest.mark.parametrize("kind", ["cluster", "replication group"])
def test_a_group_is_in_use_until_its_cache_is_gone_deleting_included(world, session, clock, kind):
    elasticache = session.client("elasticache")
    create(session, "lab")
    if kind == "cluster":
        elasticache.create_cache_cluster(
            CacheClusterId="c1", Engine="redis", CacheNodeType="cache.t3.micro", CacheSubnetGroupName="lab"
        )
        prefix = "elasticache"
    else:
        replication_group(session, "g1", CacheSubnetGroupName="lab", TransitEncryptionEnabled=True)
        prefix = "elasticache.replication_group"
    in_use = error_of(lambda: elasticache.delete_cache_subnet_group(CacheSubnetGroupName="lab"))
    assert in_use == {
        **in_use,
        "Code": "CacheSubnetGroupInUse",
        "Message": "Cache subnet group lab is currently in use by a cache cluster.",
    }
    clock.sleep(world.durations[f"{prefix}.create"])
    if kind == "cluster":
        elasticache.delete_cache_cluster(CacheClusterId="c1")
    else:
        elasticache.delete_replication_group(ReplicationGroupId="g1")
    clock.sleep(world.durations[f"{prefix}.delete"] - 1)  # still deleting: still in use
    with pytest.raises(elasticache.exceptions.CacheSubnetGroupInUse):
        elasticache.delete_cache_subnet_group(CacheSubnetGroupName="lab")
    clock.sleep(1)
    elasticache.delete_cache_subnet_group(CacheSubnetGroupName="lab")
    with pytest.raises(elasticache.exceptions.CacheSubnetGroupNotFoundFault):
        elasticache.describe_cache_subnet_groups(CacheSubnetGroupName="lab")


def test_a_lost_answer_leaves_the_group_and_the_retry_meets_it(clock):
    with SimWorld(clock) as world:
        session = world.session()
        subnets = default_subnets(session)[1][:1]
        world.faults = FaultPlan(seed=1, lost_answer=1.0, services={"elasticache"})
        with pytest.raises(ConnectionClosedError):
            create(session, "lab", subnets)
        world.faults = None
        elasticache = session.client("elasticache")
        assert elasticache.describe_cache_subnet_groups(CacheSubnetGroupName="lab")["CacheSubnetGroups"]
        with pytest.raises(elasticache.exceptions.CacheSubnetGroupAlreadyExistsFault):
            create(session, "lab", subnets)


def test_a_persistent_account_keeps_its_groups_for_the_next_world(tmp_path):
    home = tmp_path / "account"
    try:
        with SimWorld(VirtualClock(), home=home) as first:
            made = create(first.session(), "kept", Tags=[{"Key": "ops:lab", "Value": "lab"}])
        with SimWorld(VirtualClock(), home=home) as second:
            session = second.session()
            elasticache = session.client("elasticache")
            [found] = elasticache.describe_cache_subnet_groups(CacheSubnetGroupName="kept")["CacheSubnetGroups"]
            assert found == made
            assert elasticache.list_tags_for_resource(ResourceName=made["ARN"])["TagList"] == [
                {"Key": "ops:lab", "Value": "lab"}
            ]
            replication_group(session, CacheSubnetGroupName="kept", TransitEncryptionEnabled=True)
        with SimWorld(VirtualClock(), home=home) as third:
            with pytest.raises(ClientError, match="CacheSubnetGroupInUse"):
                third.session().client("elasticache").delete_cache_subnet_group(CacheSubnetGroupName="kept")
    finally:
        SimWorld.destroy(home)


def test_every_error_code_the_fake_answers_is_one_the_model_lists_for_the_operation():
    """botocore's model of the three operations (InvalidParameterValue, the fake's other
    answer to them, is one of ElastiCache's common errors, on every operation)."""
    import botocore.session

    from ops.sim import cache_subnet_groups as fake
    from ops.sim.elasticache_rules import TagQuotaPerResourceExceeded

    model = botocore.session.get_session().get_service_model("elasticache")
    listed = {
        op: {shape.metadata["error"]["code"] for shape in model.operation_model(op).error_shapes}
        for op in ("CreateCacheSubnetGroup", "DescribeCacheSubnetGroups", "DeleteCacheSubnetGroup")
    }
    answered = {
        "CreateCacheSubnetGroup": [
            fake.CacheSubnetGroupAlreadyExists,
            fake.CacheSubnetGroupQuotaExceeded,
            fake.CacheSubnetQuotaExceeded,
            fake.InvalidSubnet,
            TagQuotaPerResourceExceeded,
        ],
        "DescribeCacheSubnetGroups": [fake.CacheSubnetGroupNotFound],
        "DeleteCacheSubnetGroup": [fake.CacheSubnetGroupInUse, fake.CacheSubnetGroupNotFound],
    }
    for op, errors in answered.items():
        assert {error.code for error in errors} <= listed[op], op

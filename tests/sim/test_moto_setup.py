"""moto as the simulator sets it up (ops/sim/moto_setup.py) answers exactly as moto does,
only faster: the same responses with the serializer's aliases cached, the AWS managed
policies in the simulated partition."""

import boto3
import pytest
from moto import mock_aws
from moto.core import serialize

from ops.demo.seed import load_seed
from ops.demo.table import ReviewTable, table_definition
from ops.sim import moto_setup


def answers(session_calls):
    """What each call answers, without the per-request metadata."""
    with mock_aws(config=moto_setup.configure(False)):
        results = []
        for call in session_calls:
            answer = call()
            answer.pop("ResponseMetadata", None)
            results.append(answer)
        return results


def lab_calls():
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    iam = boto3.client("iam", region_name="us-east-1")
    table = "reviews"

    def seeded():
        ddb.create_table(TableName=table, **table_definition())
        return {"items": load_seed(ddb, table)}

    role = '{"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
    return [
        seeded,
        lambda: ddb.query(
            TableName=table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": "RESTAURANT#The Vineyard"}},
        ),
        lambda: ddb.scan(TableName=table, Limit=7),
        lambda: ddb.describe_table(TableName=table),
        lambda: {"summary": repr(ReviewTable(ddb, table).fetch_summary("The Vineyard"))},
        lambda: {"vpcs": len(ec2.describe_vpcs()["Vpcs"])},
        lambda: ec2.describe_security_groups(GroupNames=["default"]),
        lambda: iam.create_role(RoleName="r", AssumeRolePolicyDocument=role),
        lambda: iam.get_role(RoleName="r"),
    ]


def comparable(value):
    """Without what differs between any two accounts: dates, and the random ids and ARNs."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if not (hasattr(v, "tzinfo") or k.endswith(("Id", "Arn")))}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def test_responses_are_those_of_moto_unchanged(monkeypatch):
    fast = answers(lab_calls())
    monkeypatch.setattr(serialize.ResponseSerializer, "get_value", moto_setup._unpatched_get_value)
    monkeypatch.setattr(moto_setup, "configure", lambda managed: {"iam": {"load_aws_managed_policies": managed}})
    plain = answers(lab_calls())
    assert comparable(fast) == comparable(plain)
    assert fast[1]["Count"] > 1 and fast[1]["Items"][0]["PK"] == {"S": "RESTAURANT#The Vineyard"}


@pytest.mark.managed_policies
def test_managed_policies_are_in_the_simulated_partition_only():
    with mock_aws(config=moto_setup.configure(True)):
        policy = boto3.client("iam", region_name="us-east-1").get_policy(
            PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
        )["Policy"]
        assert policy["PolicyName"] == "AmazonSSMManagedInstanceCore"
        china = boto3.client("iam", region_name="cn-north-1")
        with pytest.raises(china.exceptions.NoSuchEntityException):
            china.get_policy(PolicyArn="arn:aws-cn:iam::aws:policy/AmazonSSMManagedInstanceCore")

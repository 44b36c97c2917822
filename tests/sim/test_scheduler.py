"""The EventBridge Scheduler fake: groups, one-time schedules, and their universal targets
run against the simulated account on its clock."""

import json
import time

import pytest
from botocore.exceptions import ClientError

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def at(world, seconds_from_now: float) -> str:
    return "at(" + time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(world.calendar() + seconds_from_now)) + ")"


def make_table(session, name="t1"):
    session.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def make_role(session, trust=TRUST):
    return session.client("iam").create_role(RoleName="runner", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]


def schedule(role, expression, target="arn:aws:scheduler:::aws-sdk:dynamodb:deleteTable", **input_):
    return dict(
        Name="s1",
        GroupName="g1",
        ScheduleExpression=expression,
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={"Arn": target, "RoleArn": role, "Input": json.dumps(input_ or {"TableName": "t1"})},
    )


def code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def test_a_due_schedule_deletes_its_target_and_itself(world, session, clock):
    make_table(session)
    role = make_role(session)
    scheduler = session.client("scheduler")
    scheduler.create_schedule_group(Name="g1", Tags=[{"Key": "ops:lab", "Value": "x"}])
    clock.sleep(10)  # past IAM's propagation of the new role
    scheduler.create_schedule(**schedule(role, at(world, 60)))
    clock.sleep(50)
    assert session.client("dynamodb").list_tables()["TableNames"] == ["t1"]  # not due yet
    clock.sleep(11)
    assert session.client("dynamodb").list_tables()["TableNames"] == []
    assert scheduler.list_schedules(GroupName="g1")["Schedules"] == []  # ActionAfterCompletion: DELETE


def test_a_new_role_is_refused_until_iam_has_propagated_it(world, session, clock):
    role = make_role(session)
    scheduler = session.client("scheduler")
    scheduler.create_schedule_group(Name="g1")
    with pytest.raises(ClientError) as refused:
        scheduler.create_schedule(**schedule(role, at(world, 600)))
    assert code(refused) == "ValidationException" and "assume the role" in str(refused.value)
    clock.sleep(world.durations["iam.propagation"])
    scheduler.create_schedule(**schedule(role, at(world, 600)))


def test_a_role_that_does_not_trust_the_scheduler_is_refused(world, session, clock):
    untrusting = {**TRUST, "Statement": [{**TRUST["Statement"][0], "Principal": {"Service": "ec2.amazonaws.com"}}]}
    role = make_role(session, untrusting)
    session.client("scheduler").create_schedule_group(Name="g1")
    clock.sleep(10)
    with pytest.raises(ClientError) as refused:
        session.client("scheduler").create_schedule(**schedule(role, at(world, 600)))
    assert code(refused) == "ValidationException"


def test_names_groups_and_expressions_are_checked_as_aws_does(world, session, clock):
    scheduler = session.client("scheduler")
    role = make_role(session)
    clock.sleep(10)
    with pytest.raises(ClientError) as missing:
        scheduler.create_schedule(**schedule(role, at(world, 60)))
    assert code(missing) == "ResourceNotFoundException"
    scheduler.create_schedule_group(Name="g1")
    with pytest.raises(ClientError) as twice:
        scheduler.create_schedule_group(Name="g1")
    assert code(twice) == "ConflictException"
    with pytest.raises(ClientError) as bad_name:
        scheduler.create_schedule_group(Name="lab/../x")
    assert code(bad_name) == "ValidationException"
    with pytest.raises(ClientError) as rate:
        scheduler.create_schedule(**schedule(role, "rate(5 minutes)"))
    assert code(rate) == "ValidationException"
    scheduler.create_schedule(**schedule(role, at(world, 60)))
    with pytest.raises(ClientError) as again:
        scheduler.create_schedule(**schedule(role, at(world, 60)))
    assert code(again) == "ConflictException"
    arn = scheduler.get_schedule(Name="s1", GroupName="g1")["Arn"]
    with pytest.raises(ClientError) as untaggable:  # only schedule groups carry tags
        scheduler.tag_resource(ResourceArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    assert code(untaggable) == "ResourceNotFoundException"


def test_a_target_whose_input_the_real_api_would_refuse_deletes_nothing(world, session, clock):
    make_table(session)
    role = make_role(session)
    scheduler = session.client("scheduler")
    scheduler.create_schedule_group(Name="g1")
    clock.sleep(10)
    params = schedule(role, at(world, 60), tableName="t1")  # as-modelled names are PascalCase: TableName
    params["ActionAfterCompletion"] = "NONE"
    scheduler.create_schedule(**params)
    clock.sleep(61)
    assert session.client("dynamodb").list_tables()["TableNames"] == ["t1"]
    assert "TableName" in world.scheduler.schedules["g1/s1"]["ops_error"]


def test_deleting_a_group_deletes_its_schedules_after_a_while(world, session, clock):
    make_table(session)
    role = make_role(session)
    scheduler = session.client("scheduler")
    scheduler.create_schedule_group(Name="g1")
    clock.sleep(10)
    scheduler.create_schedule(**schedule(role, at(world, 3600)))
    scheduler.delete_schedule_group(Name="g1")
    assert scheduler.get_schedule_group(Name="g1")["State"] == "DELETING"
    with pytest.raises(ClientError) as deleting:
        scheduler.create_schedule(**{**schedule(role, at(world, 60)), "Name": "s2"})
    assert code(deleting) == "ResourceNotFoundException"
    clock.sleep(world.durations["scheduler.group_delete"])
    with pytest.raises(ClientError) as gone:
        scheduler.get_schedule(Name="s1", GroupName="g1")
    assert code(gone) == "ResourceNotFoundException"
    clock.sleep(3600)
    assert session.client("dynamodb").list_tables()["TableNames"] == ["t1"]  # its schedule never ran

"""ec2.ingress: opens one rule, adopts a rule that was there, revokes only its own."""

import boto3
import pytest
from harness import make_runner, playbook_from
from moto import mock_aws

from ops.aws import Aws
from ops.clock import VirtualClock
from ops.engine.runner import teardown
from ops.engine.state import RunState

PLAYBOOK = """\
name: ingress-test
vars:
  target: ""
  source: ""
steps:
  - name: ingress
    type: ec2.ingress
    with:
      group_id: ${{ vars.target }}
      port: 6379
      source_group_id: ${{ vars.source }}
"""


@pytest.fixture
def account():
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        ec2 = session.client("ec2")
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        target = ec2.create_security_group(GroupName="cache", Description="d", VpcId=vpc)["GroupId"]
        source = ec2.create_security_group(GroupName="client", Description="d", VpcId=vpc)["GroupId"]
        yield Aws(session, "us-east-1", VirtualClock(), dry_run=True), ec2, target, source


def inbound(ec2, group):
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]
    return [r for r in rules if not r["IsEgress"]]


def test_opens_the_port_to_the_source_group_only_and_revokes_it(account, tmp_path):
    aws, ec2, target, source = account
    runner = make_runner(playbook_from(PLAYBOOK, {"target": target, "source": source}), aws, tmp_path)
    outputs = runner.apply()
    rules = inbound(ec2, target)
    assert len(rules) == 1
    rule = rules[0]
    assert rule["SecurityGroupRuleId"] == outputs["ingress"]["rule_id"]
    assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (6379, 6379, "tcp")
    assert rule["ReferencedGroupInfo"]["GroupId"] == source
    assert "CidrIpv4" not in rule
    assert {"Key": "ops:run", "Value": runner.state.run_id} in rule["Tags"]

    fresh = RunState.load(runner.state.path)  # teardown needs only the record
    assert teardown(fresh, aws, aws.clock, runner.reporter, runner.settings, "ingress-test") == []
    assert inbound(ec2, target) == []
    assert RunState.load(runner.state.path).live() == []


def test_a_rule_that_was_already_there_is_used_but_never_removed(account, tmp_path):
    aws, ec2, target, source = account
    ec2.authorize_security_group_ingress(
        GroupId=target,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379, "UserIdGroupPairs": [{"GroupId": source}]}
        ],
    )
    before = inbound(ec2, target)
    runner = make_runner(playbook_from(PLAYBOOK, {"target": target, "source": source}), aws, tmp_path)
    runner.apply()
    [resource] = runner.state.live()
    assert resource.ours is False and resource.status == "adopted"
    teardown(runner.state, aws, aws.clock, runner.reporter, runner.settings, "ingress-test")
    assert inbound(ec2, target) == before


def test_other_rules_on_the_group_survive_teardown(account, tmp_path):
    aws, ec2, target, source = account
    ec2.authorize_security_group_ingress(
        GroupId=target,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
    )
    runner = make_runner(playbook_from(PLAYBOOK, {"target": target, "source": source}), aws, tmp_path)
    runner.apply()
    assert len(inbound(ec2, target)) == 2
    teardown(runner.state, aws, aws.clock, runner.reporter, runner.settings, "ingress-test")
    assert [r["FromPort"] for r in inbound(ec2, target)] == [22]


def test_teardown_twice_is_harmless(account, tmp_path):
    aws, ec2, target, source = account
    runner = make_runner(playbook_from(PLAYBOOK, {"target": target, "source": source}), aws, tmp_path)
    runner.apply()
    teardown(runner.state, aws, aws.clock, runner.reporter, runner.settings, "ingress-test")
    assert teardown(runner.state, aws, aws.clock, runner.reporter, runner.settings, "ingress-test") == []
    assert runner.state.to_delete() == []

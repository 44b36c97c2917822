"""`ops doctor` against the simulated account: healthy, and each problem it detects."""

from pathlib import Path

from boto3.session import Session
from botocore.exceptions import EndpointConnectionError
from click.testing import CliRunner
from harness import error_response, ok_response

from ops.aws import Aws
from ops.cli import cli
from ops.commands.doctor import diagnose, verdict
from ops.engine.playbook import load_playbook

LAB = Path(__file__).resolve().parent.parent / "playbooks" / "lab.yaml"


def doctor(world, *answers, overrides=None):
    """Run the checks with some AWS answers replaced: (event name, handler) pairs."""
    session = world.session()
    for event, handler in answers:
        session.events.register_first(event, handler)  # before the simulator answers
    findings = diagnose(Aws(session, world.region, world.clock, dry_run=True), load_playbook(LAB, overrides))
    return findings, verdict(findings)


def problems(findings):
    return [f.text for f in findings if f.level == "problem"]


def test_a_healthy_account_is_ready():
    result = CliRunner().invoke(cli, ["doctor", str(LAB), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "Ready."
    assert "[ok] credentials work" in result.output and "[ok] the account can use Cloud9." in result.output


def test_cloud9_closed_to_this_account(world):
    closed = (
        "before-call.cloud9.ListEnvironments",
        lambda **_: error_response("AccessDeniedException", "This account does not have access to the Cloud9 service"),
    )
    findings, last = doctor(world, closed)
    assert any("closed to new customers" in p and "EC2 client host" in p for p in problems(findings))
    assert last.startswith("Not ready. Fix first:")


def test_no_default_vpc(world):
    ec2 = world.session().client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    for gateway in ec2.describe_internet_gateways()["InternetGateways"]:
        ec2.detach_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"], VpcId=vpc)
        ec2.delete_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"])
    ec2.delete_vpc(VpcId=vpc)
    findings, _ = doctor(world)
    assert any("no default VPC" in p and "create-default-vpc" in p for p in problems(findings))
    assert any("no default subnets" in p for p in problems(findings))


def test_missing_permissions_name_the_actions_and_the_fix(world):
    def simulate(params, **_):
        return ok_response(
            {
                "EvaluationResults": [
                    {
                        "EvalActionName": "elasticache:CreateCacheCluster",
                        "EvalResourceName": "*",
                        "EvalDecision": "implicitDeny",
                    }
                ]
            }
        )

    findings, _ = doctor(world, ("before-call.iam.SimulatePrincipalPolicy", simulate))
    assert any("elasticache:CreateCacheCluster" in p and "ops iam-policy" in p for p in problems(findings))


def test_a_node_type_not_offered_in_the_region(world):
    none = (
        "before-call.elasticache.DescribeReservedCacheNodesOfferings",
        lambda **_: ok_response({"ReservedCacheNodesOfferings": []}),
    )
    findings, _ = doctor(world, none, overrides={"node_type": "cache.r7g.large"})
    assert any(f.level == "warning" and "cache.r7g.large shows no offerings" in f.text for f in findings)


def test_the_dead_mans_switch_needs_eventbridge_scheduler_in_the_region(world, monkeypatch):
    findings, _ = doctor(world)
    assert any(f.level == "ok" and "EventBridge Scheduler answers in" in f.text for f in findings)

    def unreachable(**_):
        raise EndpointConnectionError(endpoint_url="https://scheduler.us-east-1.amazonaws.com/")

    findings, last = doctor(world, ("before-send.scheduler.ListScheduleGroups", unreachable))
    [problem] = [p for p in problems(findings) if "EventBridge Scheduler" in p]
    assert "did not answer" in problem and "--ttl none" in problem and last.startswith("Not ready")

    monkeypatch.setattr(Session, "get_available_regions", lambda self, service, partition_name="aws": [])
    findings, _ = doctor(world)
    assert any("botocore lists no endpoint there" in p for p in problems(findings))


def test_a_previous_generation_node_type_is_flagged(world):
    findings, _ = doctor(world, overrides={"node_type": "cache.t2.micro"})
    assert any(f.level == "warning" and "previous-generation" in f.text for f in findings)


def test_no_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 2 and "no AWS credentials" in result.output


def test_a_full_node_quota_is_a_problem(world):
    world.session().client("elasticache").create_cache_cluster(
        CacheClusterId="existing", Engine="redis", CacheNodeType="cache.t3.micro", NumCacheNodes=1
    )
    quota = (
        "before-call.service-quotas.ListServiceQuotas",
        lambda **_: ok_response(
            {
                "Quotas": [
                    {"ServiceCode": "elasticache", "QuotaCode": "L-TEST", "QuotaName": "Nodes per Region", "Value": 1.0}
                ]
            }
        ),
    )
    findings, last = doctor(world, quota)
    assert any("1 in use + 1 for the lab > the quota of 1" in p for p in problems(findings))
    assert "Service Quotas" in last


def test_a_quota_with_room_is_fine(world):
    quota = (
        "before-call.service-quotas.ListServiceQuotas",
        lambda **_: ok_response(
            {
                "Quotas": [
                    {
                        "ServiceCode": "elasticache",
                        "QuotaCode": "L-TEST",
                        "QuotaName": "Nodes per Region",
                        "Value": 300.0,
                    }
                ]
            }
        ),
    )
    findings, _ = doctor(world, quota)
    assert any(f.level == "ok" and "within the quota of 300" in f.text for f in findings)


def test_the_state_bucket_is_checked_when_records_are_kept_in_s3(world):
    from ops.engine.records import parse_location

    location = parse_location("s3://team-ops-state/labs")
    aws = Aws(world.session(), world.region, world.clock)  # as on AWS: a missing bucket is a problem
    findings = diagnose(aws, load_playbook(LAB), location)
    assert any(
        "records in s3://team-ops-state/labs: the state bucket 'team-ops-state' does not exist" in p
        and "aws s3 mb" in p
        for p in problems(findings)
    )
    assert "s3:PutObject" in _simulated_actions(world, aws, location)
    aws.client("s3").create_bucket(Bucket="team-ops-state")
    findings = diagnose(aws, load_playbook(LAB), location)
    assert "[ok] records in s3://team-ops-state/labs: the bucket answers; 0 lab record(s) there." in [
        f"[{f.level}] {f.text}" for f in findings
    ]


def test_doctor_dry_run_with_state_says_the_bucket_is_made_on_first_use():
    result = CliRunner().invoke(cli, ["doctor", str(LAB), "--dry-run", "--state", "s3://team-ops-state/labs"])
    assert result.exit_code == 0, result.output
    assert "[note] records in s3://team-ops-state/labs: dry runs make this bucket" in result.output


def _simulated_actions(world, aws, location):
    """The actions the doctor asks the IAM policy simulator about."""
    asked = []
    session = aws.session

    def record(params, **_):
        asked.extend(params["ActionNames"])

    session.events.register("provide-client-params.iam.SimulatePrincipalPolicy", record)
    # the simulated account has no policy simulator: answer each request (one per statement)
    session.events.register_first(
        "before-call.iam.SimulatePrincipalPolicy", lambda **_: ok_response({"EvaluationResults": []})
    )
    aws._clients.clear()
    diagnose(aws, load_playbook(LAB), location)
    return asked

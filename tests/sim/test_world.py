import json
import re

import botocore.config
import pytest

from ops.sim.world import DEFAULT_DURATIONS, SimulatorStopped, SimWorld

from .conftest import SSM_ROLE_POLICY

SERVICES = ("ec2", "elasticache", "cloud9", "ssm", "dynamodb", "iam", "sts")


@pytest.fixture
def hostile_environment(monkeypatch, tmp_path):
    """Everything a developer's shell might carry that could redirect or break a dry run."""
    config = tmp_path / "config"
    config.write_text("[default]\nregion = eu-west-3\nendpoint_url = http://10.9.9.9:1\n")
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = AKIAFROMFILE\naws_secret_access_key = fromfile\n")
    for name, value in {
        "AWS_PROFILE": "missing",
        "AWS_DEFAULT_PROFILE": "missing",
        "AWS_ENDPOINT_URL": "http://10.9.9.9:1",
        "AWS_ENDPOINT_URL_ELASTICACHE": "http://10.9.9.9:2",
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_REGION": "eu-west-3",
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_ACCESS_KEY_ID": "AKIAREALLOOKINGKEY",
        "AWS_SECRET_ACCESS_KEY": "real-looking-secret",
        "AWS_USE_FIPS_ENDPOINT": "true",
        "AWS_DATA_PATH": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)


def test_sessions_ignore_the_users_aws_environment(hostile_environment, clock):
    with SimWorld(clock) as world:
        session = world.session()
        assert session.region_name == "us-east-1"
        assert session.get_credentials().access_key == "testing"
        for service in SERVICES:
            client = session.client(service, config=botocore.config.Config(retries={"mode": "standard"}))
            assert client.meta.endpoint_url.endswith(".amazonaws.com"), service
            assert "10.9.9.9" not in client.meta.endpoint_url and "fips" not in client.meta.endpoint_url
        assert session.client("ec2").describe_vpcs()["Vpcs"]
        assert session.client("elasticache").describe_cache_clusters()["CacheClusters"] == []
        assert session.client("cloud9").list_environments()["environmentIds"] == []
        assert session.client("sts").get_caller_identity()["Account"] == "123456789012"


def test_requests_never_leave_the_machine(clock):
    with SimWorld(clock) as world:
        elsewhere = world.session().client("ec2", endpoint_url="http://10.9.9.9:1")
        with pytest.raises(SimulatorStopped, match="10.9.9.9"):
            elsewhere.describe_vpcs()
        late = world.session().client("ec2")
    with pytest.raises(SimulatorStopped):
        late.describe_vpcs()
    with pytest.raises(SimulatorStopped):
        world.session()


def test_durations_are_overridable_but_not_misspellable(clock):
    world = SimWorld(clock, durations={"elasticache.create": 60})
    assert world.durations["elasticache.create"] == 60
    assert world.durations["cloud9.create"] == DEFAULT_DURATIONS["cloud9.create"]
    with pytest.raises(ValueError, match="elasticache.craete"):
        SimWorld(clock, durations={"elasticache.craete": 60})


def test_simulated_state_is_plain_json(world, session, clock, ready_cloud9, available_cluster):
    session.client("ssm").send_command(
        InstanceIds=[ready_cloud9[1]["InstanceId"]],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["true"]},
    )
    data = world.store.data
    assert json.loads(json.dumps(data)) == data
    assert set(data) >= {"cloud9", "elasticache", "ssm", "ec2"}


@pytest.mark.managed_policies
def test_aws_managed_policies_exist_as_in_a_real_account(world, session):
    iam = session.client("iam")
    iam.create_role(RoleName="AWSCloud9SSMAccessRole", Path="/service-role/", AssumeRolePolicyDocument="{}")
    world.clock.sleep(world.durations["iam.consistency"])  # IAM shows a new role a moment later
    for name in ("AWSCloud9SSMInstanceProfile", "AmazonSSMManagedInstanceCore"):
        iam.attach_role_policy(RoleName="AWSCloud9SSMAccessRole", PolicyArn=f"arn:aws:iam::aws:policy/{name}")
    attached = iam.list_attached_role_policies(RoleName="AWSCloud9SSMAccessRole")["AttachedPolicies"]
    assert {p["PolicyName"] for p in attached} == {"AWSCloud9SSMInstanceProfile", "AmazonSSMManagedInstanceCore"}


def test_only_calls_that_a_fake_alone_answers_go_unsigned(world, session):
    """Nothing checks the signature of a call only a fake answers (Cloud9, ElastiCache, SSM
    Run Command, Scheduler), so it is not signed; a call moto answers (or a fake may hand to
    moto) is signed, as moto and the account's server read and check it."""
    signed = {}

    def note(request, operation_name, **_):
        signed[operation_name] = "Authorization" in request.headers

    clients = {service: session.client(service) for service in ("cloud9", "elasticache", "ssm", "ec2", "dynamodb")}
    for client in clients.values():
        client.meta.events.register_last("request-created", note)
    clients["cloud9"].list_environments()
    clients["elasticache"].describe_cache_clusters()
    clients["ssm"].list_commands()
    clients["ssm"].describe_parameters()  # SSM Parameter Store: moto's
    clients["ec2"].describe_vpcs()
    clients["dynamodb"].list_tables()
    assert signed == {
        "ListEnvironments": False,
        "DescribeCacheClusters": False,
        "ListCommands": False,
        "DescribeParameters": True,
        "DescribeVpcs": True,
        "ListTables": True,
    }


def test_an_in_process_world_s_calls_to_moto_carry_what_moto_reads_of_a_signature(world, session):
    """moto's in-process mock reads the access key and the scope of a SigV4 header but checks
    no signature: those calls carry SigV4's headers with a signature left unworked; moto still
    knows who called (an assumed role's keys are the role's)."""
    headers = []

    def note(request, **_):
        headers.append(dict(request.headers))

    iam, sts = session.client("iam"), session.client("sts")
    iam.create_role(RoleName="reader", AssumeRolePolicyDocument=SSM_ROLE_POLICY)
    keys = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/reader", RoleSessionName="student")["Credentials"]
    as_role = session.client(
        "sts",
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
    )
    as_role.meta.events.register_last("request-created", note)
    assert as_role.get_caller_identity()["Arn"] == "arn:aws:sts::123456789012:assumed-role/reader/student"
    sent = {name.lower(): value for name, value in headers[0].items()}
    assert re.fullmatch(
        rf"AWS4-HMAC-SHA256 Credential={keys['AccessKeyId']}/\d{{8}}/us-east-1/sts/aws4_request, "
        r"SignedHeaders=[a-z0-9;-]+, Signature=0{64}",
        sent["authorization"],
    )
    assert sent["x-amz-security-token"] == keys["SessionToken"] and re.fullmatch(r"\d{8}T\d{6}Z", sent["x-amz-date"])


def test_a_fake_that_claims_to_answer_alone_must_answer(world, session, monkeypatch):
    """Its calls went unsigned: handing one to moto would be answered as another account's."""
    monkeypatch.setattr(world.answering[("cloud9", "ListEnvironments")], "list_environments", lambda params: None)
    with pytest.raises(RuntimeError, match="cloud9 fake did not answer ListEnvironments"):
        session.client("cloud9").list_environments()

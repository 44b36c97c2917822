"""moto as the simulator sets it up (ops/sim/moto_setup.py) answers exactly as moto does,
only faster: the same responses with the serializer's aliases cached, the AWS managed
policies in the simulated partition."""

import json
import subprocess
import sys

import boto3
import moto.backends
import pytest
import xmltodict
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import errors, responses, serialize

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
        lambda: iam.create_instance_profile(InstanceProfileName="p"),
        lambda: iam.add_role_to_instance_profile(InstanceProfileName="p", RoleName="r"),
        lambda: iam.get_instance_profile(InstanceProfileName="p"),  # model objects, and a transformer
        lambda: iam.list_roles(),
        lambda: ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, InstanceType="t3.micro"),
        lambda: ec2.describe_instances(),
        lambda: refusal(lambda: iam.get_role(RoleName="nobody")),  # errors: query XML
        lambda: refusal(lambda: ec2.describe_security_groups(GroupIds=["sg-0123456789abcdef0"])),  # EC2's XML
        lambda: refusal(lambda: ddb.describe_table(TableName="none")),  # JSON
    ]


def refusal(call):
    try:
        call()
    except ClientError as exc:
        return {"error": exc.response["Error"], "status": exc.response["ResponseMetadata"]["HTTPStatusCode"]}
    raise AssertionError("not refused")


def comparable(value):
    """Without what differs between any two accounts: dates, and the random ids, ARNs,
    addresses and tokens."""
    random = ("Id", "Arn", "Ip", "Address", "DnsName", "Token")
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if not (hasattr(v, "tzinfo") or k.endswith(random))}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def test_responses_are_those_of_moto_unchanged(monkeypatch):
    fast = answers(lab_calls())
    monkeypatch.setattr(serialize.ResponseSerializer, "get_value", moto_setup._unpatched_get_value)
    monkeypatch.setattr(xmltodict, "_validate_name", moto_setup._unpatched_validate_name)
    monkeypatch.setattr(errors.ErrorLookupFactory, "__init__", moto_setup._unpatched_error_lookup_factory_init)
    monkeypatch.setattr(responses, "method_names_from_class", moto_setup._unpatched_method_names_from_class)
    monkeypatch.setattr(moto.backends, "list_of_moto_modules", moto_setup._unpatched_list_of_moto_modules)
    monkeypatch.setattr(moto_setup, "configure", lambda managed: {"iam": {"load_aws_managed_policies": managed}})
    plain = answers(lab_calls())
    assert comparable(fast) == comparable(plain)
    assert fast[1]["Count"] > 1 and fast[1]["Items"][0]["PK"] == {"S": "RESTAURANT#The Vineyard"}
    assert [answer["error"]["Code"] for answer in fast[-3:]] == [
        "NoSuchEntity",
        "InvalidGroup.NotFound",
        "ResourceNotFoundException",
    ]


def test_what_moto_would_list_again_for_each_request_is_listed_once_and_the_same():
    moto_setup.configure(False)
    assert moto.backends.list_of_moto_modules() == tuple(moto_setup._unpatched_list_of_moto_modules())
    assert "ec2" in moto.backends.list_of_moto_modules()
    from moto.ec2.responses import EC2Response

    names = responses.method_names_from_class(EC2Response)
    assert names == set(moto_setup._unpatched_method_names_from_class(EC2Response)) and "run_instances" in names
    assert responses.method_names_from_class(EC2Response) is names  # once per class
    assert errors.ErrorLookupFactory()._error_lut_cache is errors.ErrorLookupFactory()._error_lut_cache


def test_a_warm_server_process_keeps_the_apps_it_made_but_no_account():
    """preload (a forkserver's) makes each backend's app on a throwaway account, then drops
    every backend: a forked server starts from an empty account."""
    script = (
        "import json; from moto.backends import get_backend; from ops.sim import moto_setup as m; m.preload();"
        "print(json.dumps({'accounts': {n: list(get_backend(n)) for n in m.BACKENDS}, 'apps': sorted(m._BACKEND_APPS),"
        "'same': all(m.backend_app(n) is m._BACKEND_APPS[n] for n in m.BACKENDS)}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found == {
        "accounts": {name: [] for name in moto_setup.BACKENDS},
        "apps": sorted(moto_setup.BACKENDS),
        "same": True,
    }


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


def test_a_request_is_applied_whole_before_the_next_as_aws_applies_it(monkeypatch):
    """moto checks a name is free, then stores it; with the check and the store held apart
    (a slow id, here), eight threads creating one instance profile must still see exactly
    one success and seven EntityAlreadyExists, as on AWS."""
    import threading
    import time

    import moto.iam.models as iam_models

    slow_id = iam_models.random_resource_id

    def random_resource_id(*args, **kwargs):
        time.sleep(0.05)  # between moto's "is the name free?" and "store it"
        return slow_id(*args, **kwargs)

    monkeypatch.setattr(iam_models, "random_resource_id", random_resource_id)
    outcomes = []
    with mock_aws(config=moto_setup.configure(False)):
        iam = boto3.client("iam", region_name="us-east-1")
        start = threading.Barrier(8)

        def create():
            start.wait()
            try:
                iam.create_instance_profile(InstanceProfileName="shared")
                outcomes.append("created")
            except iam.exceptions.EntityAlreadyExistsException:
                outcomes.append("exists")

        threads = [threading.Thread(target=create) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(outcomes) == ["created"] + ["exists"] * 7


def test_the_server_hands_moto_one_request_at_a_time(monkeypatch):
    """The persistent account's server holds moto_setup's lock around each moto request."""
    import io
    import threading

    from ops.sim import server

    inside, most = [0], [0]
    guard = threading.Lock()

    def moto_app(environ, start_response):
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        threading.Event().wait(0.02)
        with guard:
            inside[0] -= 1
        return [b""]

    monkeypatch.setattr(server, "refusal", lambda *args: None)  # every request signed well, for this test
    app = server._App(moto_app, gates=None, keys=None, request_lock=moto_setup.REQUEST_LOCK)
    request = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO()}
    threads = [threading.Thread(target=app, args=(dict(request), lambda *a: None)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1


@pytest.mark.managed_policies
def test_accounts_share_each_managed_policy_until_one_attaches_it():
    """Every account of the process holds the same AWS managed policies, built once; an
    account that attaches one gets a copy of its own first, where its attachments count, and
    no other account sees them. Nothing changes a shared policy in place."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    with mock_aws(config=moto_setup.configure(True)):
        iam = boto3.client("iam", region_name="us-east-1")  # the default account's
        other = iam_backends["222222222222"]["aws"]
        shared = other.managed_policies[arn]
        assert iam_backends[DEFAULT_ACCOUNT_ID]["aws"].managed_policies[arn] is shared
        for role in ("lab", "lab2"):
            iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")
            iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 2
        mine = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
        own = mine.managed_policies[arn]
        assert own is not shared and own.account_id == DEFAULT_ACCOUNT_ID and own.attachment_count == 2
        held = [policy for policy in mine.aws_managed_policies if policy.arn == arn]  # (moto's == is by ARN)
        assert held == [own] and held[0] is own
        assert other.managed_policies[arn] is shared and shared.attachment_count == 0
        assert own.versions[0] is not shared.versions[0] and own.versions[0].document == shared.versions[0].document
        with pytest.raises(AttributeError):
            shared.attachment_count = 1
        with pytest.raises(AttributeError):
            shared.versions[0].is_default = False
        with pytest.raises(TypeError):
            shared.tags["team"] = "ops"
        for role in ("lab", "lab2"):
            iam.detach_role_policy(RoleName=role, PolicyArn=arn)
        assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0


def test_managed_policies_answer_as_moto_s_own(monkeypatch):
    """The accounts' copies (their ARNs worked out once) answer attach, detach, get and list
    as the policies moto builds for each account."""
    arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    role = '{"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'

    def story():
        with mock_aws(config=moto_setup.configure(True)):
            iam = boto3.client("iam", region_name="us-east-1")
            iam.create_role(RoleName="r", AssumeRolePolicyDocument=role)
            iam.attach_role_policy(RoleName="r", PolicyArn=arn)
            told = [iam.list_attached_role_policies(RoleName="r"), iam.get_policy(PolicyArn=arn)]
            told += [
                iam.list_policies(Scope="Local"),
                iam.list_policies(OnlyAttached=True),
                iam.get_account_authorization_details(Filter=["LocalManagedPolicy"]),
            ]
            iam.detach_role_policy(RoleName="r", PolicyArn=arn)
            told += [iam.get_policy(PolicyArn=arn), iam.list_policies(Scope="AWS", MaxItems=50)]
            told.append(refusal(lambda: iam.attach_role_policy(RoleName="r", PolicyArn=arn + "Nope")))
            return comparable([{k: v for k, v in answer.items() if k != "ResponseMetadata"} for answer in told])

    ours = story()
    monkeypatch.setattr(moto_setup, "_managed_policies_of_the_simulated_partition", _moto_s_own_policies)
    assert story() == ours
    assert ours[1]["Policy"]["AttachmentCount"] == 1 and ours[5]["Policy"]["AttachmentCount"] == 0
    assert ours[2]["Policies"] == [] and [p["PolicyName"] for p in ours[3]["Policies"]] == [arn.rsplit("/", 1)[1]]


def _moto_s_own_policies(backend):
    from moto.iam.models import AWSManagedPolicy, aws_managed_policies_data

    return [
        AWSManagedPolicy.from_data(name, backend.account_id, backend.region_name, document)
        for name, document in json.loads(aws_managed_policies_data).items()
    ]


def test_every_account_lists_the_regions_moto_would_list():
    """moto_setup lists each service's regions once per process instead of once per account:
    the same list as moto's own, for a second account as for the first."""
    from moto.core.base_backend import AccountSpecificBackend

    with mock_aws(config=moto_setup.configure(False)):
        for account in ("111111111111", "222222222222"):
            backend = AccountSpecificBackend("ec2", account, object, use_boto3_regions=True, additional_regions=None)
            expected = moto_setup._unpatched_generate_regions.__wrapped__(backend, "ec2")
            assert backend.regions == expected and {"us-east-1", "eu-west-1", "cn-north-1"} <= set(expected)

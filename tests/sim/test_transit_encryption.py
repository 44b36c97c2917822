"""In-transit encryption and AUTH tokens in the simulated ElastiCache: AWS's validation of
CreateReplicationGroup, what describe reports, and an endpoint that speaks only TLS and
answers like a Redis with requirepass; the `aws` command a simulated instance runs to read
its token, refused unless the instance's role may read the parameter."""

import json
import socket
import ssl

import pytest
import redis

from ops.sim.network import NOAUTH, WRONGPASS
from ops.steps.redis_ping import ping_script

from .conftest import cloud9_instance, create_ssm_environment
from .test_ssm import allow_redis_from, run

TOKEN = "s3cret-Token!&#$^<>0123456789"


def create_group(session, **extra):
    """A replication group in ElastiCache's `default` subnet group, named (as in-transit encryption needs)."""
    return session.client("elasticache").create_replication_group(
        ReplicationGroupId="secure",
        ReplicationGroupDescription="lab",
        Engine="valkey",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=1,
        CacheSubnetGroupName="default",
        **extra,
    )


def available_group(world, session, clock, **extra):
    create_group(session, **extra)
    clock.sleep(world.durations["elasticache.replication_group.create"])
    return session.client("elasticache").describe_replication_groups(ReplicationGroupId="secure")["ReplicationGroups"][
        0
    ]


def error_of(call):
    with pytest.raises(Exception) as caught:
        call()
    return caught.value.response["Error"]


def test_auth_token_needs_transit_encryption(session):
    error = error_of(lambda: create_group(session, AuthToken=TOKEN))
    assert error["Code"] == "InvalidParameterValue"
    assert "only supported when encryption-in-transit is enabled" in error["Message"]
    assert TOKEN not in error["Message"]


@pytest.mark.parametrize(
    "token",
    [
        "short-123",
        "x" * 129,
        "has space in it 1234",
        "slash/not-allowed-1234",
        'quote"not-allowed-1234',
        "at@not-allowed-12345",
        "ünïcode-not-ascii-1234",
    ],
)
def test_bad_tokens_are_refused_without_echoing_them(session, token):
    error = error_of(lambda: create_group(session, TransitEncryptionEnabled=True, AuthToken=token))
    assert error == {**error, "Code": "InvalidParameterValue", "Message": "Invalid AuthToken provided."}
    assert token not in json.dumps(error)


def test_transit_encryption_on_a_redis_cache_cluster_is_refused(session):
    error = error_of(
        lambda: session.client("elasticache").create_cache_cluster(
            CacheClusterId="plain",
            Engine="redis",
            CacheNodeType="cache.t3.micro",
            NumCacheNodes=1,
            TransitEncryptionEnabled=True,
        )
    )
    assert error["Code"] == "InvalidParameterCombination" and "CreateReplicationGroup" in error["Message"]


def test_describe_reports_encryption_on_group_and_member(world, session, clock):
    group = available_group(world, session, clock, TransitEncryptionEnabled=True, AuthToken=TOKEN)
    assert (group["TransitEncryptionEnabled"], group["AuthTokenEnabled"]) == (True, True)
    assert group["TransitEncryptionMode"] == "required"
    member = session.client("elasticache").describe_cache_clusters(CacheClusterId=group["MemberClusters"][0])[
        "CacheClusters"
    ][0]
    assert (member["TransitEncryptionEnabled"], member["AuthTokenEnabled"]) == (True, True)
    assert TOKEN not in json.dumps(group, default=str) + json.dumps(member, default=str)


def _tls_socket(world, port):
    context = ssl.create_default_context(cafile=world.ca_file)
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="127.0.0.1")


def test_the_endpoint_speaks_tls_with_the_accounts_ca_and_requires_the_token(world, session, clock):
    endpoint = available_group(world, session, clock, TransitEncryptionEnabled=True, AuthToken=TOKEN)["NodeGroups"][0][
        "PrimaryEndpoint"
    ]
    port = endpoint["Port"]
    with _tls_socket(world, port) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(100) == NOAUTH
        s.sendall(b"*2\r\n$4\r\nAUTH\r\n$9\r\nwrong-one\r\n")
        assert s.recv(100) == WRONGPASS
        s.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n*1\r\n$4\r\nPING\r\n" % (len(TOKEN), TOKEN.encode()))
        replies = b""
        while replies.count(b"\r\n") < 2:
            replies += s.recv(100)
        assert replies == b"+OK\r\n+PONG\r\n"
    # redis-py as the demo uses it: rediss:// with the password, verifying against the CA
    client = redis.Redis.from_url(f"rediss://127.0.0.1:{port}/0", password=TOKEN, ssl_ca_certs=world.ca_file)
    assert client.set("k", "v") and client.get("k") == b"v"
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(f"rediss://127.0.0.1:{port}/0", password="x" * 20, ssl_ca_certs=world.ca_file).ping()
    # plain text gets no Redis at all
    with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
        plain.sendall(b"PING\r\n")
        try:
            answer = plain.recv(100)
        except ConnectionResetError:
            answer = b""
        assert answer == b""
    # a client that does not trust the account's CA refuses the endpoint
    with pytest.raises(ssl.SSLCertVerificationError):
        ssl.create_default_context().wrap_socket(
            socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="127.0.0.1"
        )


def test_tls_without_a_token_needs_no_auth(world, session, clock):
    port = available_group(world, session, clock, TransitEncryptionEnabled=True)["NodeGroups"][0]["PrimaryEndpoint"][
        "Port"
    ]
    with _tls_socket(world, port) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert s.recv(100) == b"+PONG\r\n"


READ = "aws ssm get-parameter --name /lab/token --with-decryption --query Parameter.Value --output text"


@pytest.mark.managed_policies
def test_the_instance_reads_a_parameter_only_when_its_role_may(world, session, clock):
    session.client("ssm").put_parameter(Name="/lab/token", Value=TOKEN, Type="SecureString")
    env_id = create_ssm_environment(world)
    clock.sleep(world.durations["cloud9.create"])
    instance_id = cloud9_instance(session, env_id)["InstanceId"]

    refused = run(world, session, clock, instance_id, READ)
    assert refused["Status"] == "Failed" and refused["ResponseCode"] == 254
    assert "AccessDeniedException" in refused["StandardErrorContent"]
    assert "AWSCloud9SSMAccessRole" in refused["StandardErrorContent"] and TOKEN not in refused["StandardErrorContent"]

    iam = session.client("iam")
    arn = "arn:aws:ssm:us-east-1:123456789012:parameter/lab/token"
    iam.put_role_policy(
        RoleName="AWSCloud9SSMAccessRole",
        PolicyName="token",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": arn}]}
        ),
    )
    allowed = run(world, session, clock, instance_id, READ)
    assert allowed["Status"] == "Success" and allowed["StandardOutputContent"] == TOKEN + "\n"

    other = run(world, session, clock, instance_id, READ.replace("/lab/token", "/lab/other"))
    assert other["ResponseCode"] == 254 and "AccessDeniedException" in other["StandardErrorContent"]

    # AWS's own AmazonSSMManagedInstanceCore allows ssm:GetParameter on every parameter
    iam.delete_role_policy(RoleName="AWSCloud9SSMAccessRole", PolicyName="token")
    iam.attach_role_policy(
        RoleName="AWSCloud9SSMAccessRole", PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    )
    assert run(world, session, clock, instance_id, READ)["StandardOutputContent"] == TOKEN + "\n"
    missing = run(world, session, clock, instance_id, READ.replace("/lab/token", "/lab/none"))
    assert missing["ResponseCode"] == 254 and "ParameterNotFound" in missing["StandardErrorContent"]

    usage = run(world, session, clock, instance_id, "aws s3 ls")
    assert usage["ResponseCode"] == 252


def test_tls_ping_through_ssm_with_openssl(world, session, clock, ready_cloud9):
    _, instance = ready_cloud9
    group = available_group(world, session, clock, TransitEncryptionEnabled=True, AuthToken=TOKEN)
    member = session.client("elasticache").describe_cache_clusters(CacheClusterId=group["MemberClusters"][0])
    allow_redis_from(session, member["CacheClusters"][0], instance)
    port = group["NodeGroups"][0]["PrimaryEndpoint"]["Port"]
    # redis.ping's script without a token parameter: TLS (verified against the account's CA), no AUTH
    script = ping_script("127.0.0.1", port, tls=True, parameter="", attempts=1).text()
    answered = run(world, session, clock, instance["InstanceId"], script)
    assert answered["StandardOutputContent"].split() == ["-NOAUTH", "Authentication", "required."], answered
    # the same with the token in a shell variable, sent with printf, as the step does after reading it
    script = (
        script.replace("set -u", f"set -u\ntoken='{TOKEN}'")
        .replace(
            "printf '*1\\r\\n$4\\r\\nPING\\r\\n'",
            'printf \'*2\\r\\n$4\\r\\nAUTH\\r\\n$%d\\r\\n%s\\r\\n*1\\r\\n$4\\r\\nPING\\r\\n\' "${#token}" "$token"',
        )
        .replace("seq 1 1)", "seq 1 2)")
    )
    answered = run(world, session, clock, instance["InstanceId"], script)
    assert answered["StandardOutputContent"].split() == ["+OK", "+PONG"], answered

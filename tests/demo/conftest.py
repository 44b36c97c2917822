import os
import shutil
import socket

import boto3
import pytest
from harness import VINEYARD
from moto import mock_aws

from ops.demo.cache import redis_from_url
from ops.demo.seed import load_seed
from ops.demo.table import ReviewTable, table_definition
from ops.sim.local_redis import LOOPBACK, start_local_redis

TABLE_NAME = "ops-demo-reviews"

VINEYARD_LINES = VINEYARD  # what the demo prints for The Vineyard


class FixedRandom:
    """Stands in for random.Random: every draw is the same value."""

    def __init__(self, value: float):
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.fixture
def vineyard_lines():
    return list(VINEYARD_LINES)


@pytest.fixture
def fixed_rng():
    return FixedRandom


@pytest.fixture(scope="session", params=["redis-server", "fakeredis"])
def local_redis(request):
    if request.param == "redis-server" and shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    server = start_local_redis(prefer=request.param)
    yield server
    server.stop()


@pytest.fixture
def redis_client(local_redis):
    client = redis_from_url(local_redis.url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def closed_port_url():
    """A loopback URL nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        port = s.getsockname()[1]
    return f"redis://{LOOPBACK}:{port}/0"


def _fake_aws_environment(monkeypatch):
    """Dummy credentials, and none of the user's AWS configuration."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def aws_env(monkeypatch):
    _fake_aws_environment(monkeypatch)


@pytest.fixture(scope="session")
def dynamodb_client():
    """One client for the session, as creating one costs ~0.1 s. Use it through `dynamodb`,
    which activates moto around each test (fake credentials, so it cannot reach real AWS)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _fake_aws_environment(monkeypatch)
        return boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def dynamodb(aws_env, dynamodb_client):
    with mock_aws():
        yield dynamodb_client


@pytest.fixture
def empty_table(dynamodb):
    dynamodb.create_table(TableName=TABLE_NAME, **table_definition())
    return ReviewTable(dynamodb, TABLE_NAME)


@pytest.fixture
def seeded_table(dynamodb, empty_table):
    load_seed(dynamodb, TABLE_NAME)
    return empty_table

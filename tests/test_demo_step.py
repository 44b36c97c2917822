"""The demo as the lab runs it: via `ops demo cache-aside`, and as shipped to a remote host."""

import base64
import io
import os
import subprocess
import sys
import tarfile

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws
from moto.server import ThreadedMotoServer

from ops.cli import cli
from ops.demo.table import table_definition
from ops.sim.local_redis import start_local_redis
from ops.steps.demo import _report_from_text, demo_bundle, remote_script


@pytest.fixture(scope="module")
def redis_url():
    server = start_local_redis()
    yield server.url
    server.stop()


def test_ops_demo_cache_aside_through_the_top_level_cli(redis_url):
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(TableName="reviews", **table_definition())
        result = CliRunner().invoke(
            cli,
            [
                "demo",
                "cache-aside",
                "--redis-url",
                redis_url,
                "--table",
                "reviews",
                "--seed",
                "--reads",
                "5",
                "--region",
                "us-east-1",
            ],
        )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines.index("Using uncached result!") < lines.index("Using cached result!")
    assert _report_from_text(result.output)["hits"] >= 1


def test_the_remote_script_carries_code_but_no_credentials(redis_url, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value")
    script = "\n".join(remote_script(redis_url, "reviews", "us-east-1", "The Vineyard", 50, 900))
    assert "very-secret-value" not in script and "testing" not in script
    assert "AWS_ACCESS_KEY_ID" not in script and "AWS_SECRET" not in script
    assert "python3 -m venv" in script and "-m ops.demo" in script


def test_the_bundle_runs_the_demo_on_its_own(tmp_path, redis_url):
    """Unpacked as on the host, the bundle alone runs the demo against a DynamoDB endpoint."""
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(demo_bundle())), mode="r:gz") as tar:
        tar.extractall(tmp_path)
    assert sorted(p.name for p in (tmp_path / "ops").iterdir()) == ["__init__.py", "demo"]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = {**os.environ, "PYTHONPATH": str(tmp_path), "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
        boto3.client("dynamodb", region_name="us-east-1", endpoint_url=env["AWS_ENDPOINT_URL"]).create_table(
            TableName="reviews", **table_definition()
        )
        where = subprocess.run(
            [sys.executable, "-c", "import ops.demo; print(ops.demo.__file__)"],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=True,
        ).stdout
        assert where.startswith(str(tmp_path))
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ops.demo",
                "--redis-url",
                redis_url,
                "--table",
                "reviews",
                "--region",
                "us-east-1",
                "--seed",
                "--reads",
                "5",
            ],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    report = _report_from_text(done.stdout)
    assert report["misses"] == 1 and report["hits"] >= 6
    assert report["cached_p50_ms"] is not None and report["db_p50_ms"] is not None
